"""One sweep pipeline at kernel speed (issue 12): ``threadx sweep run`` end to end vs the kernel.

    .venv/bin/python benchmarks/bench_pipeline.py [--shapes 1,2,3] [--repeat 3] [--json PATH]
        [--skip-ray] [--skip-vectorbt] [--vbt-combos N] [--skip-cold] [--quick]

Everything is measured in ONE run, side by side, on data and spec TOMLs the script writes into a
temporary data root (synthetic GBM series stored with ``OHLCVStore.write(exchange="synth")``, and
the bundled BTCUSDT sample). Each measurement that needs a clean process runs in a subprocess
(``_harness.py``'s protocol); timed pairs are alternated ``--repeat`` times, best kept.

Shapes (``--quick`` shrinks all of them to a few bars and combinations, for the smoke test):

1. one year of 1m GBM (``gbm_ohlcv(525_960, seed=11)``, symbol GBMA) resampled to 1h = 8,766 bars
   x 215,280 combinations (bb_period 10..100/2, bb_std 1.0..3.5/0.1, atr_period 7/14/21/28,
   atr_multiplier 1.0..3.0/0.5, max_hold_bars 24/72/168, direction both/long/short);
2. 100,000 1m bars (``gbm_ohlcv(100_000, seed=12)``, GBMB) x 1,134 combinations (bb_period
   10..60/10 + 80, bb_std 1.5/2.0/2.5, atr_period 7/14/21, atr_multiplier 1.0..3.5/0.5, direction);
3. the bundled BTCUSDT sample (30,240 1m bars) at 15m = 2,016 bars x 324,000 combinations
   (bb_period 10..108/2, bb_std 1.0..3.25/0.25, atr_period 4, atr_multiplier 6, max_hold_bars 3,
   spacing_bars 0/6/12, direction 3).

Parts (targets of issue 12 printed beside the numbers, PASS/FAIL):

A. **end to end vs kernel**, per shape, in one warm subprocess: ``threadx.cli.main(["--data-root",
   root, "sweep", "run", SPEC, "--local", "--fresh"])`` in-process (stdout/stderr captured, after
   an untimed warm-up run) vs :func:`kernel_only` (``pack`` + ``run_sweep`` over the whole grid
   in one call; ``spec.param_frame()`` and the bars are built before the timer). Ratio =
   kernel / e2e (>= 0.85 shape 1, >= 0.80 shape 2).
B. **through the embedded Ray cluster** (shape 1): submit -> ``completed`` as ``threadx sweep
   run SPEC`` without ``--local`` does it (``ThreadXClient.submit`` + ``wait`` at the CLI's poll
   interval), alternated with :func:`kernel_only` in the same process; ratio kernel / that
   (>= 0.75). The fixed cost of the path is reported apart: cluster start (``connect``), driver
   actor, worker pool (first small sweep minus the same sweep warm), teardown (``close``).
C. **start-up** (subprocesses, wall from start to exit): ``threadx sweep run ONE.toml --local
   --fresh`` on a one-combination spec, warm (best of 3, <= 2 s) and cold (``NUMBA_CACHE_DIR`` =
   an empty folder: the kernels compile); the completed run re-submitted without ``--local``
   (best of 3, <= 3 s; before 715cff4 that started and stopped an embedded cluster, since then
   ``sweep run`` shows a completed run from disk first).
D. **host time per combination** = (e2e - kernel) / combinations, shapes 1 and 3 (<= 5 us).
E. **memory**: each shape's e2e sweep alone in a fresh subprocess, warmed by the one-combination
   spec first (kernels loaded), whose peak RSS is then reset to the current RSS (Linux
   ``/proc/self/clear_refs`` 5) so that ``VmHWM`` after the sweep is the sweep's own peak
   (``ru_maxrss`` of the whole process is kept as ``process_peak_rss_mib``): peak RSS vs the
   pre-flight estimate (``check_memory``), within +-25 %; RSS growth (peak - RSS before the sweep)
   of shape 1 with 1/4 of the combinations (atr_period 7 only) vs all, and 1/4 of the combinations
   at 15m vs 1h: it should grow with combinations, not with bars x combinations.
F. **backtests per minute** end to end, shape 1 (>= 2,000,000).
G. **vs vectorbt** (shape 2): ThreadX end-to-end bar-steps/s vs vectorbt's ``from_signals`` on the
   same bars and grid (``--vbt-combos N``: vectorbt runs a deterministic subset, whole
   bb_periods evenly spaced, and bar-steps/s are compared), alternated with part A's runs
   (>= 150x). vectorbt is a throughput peer only; see bench_cpu_vs_vectorbt.py for what its
   ``from_signals`` cannot express (max_hold_bars, spacing, the ATR trailing rule). A garbage
   collection after each ``from_signals`` call (not counted) keeps its peak RSS near one batch's.

The reference "indicators + kernel" is one function, :func:`kernel_only`: when the library gains
a dedicated prepare / banks step, switch it there and nowhere else.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up

REPO = h.REPO
SCRIPT = Path(__file__).resolve()
DIRECTIONS = ["both", "long", "short"]

# --- targets (issue 12) -------------------------------------------------------------------------
TARGETS = {
    "A1_kernel_over_e2e": (">=", 0.85),
    "A2_kernel_over_e2e": (">=", 0.80),
    "B_kernel_over_ray": (">=", 0.75),
    "C_warm_local_s": ("<=", 2.0),
    "C_resubmit_cluster_s": ("<=", 3.0),
    "D1_host_us_per_combo": ("<=", 5.0),
    "D3_host_us_per_combo": ("<=", 5.0),
    "E_peak_over_estimate": ("within", (0.75, 1.25)),
    "F_backtests_per_min": (">=", 2_000_000.0),
    "G_threadx_over_vectorbt": (">=", 150.0),
}


def verdict(name: str, value: float | None) -> str:
    op, target = TARGETS[name.split(":")[0]]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = {
        ">=": lambda: value >= target,
        "<=": lambda: value <= target,
        "within": lambda: target[0] <= value <= target[1],
    }[op]()
    return "PASS" if ok else "FAIL"


def target_text(name: str) -> str:
    op, target = TARGETS[name.split(":")[0]]
    if op == "within":
        return f"{target[0]:g}..{target[1]:g}"
    return f"{op} {target:,g}"


# --- shapes ---------------------------------------------------------------------------------------
def shapes(quick: bool) -> dict[str, dict[str, Any]]:
    """Per shape: stored series (symbol, 1m bars, seed; None = the bundled sample), timeframe
    and grid (TOML-ready: ranges as {start, stop, step})."""
    if quick:
        g1 = {
            "bb_period": [10, 20],
            "bb_std": [2.0],
            "atr_period": [7, 14, 21, 28],
            "atr_multiplier": [2.0],
            "max_hold_bars": [24],
            "direction": ["both"],
        }
        return {
            "1": {"symbol": "GBMA", "bars_1m": 20_000, "seed": 11, "timeframe": "1h", "grid": g1},
            "2": {
                "symbol": "GBMB",
                "bars_1m": 3_000,
                "seed": 12,
                "timeframe": "1m",
                "grid": {
                    "bb_period": [10, 20],
                    "bb_std": [2.0],
                    "atr_period": [7, 14],
                    "atr_multiplier": [2.0],
                    "direction": DIRECTIONS,
                },
            },
            "3": {
                "symbol": "BTCUSDT",
                "bars_1m": None,
                "seed": None,
                "timeframe": "15m",
                "grid": {
                    "bb_period": [10, 20, 30],
                    "bb_std": [1.5, 2.0],
                    "atr_multiplier": [1.0, 2.0],
                    "direction": ["both", "long"],
                },
            },
        }
    return {
        "1": {
            "symbol": "GBMA",
            "bars_1m": 525_960,
            "seed": 11,
            "timeframe": "1h",
            "grid": {
                "bb_period": {"start": 10, "stop": 100, "step": 2},
                "bb_std": {"start": 1.0, "stop": 3.5, "step": 0.1},
                "atr_period": [7, 14, 21, 28],
                "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0],
                "max_hold_bars": [24, 72, 168],
                "direction": DIRECTIONS,
            },
            "combos": 215_280,
        },
        "2": {
            "symbol": "GBMB",
            "bars_1m": 100_000,
            "seed": 12,
            "timeframe": "1m",
            "grid": {
                "bb_period": [10, 20, 30, 40, 50, 60, 80],
                "bb_std": [1.5, 2.0, 2.5],
                "atr_period": [7, 14, 21],
                "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
                "direction": DIRECTIONS,
            },
            "combos": 1_134,
        },
        "3": {
            "symbol": "BTCUSDT",
            "bars_1m": None,
            "seed": None,
            "timeframe": "15m",
            "grid": {
                "bb_period": {"start": 10, "stop": 108, "step": 2},
                "bb_std": {"start": 1.0, "stop": 3.25, "step": 0.25},
                "atr_period": [7, 14, 21, 28],
                "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
                "max_hold_bars": [24, 72, 168],
                "spacing_bars": [0, 6, 12],
                "direction": DIRECTIONS,
            },
            "combos": 324_000,
        },
    }


def write_spec(path: Path, name: str, symbol: str, timeframe: str, grid: dict[str, Any]) -> Path:
    import tomli_w

    doc = {
        "name": name,
        "backend": "cpu",
        "data": {"symbols": [symbol], "timeframes": [timeframe]},
        "grid": grid,
    }
    path.write_text(tomli_w.dumps(doc))
    return path


def setup_root(root: Path, quick: bool) -> dict[str, Any]:
    """Store the series and write every spec TOML under ``root``; returns the spec paths."""
    from threadx.data.store import OHLCVStore
    from threadx.data.synth import gbm_ohlcv
    from threadx.sample import ensure_sample
    from threadx.sweep import load_spec

    store = OHLCVStore(root / "data")
    ensure_sample(store)
    sh = shapes(quick)
    for s in sh.values():
        if s["bars_1m"] is not None:
            store.write(
                gbm_ohlcv(s["bars_1m"], seed=s["seed"]), exchange="synth", symbol=s["symbol"]
            )
    specs = root / "specs"
    specs.mkdir(exist_ok=True)
    paths: dict[str, Any] = {"data_root": str(root / "data"), "shapes": {}}
    for sid, s in sh.items():
        p = write_spec(
            specs / f"shape{sid}.toml", f"pipe-s{sid}", s["symbol"], s["timeframe"], s["grid"]
        )
        n = load_spec(p).combos_per_dataset()
        if "combos" in s and n != s["combos"]:
            raise SystemExit(
                f"bench_pipeline: shape {sid} has {n:,} combinations, expected {s['combos']:,}"
            )
        paths["shapes"][sid] = str(p)
    quarter = dict(sh["1"]["grid"], atr_period=[7])  # 1/4 of shape 1's combinations
    paths["q1h"] = str(write_spec(specs / "q1h.toml", "pipe-q1h", "GBMA", "1h", quarter))
    paths["q15m"] = str(write_spec(specs / "q15m.toml", "pipe-q15m", "GBMA", "15m", quarter))
    paths["one"] = str(
        write_spec(specs / "one.toml", "pipe-one", "BTCUSDT", "15m", {"bb_period": [20]})
    )
    ray_warm = {
        "bb_period": {"start": 10, "stop": 24, "step": 2},
        "bb_std": [1.5, 2.0, 2.5, 3.0],
        "direction": ["both", "long"],
    }  # 64 combinations: >= 16 tasks, every worker
    paths["ray_warm"] = str(
        write_spec(specs / "ray_warm.toml", "pipe-raywarm", "GBMA", "1h", ray_warm)
    )
    return paths


# --- the two timed paths (run inside the workers) -------------------------------------------------
def kernel_only(spec: Any, ds: Any, params: Any) -> tuple[float, Any]:
    """Indicators + kernel alone over the whole grid in one call: ``pack`` (parameter validation,
    Bollinger / ATR banks, crossing bits) + ``run_sweep`` on the CPU. ``params`` (the grid's
    ``param_frame``) and the bars ``ds`` are built before, untimed. Returns (seconds, output).

    The one place to switch when the library gains a dedicated "prepare indicators" function."""
    from threadx.kernels import run_sweep
    from threadx.strategy.pack import pack

    t0 = time.perf_counter()
    packed = pack(params, ds.open, ds.high, ds.low, ds.close)
    out = run_sweep(
        packed,
        int(ds.times_ns[0]),
        int(ds.times_ns[-1]),
        ds.bar_minutes,
        backend="cpu",
        blocks=spec.report.blocks,
    )
    return time.perf_counter() - t0, out


def cli_quiet(argv: list[str]) -> tuple[float, str]:
    """``threadx.cli.main(argv)`` in this process, stdout and stderr captured; (seconds, stdout)."""
    from threadx.cli import main as threadx_main

    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = threadx_main(argv)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"threadx {' '.join(argv)} exited {rc}: {err.getvalue()[-2000:]}")
    return wall, out.getvalue()


def e2e(data_root: str, spec_path: str) -> dict[str, Any]:
    """What ``threadx sweep run SPEC --local --fresh`` does, in-process: the timed call."""
    wall, text = cli_quiet(
        ["--data-root", data_root, "sweep", "run", spec_path, "--local", "--fresh"]
    )
    return {"e2e_s": wall, **run_manifest(text)}


def run_manifest(cli_stdout: str) -> dict[str, Any]:
    """The run folder printed by the CLI and what its manifest says about the task loop."""
    folder = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in cli_stdout.splitlines()
            if ln.startswith("run folder:")
        ),
        None,
    )
    if folder is None:
        return {}
    try:
        man = json.loads((Path(folder) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {"run_folder": folder}
    return {
        "run_folder": folder,
        "manifest_wall_s": man.get("wall_s"),
        "manifest_status": man.get("status"),
    }


def sweep_fn(name: str) -> Callable[..., Any]:
    """``load_datasets`` / ``check_memory``: in threadx.sweep.plan since the pipeline rework
    (5d3c072), in threadx.sweep.runner before."""
    import importlib

    for mod in ("threadx.sweep.plan", "threadx.sweep.runner"):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"threadx.sweep.plan/runner.{name} not found")


def load_bars(data_root: str, spec_path: str) -> tuple[Any, Any]:
    """The spec and its (only) dataset's bars, as the sweep loads them."""
    from threadx.data.store import OHLCVStore
    from threadx.sweep import load_spec

    spec = load_spec(spec_path)
    return spec, sweep_fn("load_datasets")(spec, OHLCVStore(data_root))[0]


