"""bench_pipeline.py's peer processes (``--worker NAME``): the pipeline, the embedded Ray cluster,
a fresh process for peak RSS, vectorbt; each answers the parent over _harness.py's protocol."""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up
from _pipeline_paths import cli_quiet, e2e, kernel_only, load_bars, sweep_fn  # noqa: E402


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
        from threadx.core.config import apply_overrides, load_config
        from threadx.sweep import load_spec

        spec, ds = load_bars(args.data_root, args.spec)
        params = spec.param_frame()
        state.update(spec=spec, ds=ds, params=params)
        kernel_only(spec, ds, params)  # warm (numba cache)
        cfg = apply_overrides(load_config(None), data_root=args.data_root)
        t0 = time.perf_counter()
        client = ThreadXClient(cfg).connect()
        t1 = time.perf_counter()
        client.data_root()  # creates the driver actor (and the data store)
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
            res = open_run(client.data_root() / "runs" / rid)
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

    def series(n: int) -> h.VbtBars:
        return h.VbtBars(
            *(
                pd.Series(getattr(ds, c)[:n], index=idx[:n], name=c)
                for c in ("close", "open", "high", "low")
            )
        )

    def sweep(n: int, wins: list[int]) -> dict[str, Any]:
        bars = series(n)
        close, high, low = bars.close, bars.high, bars.low
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
                one = h.vbt_pass(vbt, bars, stop, size, d, freq, **sig)
                stages["simulate_s"] += one.simulate_s
                stages["metrics_s"] += one.metrics_s
                n_trades += one.n_trades
                cols += int(le.shape[1])
                calls += 1
                # vectorbt's portfolios hold reference cycles: without a collection here the
                # batches pile up (peak RSS 8-15 GB on the full grid vs ~1.3 GB for 324 combos
                # with it). The collection is not counted against vectorbt.
                t4 = time.perf_counter()
                del one
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
