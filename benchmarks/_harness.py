"""Shared plumbing of the peer benchmarks: bars, one subprocess per peer, interleaved timing.

Each peer (ThreadX CPU, ThreadX GPU, vectorbt) lives in its own child process so that its peak
RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own. The child builds the bars, makes
one untimed warm-up run (numba JIT / on-disk caches loaded, CUDA kernel compiled) and then waits
for ``run`` commands on stdin; the parent alternates the peers ``repeat`` times (A, B, A, B, ...)
so that a noisy shared machine hurts both alike, and keeps the best time of each.

The vectorbt peers (bench_cpu_vs_vectorbt.py's, bench_pipeline.py's part G) share one
``from_signals`` call and its metrics (:func:`vbt_pass`).

Protocol: the child writes one JSON object per line prefixed with :data:`PREFIX` on stdout;
any other output of the child (library warnings) is passed through to the parent's stderr.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PREFIX = "@@bench "
from threadx.core.units import NS_PER_MINUTE  # noqa: E402 -- the one home of time units


# --- options -------------------------------------------------------------------------------------
def peer_options(
    ap: Any, bars: int, combos: int, repeat: int, min_time: float, threads_help: str
) -> None:
    """The options every peer benchmark takes: the data (bars, synthetic or real, seed), the grid
    size, timed runs, numba threads, the JSON output and the hidden worker switch."""
    import argparse

    ap.add_argument("--bars", type=int, default=bars, help="1m bars (default %(default)s)")
    ap.add_argument("--combos", type=int, default=combos, help="combinations (rounded to the grid)")
    ap.add_argument("--repeat", type=int, default=repeat, help="timed runs per peer, best kept")
    ap.add_argument("--min-time", type=float, default=min_time, help="repeat for N s, mean pass")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help=threads_help)
    ap.add_argument("--real", action="store_true", help="tile the real BTCUSDT 1m sample")
    ap.add_argument("--seed", type=int, default=7, help="seed of the synthetic bars")
    ap.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)


# --- bars ----------------------------------------------------------------------------------------
def make_bars(n_bars: int, real: bool = False, seed: int = 7) -> dict[str, Any]:
    """1-minute bars as plain float64 arrays plus ``times_ns`` (int64) and a description.

    Synthetic: :func:`threadx.data.synth.gbm_ohlcv` with ``seed``. Real: the bundled BTCUSDT
    sample (30,240 bars), tiled until ``n_bars`` are reached; each copy is rescaled so that it
    opens at the previous copy's last close (no price jump at the seams), timestamps continue
    minute by minute.
    """
    if n_bars < 2:
        raise ValueError(f"--bars must be >= 2, got {n_bars}")
    if not real:
        from threadx.data.synth import gbm_ohlcv

        f = gbm_ohlcv(n_bars, seed=seed)
        cols = {c: f[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
        times = f.index.asi8.astype(np.int64)
        what = f"synthetic GBM 1m bars (gbm_ohlcv seed={seed})"
    else:
        from threadx.sample import load_sample

        f = load_sample()
        base = {c: f[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")}
        reps = -(-n_bars // len(f))
        parts: dict[str, list[np.ndarray]] = {c: [] for c in base}
        scale = 1.0
        for _ in range(reps):
            for c in base:
                parts[c].append(base[c] * scale)
            scale = parts["close"][-1][-1] / base["open"][0]
        cols = {c: np.concatenate(v)[:n_bars] for c, v in parts.items()}
        t0 = int(f.index.asi8[0])
        times = t0 + NS_PER_MINUTE * np.arange(n_bars, dtype=np.int64)
        what = (
            f"real BTCUSDT 1m sample ({len(f):,} bars) tiled x{reps}, each copy rescaled to "
            "open at the previous close"
        )
    return {**cols, "times_ns": times, "n_bars": n_bars, "data": what}


# --- child side ----------------------------------------------------------------------------------
def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def repeat_for(run: Callable[[], dict[str, Any]], min_time: float) -> dict[str, Any]:
    """Run ``run`` until ``min_time`` seconds have passed (at least once) and report the mean of
    its ``*_s`` timings per pass: a short pipeline is then timed over a window as long as a slow
    peer's, so that both see the same machine noise."""
    reports = []
    t0 = time.perf_counter()
    while True:
        reports.append(run())
        if time.perf_counter() - t0 >= min_time:
            break
    out = dict(reports[-1])
    for key, val in out.items():
        if key.endswith("_s") and isinstance(val, float):
            out[key] = sum(r[key] for r in reports) / len(reports)
    out["passes"] = len(reports)
    return out


