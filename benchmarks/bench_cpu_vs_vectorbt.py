"""ThreadX CPU kernel vs vectorbt: the same BB+ATR grid on the same 1m bars, bar-steps per second.

Install the peer (benchmark-only; the ``bench`` extra of pyproject.toml) into the project venv::

    .venv/bin/pip install vectorbt          # or: .venv/bin/pip install -e '.[bench]'

(vectorbt 1.2.0 installs beside numpy 2.4 / numba 0.68 / pandas 3.1 without downgrading them.
Had it required older numpy/numba, the fallback is a separate venv:
``python3.11 -m venv /tmp/venv-bench && /tmp/venv-bench/bin/pip install -e /work/main vectorbt``
and running this script with ``/tmp/venv-bench/bin/python``.) Then::

    .venv/bin/python benchmarks/bench_cpu_vs_vectorbt.py [--bars 131040] [--combos 180]
        [--repeat 3] [--threads N] [--min-time 2] [--real] [--vbt-batch 36] [--vbt-engine numba]
        [--vbt-python PATH] [--skip-vectorbt] [--json PATH]

What is timed (best of ``--repeat``, peers alternated, each in its own warm subprocess so that
peak RSS is per peer; the warm-up run is untimed and compiles/loads numba caches). A timed run
repeats a peer's whole pipeline until ``--min-time`` seconds have passed and reports the mean
pass, so ThreadX's sub-second sweep is measured over a window as long as vectorbt's and both see
the same noise of a shared machine:

* **ThreadX** -- the sweep's own path: ``spec.param_frame`` -> ``pack`` (parameter validation and
  the indicator banks: Bollinger per bb_period, ATR) -> ``run_sweep_cpu`` (numba, ``prange`` over
  combinations, ``--threads`` threads), i.e. signals + simulation + the 18 metrics of STRATEGY.md.
* **vectorbt** -- the whole grid as columns, ``--vbt-batch`` columns per ``from_signals`` call (36,
  one bb_period, was its fastest and leanest setting here), as a vectorbt user would write it:
  ``vbt.BBANDS.run(close, window, alpha, param_product=True)``,
  ``close_crossed_below(lower)`` -> long entries, ``close_crossed_above(upper)`` -> short entries,
  ``close_above(middle)`` / ``close_below(middle)`` -> long / short exits, ``vbt.ATR`` (EMA, 14),
  columns tiled over the ATR multipliers, ``sl_stop = atr_multiplier * ATR / close`` as a per-bar
  array with ``sl_trail=True``, ``size = min(risk / sl_stop, leverage)`` as ``size_type='percent'``,
  ``fees = fee_bps / 1e4``, ``init_cash = initial_capital``, ``upon_opposite_entry='ignore'``,
  open/high/low given for stop checks; then the metrics ``total_return, annualized_volatility,
  sharpe_ratio, sortino_ratio, max_drawdown, trades.count, trades.win_rate, trades.profit_factor``.
  Building the indicator, signal and stop arrays is inside the timing, like ThreadX's ``pack``.
  The bars carry a tz-naive DatetimeIndex: with pandas 3 a tz-aware index makes vectorbt convert
  it to Python objects on every wrap (seconds per call), which would be unfair to vectorbt.
  ``--vbt-engine numba`` (default) is vectorbt's fastest engine here (the optional vectorbt-rust
  engine was slower on this machine); ``--vbt-python`` runs the vectorbt peer under another venv
  (e.g. vectorbt 1.0 with pandas 2.x, where DataFrames wrap arrays without copying).

vectorbt is a throughput peer, not a parity oracle. Differences from STRATEGY.md that vectorbt's
open-source ``from_signals`` cannot express (they make vectorbt's job lighter, not heavier):

* no ``max_hold_bars`` exit (vectorbt PRO's ``td_stop``) and no ``spacing_bars`` between signals;
* the trailing stop keeps the entry-time distance (fraction of price) and trails the best price
  since entry, where STRATEGY.md trails ``close - atr_multiplier * ATR[t]`` at each close;
* stop hits fill at the stop price (or the open when gapped through), like STRATEGY.md, but
  vectorbt checks stops from the entry bar's close and sizes with fees taken from the percentage;
* vectorbt's ATR/Bollinger warm-up NaNs and crossing rules (``crossed_below``) differ in detail;
  no ruin rule; vectorbt keeps per-bar cash/value arrays (bars x columns) for its metrics where
  ThreadX streams them.

Throughput = bars x combinations / wall seconds ("bar-steps/s"). The issue's target is ThreadX
CPU >= 100x vectorbt; the ratio is printed as ThreadX / vectorbt.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up

DEFAULT_BARS = 131_040  # 91 days of 1m bars
DEFAULT_COMBOS = 180
STD_VALUES = (1.5, 1.75, 2.0, 2.25, 2.5, 2.75)
MULT_VALUES = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5)
TARGET_RATIO = 100.0


def grid(combos: int) -> dict[str, list[Any]]:
    """bb_period x bb_std x atr_multiplier with at least ``combos`` combinations (exactly
    ``combos`` when it is a multiple of 36); other parameters keep STRATEGY.md's defaults."""
    if combos < 1:
        raise ValueError(f"--combos must be >= 1, got {combos}")
    n_std = min(len(STD_VALUES), combos)
    n_mult = max(1, min(len(MULT_VALUES), combos // n_std))
    n_bb = -(-combos // (n_std * n_mult))
    return {
        "bb_period": [10 + 5 * i for i in range(n_bb)],
        "bb_std": list(STD_VALUES[:n_std]),
        "atr_multiplier": list(MULT_VALUES[:n_mult]),
    }


# --- peers (run inside the worker subprocesses) ---------------------------------------------------
def threadx_peer(args: argparse.Namespace) -> Any:
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    bars = h.make_bars(args.bars, args.real, args.seed)
    spec = h.grid_spec("bench-vbt", grid(args.combos))
    n = spec.combos_per_dataset()

    def run() -> dict[str, Any]:
        r = h.threadx_sweep(bars, spec, "cpu", chunk=n)
        return {**r, "threads": numba.get_num_threads(), "data": bars["data"]}

    return run, run


def vectorbt_peer(args: argparse.Namespace) -> Any:
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    from threadx.strategy.params import StrategyParams

    bars = h.make_bars(args.bars, args.real, args.seed)
    g = grid(args.combos)
    d = StrategyParams()
    idx = pd.DatetimeIndex(bars["times_ns"].view("datetime64[ns]"), name="time")  # tz-naive
    series = h.VbtBars(
        *(pd.Series(bars[c], index=idx, name=c) for c in ("close", "open", "high", "low"))
    )
    close, high, low = series.close, series.high, series.low
    windows = [int(p) for p in g["bb_period"]]
    alphas = [float(k) for k in g["bb_std"]]
    mults = np.asarray(g["atr_multiplier"], dtype=np.float64)
    per_window = len(alphas) * len(mults)
    step = max(1, args.vbt_batch // per_window)
    batches = [windows[i : i + step] for i in range(0, len(windows), step)]
    keys = pd.Index(mults, name="atr_multiplier")

    def one_batch(wins: list[int], frac: np.ndarray) -> tuple[dict[str, float], int, int]:
        t0 = time.perf_counter()
        bb = vbt.BBANDS.run(close, window=wins, alpha=alphas, param_product=True)
        sig = [
            bb.close_crossed_below(bb.lower),
            bb.close_above(bb.middle),
            bb.close_crossed_above(bb.upper),
            bb.close_below(bb.middle),
        ]
        le, lx, se, sx = (s.vbt.tile(len(mults), keys=keys) for s in sig)
        stop = np.repeat(frac[:, None] * mults[None, :], sig[0].shape[1], axis=1)
        size = np.minimum(d.risk_per_trade / stop, d.leverage)
        t1 = time.perf_counter()
        one = h.vbt_pass(
            vbt,
            series,
            stop,
            size,
            d,
            "1min",
            entries=le,
            exits=lx,
            short_entries=se,
            short_exits=sx,
            upon_opposite_entry="ignore",
            engine=args.vbt_engine,
        )
        stages = {"signals_s": t1 - t0, "simulate_s": one.simulate_s, "metrics_s": one.metrics_s}
        return stages, one.n_trades, int(le.shape[1])

    def run() -> dict[str, Any]:
        t_start = time.perf_counter()
        atr = vbt.ATR.run(high, low, close, window=d.atr_period, ewm=True).atr
        frac = (atr / close).to_numpy()
        stages = {"signals_s": time.perf_counter() - t_start, "simulate_s": 0.0, "metrics_s": 0.0}
        n_trades = cols = 0
        for wins in batches:
            st, nt, nc = one_batch(wins, frac)
            for k, v in st.items():
                stages[k] += v
            n_trades += nt
            cols += nc
        return {
            "total_s": time.perf_counter() - t_start,
            **stages,
            "combos": cols,
            "batches": len(batches),
            "n_trades_total": n_trades,
            "engine": args.vbt_engine,
            "vectorbt": vbt.__version__,
            "pandas": pd.__version__,
            "python": sys.executable,
        }

    return run, run


# --- parent --------------------------------------------------------------------------------------
def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # bars, combinations, timed runs, seconds per timed run, what --threads sets
    h.peer_options(
        ap, DEFAULT_BARS, DEFAULT_COMBOS, 3, 2.0, "numba threads for ThreadX (default: all cores)"
    )
    ap.add_argument(
        "--vbt-batch",
        type=int,
        default=36,
        help="vectorbt columns per from_signals call, rounded to whole bb_periods "
        "(default %(default)s: one bb_period x all bb_std x atr_multiplier)",
    )
    ap.add_argument(
        "--vbt-engine",
        default="numba",
        choices=["numba", "rust", "auto"],
        help="vectorbt engine (rust needs the vectorbt-rust package)",
    )
    ap.add_argument(
        "--vbt-python",
        help="Python interpreter for the vectorbt peer (another venv "
        "with threadx importable); default: this one",
    )
    ap.add_argument("--skip-vectorbt", action="store_true", help="time ThreadX only")
    return ap.parse_args(argv)


def worker_argv(args: argparse.Namespace) -> list[str]:
    names = ("bars", "combos", "threads", "seed", "vbt_batch", "vbt_engine", "min_time")
    return h.forward_args(args, names)


def report(out: dict[str, Any]) -> None:
    print(f"data: {out['data']}")
    print(
        f"bars {out['bars']:,} x combinations {out['combinations']:,} = "
        f"{out['bar_steps']:,} bar-steps; ThreadX numba threads {out['threads']} "
        f"({out['machine']['host_cpus']} CPUs); best of {out['repeat']}"
    )
    print(f"{'peer':<12}{'wall s':>10}{'bar-steps/s':>14}{'peak RSS MiB':>14}  stages (s)")
    for name, p in out["peers"].items():
        stages = " ".join(
            f"{k[:-2]} {p[k]:.3f}"
            for k in ("grid_s", "pack_s", "kernel_s", "signals_s", "simulate_s", "metrics_s")
            if k in p
        )
        print(
            f"{name:<12}{p['wall_s']:>10.3f}{h.fmt_rate(p['bar_steps_per_s']):>14}"
            f"{p['peak_rss_mib']:>14.0f}  {stages}"
        )
    if "ratio_threadx_over_vectorbt" in out:
        r = out["ratio_threadx_over_vectorbt"]
        verdict = "meets" if r >= TARGET_RATIO else "below"
        print(
            f"ratio ThreadX/vectorbt bar-steps/s: {r:.1f}x ({verdict} the {TARGET_RATIO:.0f}x "
            "target)"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.worker:
        make = {"threadx": threadx_peer, "vectorbt": vectorbt_peer}[args.worker]
        h.serve(lambda: make(args), args.min_time)
        return {}
    h.grid_spec("check", grid(args.combos))  # bad arguments fail here, not in a child
    if args.bars < 2:
        raise SystemExit(f"--bars must be >= 2, got {args.bars}")
    if not args.skip_vectorbt and not args.vbt_python:
        try:
            import vectorbt  # noqa: F401
        except ImportError as exc:
            raise SystemExit(
                f"vectorbt is not importable ({exc}); install it with "
                "`.venv/bin/pip install vectorbt` or pass --skip-vectorbt"
            ) from None
    script = Path(__file__).resolve()
    names = ["threadx"] if args.skip_vectorbt else ["threadx", "vectorbt"]
    python = {"vectorbt": args.vbt_python}
    res = h.interleave(
        {n: (script, worker_argv(args), python.get(n)) for n in names}, args.repeat, args.threads
    )
    peers = {n: h.peer_summary(res[n], args.bars) for n in names}
    combos = peers["threadx"]["combos"]
    out: dict[str, Any] = {
        "benchmark": "bench_cpu_vs_vectorbt",
        "data": res["threadx"]["best"]["data"],
        "bars": args.bars,
        "combinations": combos,
        "bar_steps": args.bars * combos,
        "grid": grid(args.combos),
        "threads": args.threads,
        "repeat": args.repeat,
        "machine": h.machine(),
        "peers": peers,
    }
    if "vectorbt" in peers:
        assert peers["vectorbt"]["combos"] == combos, "peers ran different grids"
        out["ratio_threadx_over_vectorbt"] = (
            peers["threadx"]["bar_steps_per_s"] / peers["vectorbt"]["bar_steps_per_s"]
        )
        out["target_ratio"] = TARGET_RATIO
    return h.publish(out, report, args.json)


if __name__ == "__main__":
    main()