def proc_status_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak since start or since :func:`reset_peak`), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- workers (subprocesses) -----------------------------------------------------------------------
def serve(
    ready: Callable[[], dict[str, Any]],
    handlers: dict[str, Callable[[], dict[str, Any]]],
    on_quit: Callable[[], dict[str, Any]] | None = None,
) -> None:
    """Worker main loop: ``ready()`` once (warm-up), then one answer per command line on stdin."""
    try:
        h.emit({"ready": True, **ready()})
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "quit":
                break
            h.emit(handlers[cmd]())
        h.emit({**(on_quit() if on_quit else {}), "peak_rss_mib": h.peak_rss_mib()})
    except BaseException as exc:  # report anything to the parent, then fail
        import traceback

        h.emit({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        raise SystemExit(1) from None


def worker_pipeline(args: argparse.Namespace) -> None:
    """Part A: the e2e CLI call and kernel_only, on one shape, in one warm process."""
    state: dict[str, Any] = {}

    def ready() -> dict[str, Any]:
        from threadx.kernels import OUT_NAMES

        spec, ds = load_bars(args.data_root, args.spec)
        t0 = time.perf_counter()
        params = spec.param_frame()
        grid_s = time.perf_counter() - t0
        state.update(spec=spec, ds=ds, params=params, col=OUT_NAMES.index("n_trades"))
        warm_e2e = e2e(args.data_root, args.spec)["e2e_s"]
        warm_kernel, _ = kernel_only(spec, ds, params)
        return {
            "bars": ds.n_bars,
            "combos": spec.combos_per_dataset(),
            "param_frame_s": grid_s,
            "warm_e2e_s": warm_e2e,
            "warm_kernel_s": warm_kernel,
        }

    def kernel() -> dict[str, Any]:
        secs, out = kernel_only(state["spec"], state["ds"], state["params"])
        return {"kernel_s": secs, "n_trades_total": int(out[:, state["col"]].sum())}

    serve(ready, {"e2e": lambda: e2e(args.data_root, args.spec), "kernel": kernel})


def worker_ray(args: argparse.Namespace) -> None:
    """Part B: the embedded cluster, started as ``threadx sweep run`` (no --local) starts it."""
    state: dict[str, Any] = {"i": 0}

    def ready() -> dict[str, Any]:
        from actors.access import use_token_if_present

        use_token_if_present()  # as threadx.cli.main does, before Ray is imported
        from actors.client import ThreadXClient
        from threadx.config import apply_overrides, load_config
        from threadx.sweep import load_spec

        spec, ds = load_bars(args.data_root, args.spec)
        params = spec.param_frame()
        state.update(spec=spec, ds=ds, params=params)
        kernel_only(spec, ds, params)  # warm (numba cache)
        cfg = apply_overrides(load_config(None), data_root=args.data_root)
        t0 = time.perf_counter()
        client = ThreadXClient(cfg).connect()
        t1 = time.perf_counter()
        client.call("data_root")  # creates the driver actor (and the data store)
        t2 = time.perf_counter()
        warm = load_spec(args.warm_spec).model_dump(mode="json")
        first = submit_wait(client, dict(warm, name="pipe-raywarm-a"))
        again = submit_wait(client, dict(warm, name="pipe-raywarm-b"))
        state["client"] = client
        return {
            "bars": ds.n_bars,
            "combos": spec.combos_per_dataset(),
            "embedded": client.embedded,
            "start_s": t1 - t0,
            "driver_s": t2 - t1,
            "first_small_sweep_s": first["ray_s"],
            "warm_small_sweep_s": again["ray_s"],
            "workers_s": first["ray_s"] - again["ray_s"],
        }

    def through_ray() -> dict[str, Any]:
        state["i"] += 1
        d = state["spec"].model_dump(mode="json")
        d["name"] = f"{d['name']}-ray{state['i']}"  # a new run id each time: no resume shortcut
        return submit_wait(state["client"], d, report=True)

    def kernel() -> dict[str, Any]:
        return {"kernel_s": kernel_only(state["spec"], state["ds"], state["params"])[0]}

    def teardown() -> dict[str, Any]:
        t0 = time.perf_counter()
        state["client"].close()
        return {"teardown_s": time.perf_counter() - t0}

    serve(ready, {"ray": through_ray, "kernel": kernel}, teardown)


def submit_wait(client: Any, spec_dict: dict[str, Any], report: bool = False) -> dict[str, Any]:
    """``client.submit`` -> ``client.wait`` at its default poll interval (the CLI's); with
    ``report``, then the CLI's ranking and verdict printed from the run folder (captured)."""
    import argparse as ap

    from threadx.cli.sweep import _report
    from threadx.sweep import open_run

    t0 = time.perf_counter()
    rid = client.submit(spec_dict)
    st = client.wait(rid)
    t1 = time.perf_counter()
    if st["state"] != "completed":
        raise RuntimeError(f"run {rid} ended {st['state']}: {st.get('errors')}")
    out: dict[str, Any] = {"ray_s": t1 - t0, "run_id": rid}
    if report:
        with contextlib.redirect_stdout(io.StringIO()):
            res = open_run(Path(client.call("data_root")) / "runs" / rid)
            _report(res, ap.Namespace(top=None, export=None))
        out["report_s"] = time.perf_counter() - t1
        out["manifest_wall_s"] = res.manifest.get("wall_s")
    return out


def worker_rss(args: argparse.Namespace) -> None:
    """Part E: one e2e sweep in a fresh process; peak RSS vs the pre-flight estimate."""

    def ready() -> dict[str, Any]:
        # kernels loaded (numba cache) by a one-combination sweep; then the peak is reset to the
        # current RSS so that VmHWM is the sweep's own peak (ru_maxrss keeps the process's)
        cli_quiet(
            ["--data-root", args.data_root, "sweep", "run", args.warm_spec, "--local", "--fresh"]
        )
        before_peak = h.peak_rss_mib()
        reset = reset_peak()
        before_now = proc_status_mib("VmRSS")
        wall = e2e(args.data_root, args.spec)["e2e_s"]
        sweep_peak = proc_status_mib("VmHWM") if reset else h.peak_rss_mib()
        spec, ds = load_bars(args.data_root, args.spec)
        est = sweep_fn("check_memory")(spec, [ds], budget_gb=1e9) / 2**20
        return {
            "bars": ds.n_bars,
            "combos": spec.combos_per_dataset(),
            "e2e_s": wall,
            "rss_before_mib": before_now,
            "peak_before_mib": before_peak,
            "peak_reset": reset,
            "sweep_peak_rss_mib": sweep_peak,
            "process_peak_rss_mib": h.peak_rss_mib(),
            "growth_mib": sweep_peak - before_now,
            "estimate_mib": est,
            "peak_over_estimate": sweep_peak / est,
            "growth_over_estimate": (sweep_peak - before_now) / est,
        }

    serve(ready, {})


def vbt_subset(grid: dict[str, list[Any]], combos: int) -> list[int]:
    """Whole bb_periods, evenly spaced, covering at least ``combos`` combinations (0 = all)."""
    periods = [int(p) for p in grid["bb_period"]]
    per = math.prod(len(v) for k, v in grid.items() if k != "bb_period")
    k = len(periods) if combos <= 0 else min(len(periods), max(1, -(-combos // per)))
    if k == len(periods):
        return periods
    idx = sorted({round(i * (len(periods) - 1) / max(k - 1, 1)) for i in range(k)})
    return [periods[i] for i in idx]


def worker_vectorbt(args: argparse.Namespace) -> None:
    """Part G: vectorbt's ``from_signals`` on the same bars and grid (shape 2), as a vectorbt user
    writes it (see bench_cpu_vs_vectorbt.py): per bb_period one BBANDS over every bb_std, per
    (bb_period, direction) one ``from_signals`` call whose columns are bb_std x atr_period x
    atr_multiplier; ``sl_stop = atr_multiplier * ATR(atr_period) / close`` per bar, trailing;
    ``size = min(risk / sl_stop, leverage)`` as a percentage; then the 8 metrics."""
    import gc

    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    from threadx.strategy.params import StrategyParams

    spec, ds = load_bars(args.data_root, args.spec)
    g = spec.grid_values()
    d = StrategyParams()
    windows = vbt_subset(g, args.vbt_combos)
    alphas = [float(x) for x in g.get("bb_std", [d.bb_std])]
    atr_periods = [int(x) for x in g.get("atr_period", [d.atr_period])]
    mults = np.asarray(g.get("atr_multiplier", [d.atr_multiplier]), dtype=np.float64)
    directions = list(g.get("direction", [d.direction]))
    idx = pd.DatetimeIndex(ds.times_ns.view("datetime64[ns]"), name="time")  # tz-naive (fast)
    freq = f"{ds.bar_minutes}min"

    def series(n: int) -> tuple[pd.Series, ...]:
        return tuple(
            pd.Series(getattr(ds, c)[:n], index=idx[:n], name=c)
            for c in ("close", "open", "high", "low")
        )

    def sweep(n: int, wins: list[int]) -> dict[str, Any]:
        close, open_, high, low = series(n)
        t_start = time.perf_counter()
        fracs = [
            (vbt.ATR.run(high, low, close, window=p, ewm=True).atr / close).to_numpy()
            for p in atr_periods
        ]
        pair_stop = np.stack([f * m for f in fracs for m in mults], axis=1)  # (bars, p x m)
        keys = pd.RangeIndex(pair_stop.shape[1], name="atr_pair")
        stop = np.repeat(pair_stop, len(alphas), axis=1)  # tile order: pair-major, bb_std inner
        size = np.minimum(d.risk_per_trade / stop, d.leverage)
        stages = {"signals_s": time.perf_counter() - t_start, "simulate_s": 0.0, "metrics_s": 0.0}
        n_trades = cols = calls = 0
        gc_s = 0.0
        for w in wins:
            t0 = time.perf_counter()
            bb = vbt.BBANDS.run(close, window=w, alpha=alphas, param_product=True)
            le, lx = bb.close_crossed_below(bb.lower), bb.close_above(bb.middle)
            se, sx = bb.close_crossed_above(bb.upper), bb.close_below(bb.middle)
            le, lx, se, sx = (s.vbt.tile(pair_stop.shape[1], keys=keys) for s in (le, lx, se, sx))
            stages["signals_s"] += time.perf_counter() - t0
            for direction in directions:
                t1 = time.perf_counter()
                if direction == "both":
                    sig = {
                        "entries": le,
                        "exits": lx,
                        "short_entries": se,
                        "short_exits": sx,
                        "upon_opposite_entry": "ignore",
                    }
                elif direction == "long":
                    sig = {"entries": le, "exits": lx, "direction": "longonly"}
                else:
                    sig = {"entries": se, "exits": sx, "direction": "shortonly"}
                pf = vbt.Portfolio.from_signals(
                    close,
                    open=open_,
                    high=high,
                    low=low,
                    sl_stop=stop,
                    sl_trail=True,
                    size=size,
                    size_type="percent",
                    fees=d.fee_bps / 1e4,
                    slippage=d.slippage_bps / 1e4,
                    init_cash=d.initial_capital,
                    freq=freq,
                    **sig,
                )
                t2 = time.perf_counter()
                trades = pf.trades
                metrics = [
                    pf.total_return(),
                    pf.annualized_volatility(),
                    pf.sharpe_ratio(),
                    pf.sortino_ratio(),
                    pf.max_drawdown(),
                    trades.count(),
                    trades.win_rate(),
                    trades.profit_factor(),
                ]
                t3 = time.perf_counter()
                stages["simulate_s"] += t2 - t1
                stages["metrics_s"] += t3 - t2
                n_trades += int(metrics[5].sum())
                cols += int(le.shape[1])
                calls += 1
                # vectorbt's portfolios hold reference cycles: without a collection here the
                # batches pile up (peak RSS 8-15 GB on the full grid vs ~1.3 GB for 324 combos
                # with it). The collection is not counted against vectorbt.
                t4 = time.perf_counter()
                del pf, trades, metrics
                gc.collect()
                gc_s += time.perf_counter() - t4
        return {
            "total_s": time.perf_counter() - t_start - gc_s,
            **stages,
            "gc_s": gc_s,
            "combos": cols,
            "bars": n,
            "from_signals_calls": calls,
            "n_trades_total": n_trades,
        }

    def ready() -> dict[str, Any]:
        t0 = time.perf_counter()
        sweep(min(ds.n_bars, 3_000), windows[:1])  # numba JIT of vectorbt's functions
        return {
            "warm_s": time.perf_counter() - t0,
            "bb_periods": windows,
            "grid_combos": spec.combos_per_dataset(),
            "vectorbt": vbt.__version__,
            "pandas": pd.__version__,
        }

    serve(ready, {"vbt": lambda: sweep(ds.n_bars, windows)})


WORKERS = {
    "pipeline": worker_pipeline,
    "ray": worker_ray,
    "rss": worker_rss,
    "vectorbt": worker_vectorbt,
}


# --- parent ---------------------------------------------------------------------------------------
class Worker(h.PeerProcess):
    """A worker subprocess answering named commands (``_harness.PeerProcess`` + ``ask``)."""

    def __init__(self, kind: str, argv: list[str]) -> None:
        super().__init__(kind, SCRIPT, argv, threads=None)

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()


def best(runs: list[dict[str, Any]], key: str) -> float:
    return min(r[key] for r in runs)


def part_a(
    paths: dict[str, Any], sid: str, repeat: int, vbt_argv: list[str] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Shape ``sid``: e2e and kernel alternated (and the vectorbt peer, when given)."""
    root, spec = paths["data_root"], paths["shapes"][sid]
    print(f"[A] shape {sid}: warming up ...", file=sys.stderr, flush=True)
    peers: dict[str, Worker] = {}
    try:
        peers["tx"] = Worker("pipeline", ["--data-root", root, "--spec", spec])
        if vbt_argv is not None:
            peers["vbt"] = Worker("vectorbt", ["--data-root", root, "--spec", spec, *vbt_argv])
        runs: dict[str, list[dict[str, Any]]] = {"e2e": [], "kernel": [], "vbt": []}
        for i in range(repeat):
            print(f"[A] shape {sid}: round {i + 1}/{repeat}", file=sys.stderr, flush=True)
            runs["e2e"].append(peers["tx"].ask("e2e"))
            runs["kernel"].append(peers["tx"].ask("kernel"))
            if "vbt" in peers:
                runs["vbt"].append(peers["vbt"].ask("vbt"))
        ready = peers["tx"].ready
        bars, combos = ready["bars"], ready["combos"]
        e2e_s, kern_s = best(runs["e2e"], "e2e_s"), best(runs["kernel"], "kernel_s")
        tx_rss = peers["tx"].close()["peak_rss_mib"]
        a = {
            "bars": bars,
            "combos": combos,
            "bar_steps": bars * combos,
            "e2e_s": e2e_s,
            "kernel_s": kern_s,
            "ratio_kernel_over_e2e": kern_s / e2e_s,
            "e2e_bar_steps_per_s": bars * combos / e2e_s,
            "kernel_bar_steps_per_s": bars * combos / kern_s,
            "host_s": e2e_s - kern_s,
            "host_us_per_combo": (e2e_s - kern_s) / combos * 1e6,
            "backtests_per_min": combos / e2e_s * 60,
            "param_frame_s": ready["param_frame_s"],
            "warm_e2e_s": ready["warm_e2e_s"],
            "warm_kernel_s": ready["warm_kernel_s"],
            "manifest_wall_s": min(
                (r["manifest_wall_s"] for r in runs["e2e"] if r.get("manifest_wall_s")),
                default=None,
            ),
            "n_trades_total": runs["kernel"][-1]["n_trades_total"],
            "all_e2e_s": [r["e2e_s"] for r in runs["e2e"]],
            "all_kernel_s": [r["kernel_s"] for r in runs["kernel"]],
            "worker_peak_rss_mib": tx_rss,
        }
        g = None
        if "vbt" in peers:
            v = min(runs["vbt"], key=lambda r: r["total_s"])
            vr = peers["vbt"].ready
            v_steps = v["bars"] * v["combos"]
            g = {
                "threadx_e2e_bar_steps_per_s": a["e2e_bar_steps_per_s"],
                "vectorbt_s": v["total_s"],
                "vectorbt_bars": v["bars"],
                "vectorbt_combos": v["combos"],
                "vectorbt_bb_periods": vr["bb_periods"],
                "subset": v["combos"] < combos,
                "vectorbt_bar_steps_per_s": v_steps / v["total_s"],
                "ratio_threadx_over_vectorbt": a["e2e_bar_steps_per_s"] / (v_steps / v["total_s"]),
                "vectorbt_stages_s": {k: v[k] for k in ("signals_s", "simulate_s", "metrics_s")},
                "vectorbt_gc_s_not_counted": v["gc_s"],
                "vectorbt_n_trades_total": v["n_trades_total"],
                "vectorbt_from_signals_calls": v["from_signals_calls"],
                "all_vectorbt_s": [r["total_s"] for r in runs["vbt"]],
                "vectorbt_version": vr["vectorbt"],
                "pandas_version": vr["pandas"],
                "vectorbt_peak_rss_mib": peers["vbt"].close()["peak_rss_mib"],
            }
        return a, g
    finally:
        for p in peers.values():
            p.kill()


def part_b(paths: dict[str, Any], repeat: int) -> dict[str, Any]:
    print("[B] embedded Ray cluster: starting ...", file=sys.stderr, flush=True)
    w = Worker(
        "ray",
        [
            "--data-root",
            paths["data_root"],
            "--spec",
            paths["shapes"]["1"],
            "--warm-spec",
            paths["ray_warm"],
        ],
    )
    try:
        ray_runs, kern_runs = [], []
        for i in range(repeat):
            print(f"[B] round {i + 1}/{repeat}", file=sys.stderr, flush=True)
            kern_runs.append(w.ask("kernel"))
            ray_runs.append(w.ask("ray"))
        ready = w.ready
        end = w.close()
    finally:
        w.kill()
    ray_s, kern_s = best(ray_runs, "ray_s"), best(kern_runs, "kernel_s")
    fixed = {k: ready[k] for k in ("start_s", "driver_s", "workers_s")}
    fixed["teardown_s"] = end["teardown_s"]
    steps = ready["bars"] * ready["combos"]
    return {
        "bars": ready["bars"],
        "combos": ready["combos"],
        "embedded": ready["embedded"],
        "ray_s": ray_s,
        "kernel_s": kern_s,
        "ratio_kernel_over_ray": kern_s / ray_s,
        "ray_bar_steps_per_s": steps / ray_s,
        "report_s": min(r["report_s"] for r in ray_runs),
        "ratio_kernel_over_ray_and_report": kern_s / (ray_s + min(r["report_s"] for r in ray_runs)),
        "driver_manifest_wall_s": min(
            (r["manifest_wall_s"] for r in ray_runs if r.get("manifest_wall_s")), default=None
        ),
        "fixed_s": fixed,
        "fixed_total_s": sum(fixed.values()),
        "first_small_sweep_s": ready["first_small_sweep_s"],
        "warm_small_sweep_s": ready["warm_small_sweep_s"],
        "all_ray_s": [r["ray_s"] for r in ray_runs],
        "all_kernel_s": [r["kernel_s"] for r in kern_runs],
        "client_peak_rss_mib": end["peak_rss_mib"],
    }


def threadx_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "threadx"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "threadx.cli"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def timed_cli(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*threadx_cmd(), *argv], capture_output=True, text=True, env=env, cwd=str(REPO)
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"threadx {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]}"
        )
    return wall


def part_c(paths: dict[str, Any], n: int, cold: bool, resubmit: bool) -> dict[str, Any]:
    print("[C] start-up ...", file=sys.stderr, flush=True)
    local = ["--data-root", paths["data_root"], "sweep", "run", paths["one"], "--local", "--fresh"]
    env = child_env()
    timed_cli(local, env)  # untimed: refreshes numba's on-disk cache if the kernels changed
    warm = [timed_cli(local, env) for _ in range(n)]
    out: dict[str, Any] = {
        "command": " ".join(["threadx", *local]),
        "warm_s": min(warm),
        "all_warm_s": warm,
    }
    if cold:
        empty = tempfile.mkdtemp(prefix="threadx-bench-numba-")
        try:
            out["cold_s"] = timed_cli(local, child_env(NUMBA_CACHE_DIR=empty))
        finally:
            shutil.rmtree(empty, ignore_errors=True)
    if resubmit:
        again = ["--data-root", paths["data_root"], "sweep", "run", paths["one"]]
        resub = [timed_cli(again, env) for _ in range(n)]
        out.update(
            resubmit_command=" ".join(["threadx", *again]),
            resubmit_s=min(resub),
            all_resubmit_s=resub,
        )
    return out


def part_e(paths: dict[str, Any], sids: list[str], growth: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [(sid, paths["shapes"][sid]) for sid in sids]
    if growth:
        todo += [("q1h", paths["q1h"]), ("q15m", paths["q15m"])]
    for key, spec in todo:
        print(f"[E] peak RSS: {key}", file=sys.stderr, flush=True)
        w = Worker(
            "rss", ["--data-root", paths["data_root"], "--spec", spec, "--warm-spec", paths["one"]]
        )
        try:
            out[key] = w.ready
            w.close()
        finally:
            w.kill()
        out[key].pop("ready", None)
    if growth and "1" in out:
        full, q1h, q15m = out["1"], out["q1h"], out["q15m"]
        out["growth"] = {
            "combos_ratio_full_over_quarter": full["combos"] / q1h["combos"],
            "growth_ratio_full_over_quarter": full["growth_mib"] / q1h["growth_mib"],
            "bars_ratio_15m_over_1h": q15m["bars"] / q1h["bars"],
            "growth_ratio_15m_over_1h": q15m["growth_mib"] / q1h["growth_mib"],
        }
    return out


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", *a], capture_output=True, text=True, cwd=str(REPO), timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "threadx", "actors").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "dirty_library_files": dirty}


def checks(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and verdict."""
    rows: list[tuple[str, str, float | None]] = []
    sh = out["shapes"]
    for sid in ("1", "2"):
        if sid in sh:
            rows.append(
                (
                    f"A{sid}_kernel_over_e2e",
                    f"A shape {sid} kernel / e2e",
                    sh[sid]["ratio_kernel_over_e2e"],
                )
            )
    if out.get("ray"):
        rows.append(
            (
                "B_kernel_over_ray",
                "B shape 1 kernel / Ray submit->completed",
                out["ray"]["ratio_kernel_over_ray"],
            )
        )
    st = out.get("startup") or {}
    if st:
        rows.append(("C_warm_local_s", "C warm one-combination --local, s", st["warm_s"]))
        if "resubmit_s" in st:
            rows.append(
                (
                    "C_resubmit_cluster_s",
                    "C completed run re-submitted, no --local, s",
                    st["resubmit_s"],
                )
            )
    for sid in ("1", "3"):
        if sid in sh:
            rows.append(
                (
                    f"D{sid}_host_us_per_combo",
                    f"D shape {sid} host us / combination",
                    sh[sid]["host_us_per_combo"],
                )
            )
    for key, mem in (out.get("memory") or {}).items():
        if key in sh:
            rows.append(
                (
                    f"E_peak_over_estimate:{key}",
                    f"E shape {key} peak RSS / estimate",
                    mem["peak_over_estimate"],
                )
            )
    if "1" in sh:
        rows.append(
            ("F_backtests_per_min", "F shape 1 backtests / min e2e", sh["1"]["backtests_per_min"])
        )
    if out.get("vectorbt"):
        rows.append(
            (
                "G_threadx_over_vectorbt",
                "G shape 2 ThreadX e2e / vectorbt bar-steps/s",
                out["vectorbt"]["ratio_threadx_over_vectorbt"],
            )
        )
    return [
        {
            "id": key,
            "what": what,
            "value": val,
            "target": target_text(key),
            "verdict": verdict(key, val),
        }
        for key, what, val in rows
    ]


def report(out: dict[str, Any]) -> None:
    m = out["machine"]
    print(
        f"bench_pipeline {'(quick) ' if out['quick'] else ''}commit {out['git']['commit']}"
        + (f" [{out['label']}]" if out.get("label") else "")
        + (
            f" + {len(out['git']['dirty_library_files'])} uncommitted library file(s)"
            if out["git"]["dirty_library_files"]
            else ""
        )
        + f"; {m['date']}, {m['host_cpus']} CPUs, Python {m['python']}, numba {m['numba']}; "
        f"best of {out['repeat']}; load average (1 min) {out['load_avg']['start'][0]:.1f} at "
        f"start, {out['load_avg']['end'][0]:.1f} at end"
    )
    print(
        "\nA/D/F  end to end (threadx sweep run SPEC --local --fresh, in-process) vs "
        "kernel_only (pack + run_sweep, whole grid)"
    )
    print(
        f"{'shape':<6}{'bars':>8}{'combos':>10}{'e2e s':>9}{'kernel s':>10}{'kern/e2e':>10}"
        f"{'host us/c':>11}{'e2e bar-steps/s':>17}{'backtests/min':>15}"
    )
    for sid, a in out["shapes"].items():
        print(
            f"{sid:<6}{a['bars']:>8,}{a['combos']:>10,}{a['e2e_s']:>9.3f}{a['kernel_s']:>10.3f}"
            f"{a['ratio_kernel_over_e2e']:>10.3f}{a['host_us_per_combo']:>11.2f}"
            f"{a['e2e_bar_steps_per_s']:>17.3e}{a['backtests_per_min']:>15,.0f}"
        )
    r = out.get("ray")
    if r:
        f = r["fixed_s"]
        print(
            f"\nB  Ray ({'embedded' if r['embedded'] else 'JOINED an existing'} cluster), shape "
            f"1: submit->completed {r['ray_s']:.3f} s (CLI poll interval included), kernel "
            f"{r['kernel_s']:.3f} s, ratio {r['ratio_kernel_over_ray']:.3f}; + ranking/report "
            f"printed {r['report_s']:.3f} s"
        )
        print(
            f"   fixed cost: start {f['start_s']:.2f} s, driver {f['driver_s']:.2f} s, workers "
            f"{f['workers_s']:.2f} s (first small sweep {r['first_small_sweep_s']:.2f} s - warm "
            f"{r['warm_small_sweep_s']:.2f} s), teardown {f['teardown_s']:.2f} s = "
            f"{r['fixed_total_s']:.2f} s"
        )
    st = out.get("startup")
    if st:
        cold = f"{st['cold_s']:.2f} s" if "cold_s" in st else "skipped"
        resub = f"{st['resubmit_s']:.2f} s" if "resubmit_s" in st else "skipped"
        print(
            f"\nC  start-up (process start to exit): warm --local {st['warm_s']:.2f} s, cold "
            f"(empty NUMBA_CACHE_DIR) {cold}, completed run re-submitted without --local "
            f"{resub}"
        )
    mem = out.get("memory")
    if mem:
        print("\nE  peak RSS of a fresh process running the e2e sweep vs the pre-flight estimate")
        print(
            f"{'run':<6}{'bars':>8}{'combos':>10}{'estimate MiB':>14}{'peak MiB':>10}"
            f"{'peak/est':>10}{'RSS before':>12}{'growth MiB':>12}"
            f"{'warm-up peak':>14}"
        )
        for key, e in mem.items():
            if key == "growth":
                continue
            print(
                f"{key:<6}{e['bars']:>8,}{e['combos']:>10,}{e['estimate_mib']:>14,.0f}"
                f"{e['sweep_peak_rss_mib']:>10,.0f}{e['peak_over_estimate']:>10.2f}"
                f"{e['rss_before_mib']:>12,.0f}{e['growth_mib']:>12,.0f}"
                f"{e['peak_before_mib']:>14,.0f}"
            )
        gr = mem.get("growth")
        if gr:
            print(
                f"   growth: x{gr['combos_ratio_full_over_quarter']:.0f} combinations -> "
                f"x{gr['growth_ratio_full_over_quarter']:.2f} RSS growth; "
                f"x{gr['bars_ratio_15m_over_1h']:.1f} bars (15m vs 1h, same combinations) -> "
                f"x{gr['growth_ratio_15m_over_1h']:.2f}"
            )
    g = out.get("vectorbt")
    if g:
        n2 = out["shapes"]["2"]["combos"]
        sub = (
            f" (vectorbt on a subset: {g['vectorbt_combos']:,} of {n2:,} combinations, "
            f"bb_period {g['vectorbt_bb_periods']}; bar-steps/s compared)"
            if g["subset"]
            else ""
        )
        print(
            f"\nG  shape 2 vs vectorbt {g['vectorbt_version']}: ThreadX e2e "
            f"{g['threadx_e2e_bar_steps_per_s']:.3e} bar-steps/s, vectorbt "
            f"{g['vectorbt_bar_steps_per_s']:.3e} ({g['vectorbt_s']:.2f} s, peak RSS "
            f"{g['vectorbt_peak_rss_mib']:,.0f} MiB), ratio "
            f"{g['ratio_threadx_over_vectorbt']:.1f}x{sub}"
        )
    print(f"\n{'target':<52}{'measured':>14}  {'target':<12}verdict")
    for c in out["checks"]:
        v = c["value"]
        val = "n/a" if v is None else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3f}")
        print(f"{c['what']:<52}{val:>14}  {c['target']:<12}{c['verdict']}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="1,2,3", help="shapes to run (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="alternated timed runs, best kept")
    ap.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    ap.add_argument("--skip-ray", action="store_true", help="skip part B (and C's re-submit)")
    ap.add_argument("--skip-vectorbt", action="store_true", help="skip part G")
    ap.add_argument("--skip-cold", action="store_true", help="skip C's cold (compiling) start")
    ap.add_argument(
        "--vbt-combos",
        type=int,
        default=0,
        help="vectorbt runs whole bb_periods covering at least this many of shape "
        "2's combinations (0 = all; bar-steps/s are compared)",
    )
    ap.add_argument("--startup-repeat", type=int, default=3, help="best of N for part C")
    ap.add_argument("--root", help="data root to reuse (default: a new temporary folder)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data root")
    ap.add_argument("--label", help="free text stored in the JSON and printed (e.g. which code)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data-root", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--warm-spec", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.worker:
        WORKERS[args.worker](args)
        return {}
    sids = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if not sids or any(s not in ("1", "2", "3") for s in sids):
        raise SystemExit(f"--shapes: a comma-separated subset of 1,2,3, got {args.shapes!r}")
    if args.repeat < 1 or args.startup_repeat < 1:
        raise SystemExit("--repeat and --startup-repeat must be >= 1")
    vbt = not args.skip_vectorbt and "2" in sids
    if vbt:
        try:
            import vectorbt  # noqa: F401
        except ImportError as exc:
            raise SystemExit(
                f"vectorbt is not importable ({exc}); `.venv/bin/pip install "
                "vectorbt` or pass --skip-vectorbt"
            ) from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmp = None if args.root else tempfile.mkdtemp(prefix="threadx-bench-pipeline-")
    root = Path(args.root or tmp)
    try:
        load_start = os.getloadavg()  # the machine may be shared: say how busy it was
        t0 = time.perf_counter()
        paths = setup_root(root, args.quick)
        print(
            f"data and specs written to {root} in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
        out: dict[str, Any] = {
            "benchmark": "bench_pipeline",
            "label": args.label,
            "quick": args.quick,
            "repeat": args.repeat,
            "machine": h.machine(),
            "git": git_state(),
            "specs": paths,
            "shapes": {},
            "ray": None,
            "startup": None,
            "memory": None,
            "vectorbt": None,
        }
        vbt_argv = ["--vbt-combos", str(args.vbt_combos)]
        for sid in sids:
            a, g = part_a(paths, sid, args.repeat, vbt_argv if vbt and sid == "2" else None)
            out["shapes"][sid] = a
            if g is not None:
                out["vectorbt"] = g
        if "1" in sids and not args.skip_ray:
            out["ray"] = part_b(paths, args.repeat)
        out["startup"] = part_c(paths, args.startup_repeat, not args.skip_cold, not args.skip_ray)
        out["memory"] = part_e(paths, sids, growth="1" in sids)
        out["checks"] = checks(out)
        out["load_avg"] = {"start": load_start, "end": os.getloadavg()}
        report(out)
        if args.json:
            args.json.write_text(json.dumps(out, indent=2))
        return out
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