def serve(
    make_peer: Callable[[], tuple[Callable[[], Any], Callable[[], dict[str, Any]]]],
    min_time: float = 0.0,
) -> None:
    """Child main loop. ``make_peer()`` returns ``(warm, run)``: ``warm()`` is called once,
    untimed (JIT compilation, caches); each ``run`` command on stdin then answers
    ``repeat_for(run, min_time)``."""
    try:
        warm, run = make_peer()
        rss_before = peak_rss_mib()
        t0 = time.perf_counter()
        warm()
        emit(
            {"ready": True, "warm_s": time.perf_counter() - t0, "rss_before_warmup_mib": rss_before}
        )
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "run":
                emit(repeat_for(run, min_time))
            elif cmd == "quit":
                break
        emit({"peak_rss_mib": peak_rss_mib()})
    except BaseException as exc:  # report anything to the parent, then fail
        emit({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
        raise SystemExit(1) from None


# --- parent side ---------------------------------------------------------------------------------
class PeerProcess:
    """A peer running in a child process (``python script --worker NAME ...``)."""

    def __init__(
        self,
        name: str,
        script: Path,
        argv: list[str],
        threads: int | None,
        python: str | None = None,
    ) -> None:
        self.name = name
        env = dict(os.environ)
        if threads:
            env["NUMBA_NUM_THREADS"] = str(threads)
        env.setdefault("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env["PYTHONPATH"]) if p)
        self.proc = subprocess.Popen(
            [python or sys.executable, str(script), "--worker", name, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(PREFIX):
                msg = json.loads(line[len(PREFIX) :])
                if "error" in msg:
                    self.proc.wait()
                    raise RuntimeError(
                        f"peer {self.name} failed: {msg['error']}\n{msg.get('traceback', '')}"
                    )
                return msg
            sys.stderr.write(f"[{self.name}] {line}")
        rc = self.proc.wait()
        raise RuntimeError(
            f"peer {self.name} exited (rc={rc}) without answering; killed for "
            "memory? try smaller --bars/--combos"
        )

    def run(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        msg = self._read()
        self.proc.stdin.close()
        self.proc.wait()
        return msg

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def interleave(
    peers: dict[str, tuple[Path, list[str], str | None]], repeat: int, threads: int | None
) -> dict[str, dict[str, Any]]:
    """Start every peer (each warms up), alternate ``repeat`` timed runs, collect peak RSS.

    ``peers`` maps a name to ``(script, argv, python)``; ``python`` None = this interpreter.
    Returns per peer: ``ready`` (warm-up report), ``runs`` (timed reports, in order), ``best``
    (the run with the smallest ``total_s``) and ``peak_rss_mib``.
    """
    if repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {repeat}")
    procs: dict[str, PeerProcess] = {}
    try:
        for name, (script, argv, python) in peers.items():
            procs[name] = PeerProcess(name, script, argv, threads, python)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in procs}
        for _ in range(repeat):
            for name, proc in procs.items():
                runs[name].append(proc.run())
        out = {}
        for name, proc in procs.items():
            best = min(runs[name], key=lambda r: r["total_s"])
            out[name] = {
                "ready": proc.ready,
                "runs": runs[name],
                "best": best,
                "peak_rss_mib": proc.close()["peak_rss_mib"],
            }
        return out
    finally:
        for proc in procs.values():
            proc.kill()


def machine() -> dict[str, Any]:
    import numba

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host_cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }


def fmt_rate(x: float) -> str:
    return f"{x:.3e}"


def peer_summary(res: dict[str, Any], bars: int) -> dict[str, Any]:
    """One peer of :func:`interleave`'s result: its best run (less ``total_s`` and ``data``) as
    ``wall_s`` and bar-steps/s over ``bars`` bars, its peak RSS, warm-up and every run's wall."""
    best = res["best"]
    steps = bars * best["combos"]
    return {
        **{k: v for k, v in best.items() if k not in ("total_s", "data")},
        "wall_s": best["total_s"],
        "bar_steps": steps,
        "bar_steps_per_s": steps / best["total_s"],
        "peak_rss_mib": res["peak_rss_mib"],
        "rss_before_warmup_mib": res["ready"]["rss_before_warmup_mib"],
        "warmup_s": res["ready"]["warm_s"],
        "all_wall_s": [r["total_s"] for r in res["runs"]],
    }


def publish(
    out: dict[str, Any], report: Callable[[dict[str, Any]], None], json_path: Path | None
) -> dict[str, Any]:
    """Print ``out`` with ``report``, write it to ``json_path`` (when given); return it."""
    report(out)
    if json_path:
        json_path.write_text(json.dumps(out, indent=2))
    return out


# --- the ThreadX side: the sweep's own path (param_frame -> pack -> kernel), chunk by chunk ------
def grid_spec(name: str, grid: dict[str, list[Any]]):  # noqa: ANN201 -- SweepSpec, lazy import
    """A :class:`~threadx.sweep.spec.SweepSpec` over ``grid`` (data section is a placeholder:
    the benchmarks hand the bars to the kernels directly)."""
    from threadx.sweep import spec_from_dict

    return spec_from_dict(
        {"name": name, "data": {"symbols": ["BTCUSDT"], "timeframes": ["1m"]}, "grid": grid}
    )


def threadx_sweep(
    bars: dict[str, Any], spec: Any, backend: str, chunk: int, limit: int | None = None
) -> dict[str, Any]:
    """Run the first ``limit`` (default all) combinations of ``spec`` on ``bars`` in chunks of
    ``chunk`` combinations: per chunk ``spec.param_frame`` -> ``pack`` (validation + indicator
    banks) -> ``run_sweep`` on ``backend``. Times are summed per stage; only the metrics rows of
    a chunk are kept (summed into ``n_trades_total``), so memory never grows with
    bars x combinations."""
    from threadx.kernels import OUT_NAMES, run_sweep
    from threadx.strategy.pack import pack

    total = spec.combos_per_dataset() if limit is None else min(limit, spec.combos_per_dataset())
    o, h, lo, c = bars["open"], bars["high"], bars["low"], bars["close"]
    first, last = int(bars["times_ns"][0]), int(bars["times_ns"][-1])
    col = OUT_NAMES.index("n_trades")
    grid_s = pack_s = kernel_s = 0.0
    n_trades = 0
    n_chunks = 0
    t_start = time.perf_counter()
    for start in range(0, total, chunk):
        t0 = time.perf_counter()
        frame = spec.param_frame(start, min(start + chunk, total))
        t1 = time.perf_counter()
        packed = pack(frame, o, h, lo, c)
        t2 = time.perf_counter()
        out = run_sweep(packed, first, last, 1.0, backend=backend)
        t3 = time.perf_counter()
        grid_s += t1 - t0
        pack_s += t2 - t1
        kernel_s += t3 - t2
        n_trades += int(out[:, col].sum())
        n_chunks += 1
        del frame, packed, out
    total_s = time.perf_counter() - t_start
    return {
        "total_s": total_s,
        "grid_s": grid_s,
        "pack_s": pack_s,
        "kernel_s": kernel_s,
        "combos": total,
        "chunk": chunk,
        "n_chunks": n_chunks,
        "n_trades_total": n_trades,
    }


def forward_args(args: Any, names: tuple[str, ...]) -> list[str]:
    """The parent's options ``names`` as command-line flags for a peer subprocess (plus
    ``--real`` when set)."""
    out: list[str] = []
    for name in names:
        out += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return [*out, "--real"] if getattr(args, "real", False) else out


# --- the vectorbt side: one ``from_signals`` call as a vectorbt user writes it, then 8 metrics --
VBT_METRICS = (
    "total_return",
    "annualized_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
)
VBT_TRADE_METRICS = ("count", "win_rate", "profit_factor")  # of the portfolio's trades


class VbtBars(NamedTuple):
    """The bars as vectorbt takes them (pandas Series on one index)."""

    close: Any
    open: Any
    high: Any
    low: Any


@dataclass
class VbtPass:
    """One ``from_signals`` call: the portfolio, its trades, the metrics (VBT_METRICS then
    VBT_TRADE_METRICS) and the seconds of the simulation and of the metrics."""

    portfolio: Any
    trades: Any
    metrics: list[Any]
    simulate_s: float
    metrics_s: float

    @property
    def n_trades(self) -> int:
        return int(self.metrics[len(VBT_METRICS)].sum())


def vbt_pass(
    vbt: Any, bars: VbtBars, stop: Any, size: Any, params: Any, freq: str, **signals: Any
) -> VbtPass:
    """``vbt.Portfolio.from_signals`` on ``bars`` with a trailing stop of ``stop`` (a fraction of
    the price, per bar and column), ``size`` as a percentage, the fees, slippage and capital of
    ``params`` (StrategyParams); ``signals`` are the entries/exits and any other option of the
    call (direction, engine). Then the metrics, timed apart."""
    t0 = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        bars.close,
        open=bars.open,
        high=bars.high,
        low=bars.low,
        sl_stop=stop,
        sl_trail=True,
        size=size,
        size_type="percent",
        fees=params.fee_bps / 1e4,
        slippage=params.slippage_bps / 1e4,
        init_cash=params.initial_capital,
        freq=freq,
        **signals,
    )
    t1 = time.perf_counter()
    trades = pf.trades
    metrics = [getattr(pf, m)() for m in VBT_METRICS]
    metrics += [getattr(trades, m)() for m in VBT_TRADE_METRICS]
    return VbtPass(pf, trades, metrics, t1 - t0, time.perf_counter() - t1)
