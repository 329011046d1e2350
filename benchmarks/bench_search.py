"""Search beyond the grid, measured end to end (``run_local``, as ``threadx sweep run --local``).

Parts (``--part``, default all), each on seeded synthetic 1-minute bars written to a fresh store:

* **edge** — a planted mean-reverting edge (``threadx.data.synthetic``, seed 1) and a
  212,940-combination grid, swept whole; then ``tpe`` and ``random`` with 5 % of the grid's budget
  for ``--seeds`` seeds: the median best Sharpe against the grid's best (target: tpe >= 95 %),
  and ``nsga2`` on (sharpe, -max_drawdown) with the same budget: the hypervolume of its front
  against the exact grid front's (target >= 90 %; reference point: Sharpe 0, max drawdown 1.0,
  and a second one at the front's nadir, Sharpe 0 and the front's worst drawdown among its
  positive-Sharpe points, which weighs the shape of the front more than its best Sharpe).
  ``--methods`` runs a subset (the grid always).
* **scale** — a 12-parameter space of 5.4e14 combinations: ``sobol`` and ``random`` evaluate
  ``--million`` trials and a 1,048,576-combination grid of the same 12 parameters (4 or 2 values
  each, spread over the space's ranges) runs beside them
  (target: both >= 80 % of the grid's combinations per second); ``tpe`` ``--tpe`` trials and
  ``nsga2`` ``--nsga2`` trials with the time of Optuna's asks and tells beside the kernel's, and
  the cost of one ask along the run (``--tpe 0`` / ``--nsga2 0``: skipped).

``--json`` writes every number. Timings are wall seconds of whole runs on this machine; the ratios
(search vs grid, search vs grid best) are what the targets read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from threadx.data.store import OHLCVStore  # noqa: E402
from threadx.data.synthetic import synthetic_1m  # noqa: E402
from threadx.sweep import run_local, spec_from_dict  # noqa: E402
from threadx.sweep.results import hypervolume, pareto_front  # noqa: E402

EDGE_GRID = {  # 26 x 26 x 3 x 7 x 5 x 3 = 212,940
    "bb_period": {"start": 10, "stop": 60, "step": 2},
    "bb_std": {"start": 1.0, "stop": 3.5, "step": 0.1},
    "atr_period": [7, 14, 21],
    "atr_multiplier": {"start": 1.0, "stop": 4.0, "step": 0.5},
    "max_hold_bars": [5, 10, 20, 30, 60],
    "direction": ["both", "long", "short"],
}
SPACE_12 = {  # 196 x 71 x 46 x 3 x 23 x 2 x 51 x 21 x 21 x 3 x 10 x 9 = 5.4e14
    "bb_period": {"start": 5, "stop": 200, "step": 1},
    "bb_std": {"start": 0.5, "stop": 4.0, "step": 0.05},
    "atr_period": {"start": 5, "stop": 50, "step": 1},
    "atr_method": ["ema", "sma", "wilder"],
    "atr_multiplier": {"start": 0.5, "stop": 6.0, "step": 0.25},
    "trailing_stop": [True, False],
    "max_hold_bars": {"start": 10, "stop": 510, "step": 10},
    "spacing_bars": {"start": 0, "stop": 20, "step": 1},
    "trend_period": {"start": 0, "stop": 200, "step": 10},
    "direction": ["both", "long", "short"],
    "risk_per_trade": {"start": 0.005, "stop": 0.05, "step": 0.005},
    "leverage": {"start": 1.0, "stop": 5.0, "step": 0.5},
}
GRID_1M = {  # 4^8 x 2^4 = 1,048,576 combinations of the same 12 parameters, spread like SPACE_12
    "bb_period": [10, 40, 100, 180],
    "bb_std": [1.0, 1.75, 2.5, 3.5],
    "atr_period": [7, 14, 28, 45],
    "atr_method": ["ema", "wilder"],
    "atr_multiplier": [1.0, 2.0, 3.5, 5.0],
    "trailing_stop": [True, False],
    "max_hold_bars": [20, 100, 250, 480],
    "spacing_bars": [0, 3, 8, 15],
    "trend_period": [0, 20, 80, 160],
    "direction": ["both", "long"],
    "risk_per_trade": [0.005, 0.01, 0.025, 0.05],
    "leverage": [1.0, 3.0],
}
QUICK_EDGE_GRID = {  # --quick: 9 x 5 x 2 x 2 x 3 = 540
    "bb_period": {"start": 10, "stop": 50, "step": 5},
    "bb_std": {"start": 1.0, "stop": 3.0, "step": 0.5},
    "atr_multiplier": [1.0, 2.0],
    "max_hold_bars": [10, 60],
    "direction": ["both", "long", "short"],
}
HV_REFERENCE = (0.0, 1.0)
EDGE_METHODS = ("tpe", "random", "nsga2")  # (sharpe, max_drawdown): no edge, everything lost


def store_with(root: Path, symbol: str, bars: Any) -> OHLCVStore:
    store = OHLCVStore(root)
    store.write(bars, exchange="synth", symbol=symbol, source="bench_search synthetic")
    return store


def sweep(root: Path, symbol: str, name: str, grid: dict, rank: list[str], **search: Any) -> Any:
    d: dict[str, Any] = {
        "name": name,
        "backend": "cpu",
        "data": {"symbols": [symbol], "timeframes": ["1m"], "exchange": "synth"},
        "grid": grid,
        "fixed": {"fee_bps": 0.0},
        "rank": {"by": rank, "top_k": 5},
    }
    if search:
        d["search"] = search
    t0 = time.perf_counter()
    res = run_local(spec_from_dict(d), data_root=root, backend="cpu", memory_budget_gb=8)
    wall = time.perf_counter() - t0
    frame = res.to_frame()
    stats = res.manifest.get("search_stats", {})
    out = {"name": name, "rows": len(frame), "wall_s": wall, "combos_per_s": len(frame) / wall}
    out |= {k: stats[k] for k in ("ask_s", "tell_s", "kernel_s", "prepare_s", "asks") if k in stats}
    out |= {k: stats[k] for k in ("duplicates", "window") if k in stats}
    if stats.get("ask_curve"):
        curve = stats["ask_curve"]
        out["ask_ms_first"] = 1000 * curve[0][1]
        out["ask_ms_last"] = 1000 * curve[-1][1]
        # the cost of an ask along the run (trials evaluated before the batch -> ms per ask)
        step = max(1, len(curve) // 8)
        out["ask_ms_along"] = {int(t): 1000 * sec for t, sec in curve[::step] + curve[-1:]}
    print(
        f"  {name}: {len(frame):,} rows in {wall:.1f} s ({out['combos_per_s']:,.0f}/s)"
        + (
            f"; ask {stats['ask_s']:.1f} s, tell {stats['tell_s']:.1f} s, kernel "
            f"{stats.get('kernel_s', 0):.1f} s, prepare {stats.get('prepare_s', 0):.1f} s"
            if stats
            else ""
        ),
        flush=True,
    )
    return frame, out


def part_edge(
    root: Path,
    bars: int,
    seeds: int,
    space: dict = EDGE_GRID,
    methods: tuple = EDGE_METHODS,
    share: float = 0.05,
) -> dict[str, Any]:
    print(f"edge: planted edge, {bars:,} 1m bars", flush=True)
    store_with(root, "EDGE", synthetic_1m(bars, 1, sigma_rw=2e-4, phi=0.95, sigma_ou=3e-4))
    grid, g = sweep(root, "EDGE", "edge-grid", space, ["sharpe", "-max_drawdown"])
    best = float(grid["sharpe"].max())
    hv_grid = hypervolume(grid, HV_REFERENCE)
    # a second reference that weighs the front's shape, not its best Sharpe: Sharpe 0 and the
    # worst drawdown on the grid's front among its points of positive Sharpe
    front = pareto_front(grid)
    nadir = (0.0, float(front.loc[front["sharpe"] > 0, "max_drawdown"].max()))
    hv_nadir = hypervolume(grid, nadir)
    budget = round(share * len(grid))
    grid_sharpe = grid["sharpe"].to_numpy(dtype=np.float64)
    grid_sharpe = np.sort(grid_sharpe[np.isfinite(grid_sharpe)])
    out: dict[str, Any] = {"grid": g, "grid_best": best, "grid_hv": hv_grid, "budget": budget}
    out["share"] = share
    out |= {"nadir": nadir, "grid_hv_nadir": hv_nadir, "grid_front": len(front)}
    print(f"  grid front: {len(front)} points; nadir reference {nadir}", flush=True)
    for method in methods:
        runs = []
        for seed in range(seeds):
            rank = ["sharpe", "-max_drawdown"] if method == "nsga2" else ["sharpe"]
            frame, r = sweep(
                root, "EDGE", f"edge-{method}", space, rank, method=method, trials=budget,
                seed=seed,
            )  # fmt: skip
            r["best"] = float(frame["sharpe"].max())
            # the best found's place in the whole grid (1: the grid's best); a ratio near 1 is
            # easy where many points are near the best, a rank says how rare the find is
            r["grid_rank"] = (
                int(len(grid_sharpe) - np.searchsorted(grid_sharpe, r["best"], "right")) + 1
            )
            r["hv"] = hypervolume(frame, HV_REFERENCE)
            r["hv_nadir"] = hypervolume(frame, nadir)
            print(
                f"    seed {seed}: best Sharpe {r['best']:.3f} ({r['best'] / best:.3f} of the "
                f"grid's, rank {r['grid_rank']:,} of {len(grid):,}), hypervolume "
                f"{r['hv'] / hv_grid:.3f} of the grid front's "
                f"({r['hv_nadir'] / hv_nadir:.3f} at the nadir reference)",
                flush=True,
            )
            runs.append(r)
        out[method] = runs
        out[f"{method}_median_best_share"] = statistics.median(r["best"] for r in runs) / best
        out[f"{method}_median_grid_rank"] = statistics.median(r["grid_rank"] for r in runs)
        out[f"{method}_median_hv_share"] = statistics.median(r["hv"] for r in runs) / hv_grid
        out[f"{method}_median_hv_nadir_share"] = (
            statistics.median(r["hv_nadir"] for r in runs) / hv_nadir
        )
    return out


def part_scale(
    root: Path, bars: int, million: int, tpe: int, nsga2: int, grid: dict = GRID_1M
) -> dict[str, Any]:
    print(f"scale: 12 parameters (5.4e14), {bars:,} 1m bars", flush=True)
    store_with(root, "NOISE", synthetic_1m(bars, 2, sigma_rw=5e-4))
    out: dict[str, Any] = {}
    _, out["grid"] = sweep(root, "NOISE", "scale-grid", grid, ["sharpe"])
    for method in ("sobol", "random"):
        _, out[method] = sweep(
            root, "NOISE", f"scale-{method}", SPACE_12, ["sharpe"], method=method, trials=million
        )
        out[f"{method}_vs_grid"] = out[method]["combos_per_s"] / out["grid"]["combos_per_s"]
    if tpe:
        _, out["tpe"] = sweep(
            root, "NOISE", "scale-tpe", SPACE_12, ["sharpe"], method="tpe", trials=tpe
        )
    if not nsga2:
        return out
    _, out["nsga2"] = sweep(
        root, "NOISE", "scale-nsga2", SPACE_12, ["sharpe", "-max_drawdown"], method="nsga2",
        trials=nsga2,
    )  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["edge", "scale", "all"], default="all")
    ap.add_argument("--edge-bars", type=int, default=40_000)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", default=",".join(EDGE_METHODS), help="edge: these methods")
    ap.add_argument("--share", type=float, default=0.05, help="edge: the budget, share of grid")
    ap.add_argument("--scale-bars", type=int, default=4_000)
    ap.add_argument("--million", type=int, default=1_048_576, help="sobol/random trials")
    ap.add_argument("--tpe", type=int, default=20_000)
    ap.add_argument("--nsga2", type=int, default=100_000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: the code paths only")
    args = ap.parse_args(argv)
    edge_grid, grid_1m = EDGE_GRID, GRID_1M
    if args.quick:
        edge_grid = QUICK_EDGE_GRID
        halved = ("bb_period", "bb_std", "max_hold_bars")
        grid_1m = {**GRID_1M, **{k: GRID_1M[k][:2] for k in halved}}
        args.edge_bars, args.seeds, args.scale_bars = 3_000, 1, 500  # (grid: 131,072)
        args.million, args.tpe, args.nsga2 = 131_072, 300, 600
    result: dict[str, Any] = {"argv": sys.argv[1:]}
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        if args.part in ("edge", "all"):
            methods = tuple(args.methods.split(","))
            result["edge"] = part_edge(
                Path(tmp) / "edge", args.edge_bars, args.seeds, edge_grid, methods, args.share
            )
        if args.part in ("scale", "all"):
            result["scale"] = part_scale(
                Path(tmp) / "scale", args.scale_bars, args.million, args.tpe, args.nsga2, grid_1m
            )
    summary(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=float))
    return result


def summary(r: dict[str, Any]) -> None:
    print("\nsummary")
    if "edge" in r:
        e = r["edge"]
        for m in (m for m in EDGE_METHODS if m in e):
            bests = ", ".join(f"{x['best']:.2f}" for x in e[m])
            print(
                f"  edge {m}: best Sharpe by seed [{bests}] = median "
                f"{e[f'{m}_median_best_share']:.3f} of the grid's {e['grid_best']:.2f} "
                f"(median rank {e[f'{m}_median_grid_rank']:,.0f} of {e['grid']['rows']:,}); "
                f"hypervolume median {e[f'{m}_median_hv_share']:.3f} of the grid front's "
                f"({e[f'{m}_median_hv_nadir_share']:.3f} at the nadir reference)"
            )
    if "scale" in r:
        s = r["scale"]
        for m in ("sobol", "random"):
            print(f"  scale {m}: {s[f'{m}_vs_grid']:.3f} of the grid's combinations per second")


if __name__ == "__main__":
    main()
