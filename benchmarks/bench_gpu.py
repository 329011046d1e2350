"""ThreadX GPU kernel vs ThreadX CPU kernel (all cores) on the same machine, bar-steps per second.

    .venv/bin/python benchmarks/bench_gpu.py                       # 302,400 combos x 525,600 bars
    .venv/bin/python benchmarks/bench_gpu.py --combos 20000 --bars 131040
    .venv/bin/python benchmarks/bench_gpu.py --backend cpu --combos 2000 --bars 100000  # no GPU

Needs the ``gpu`` extra (numba-cuda, cupy) and a usable CUDA device, nothing from the network;
``--backend gpu|both`` exits with the reason from ``threadx.kernels.resolve_backend("gpu")`` when
CUDA is unusable. ``--backend cpu`` times the CPU kernel alone (how this script is tested on
machines without a GPU).

Workload: synthetic GBM 1m bars (``gbm_ohlcv``; ``--real`` tiles the bundled BTCUSDT sample) and
the first ``--combos`` rows of a 7-axis grid (indicator parameters outermost, like every ThreadX
sweep)::

    bb_period 10, 15, ... (as many as needed) x bb_std 1.5..3.25 (8) x atr_period 7/14/21/28
    x atr_multiplier 1.0..4.0 (7) x max_hold_bars (6) x spacing_bars 0/6/12 x risk_per_trade (5)

(20,160 combinations per bb_period; the default 302,400 = 15 bb_periods). Each backend runs the
sweep's own path chunk by chunk -- ``spec.param_frame`` -> ``pack`` (validation + indicator banks
on the host) -> ``run_sweep`` -- with the sweep's chunking (``threadx.sweep.plan.
auto_chunk_size``: up to 262,144 combinations per GPU launch; about 2e8 bar-steps per CPU task)
unless ``--chunk`` fixes one size for both; pack, upload and kernel times are all counted. Only a
chunk's metrics rows are kept, so host memory grows with combinations x metrics and with bars x
distinct indicator rows, never with bars x combinations.

Each backend runs in its own subprocess (peak host RSS is per backend), warmed up by a small
untimed sweep (CUDA kernel compiled, numba cache loaded); backends alternate ``--repeat`` times and
the best time of each is kept.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up

DEFAULT_COMBOS = 302_400
DEFAULT_BARS = 525_600  # one year of 1m bars
INNER_AXES: dict[str, list[Any]] = {
    "bb_std": [1.5, 1.75, 2.0, 2.25, 2.5, 2.75, 3.0, 3.25],
    "atr_period": [7, 14, 21, 28],
    "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0],
    "max_hold_bars": [24, 48, 72, 120, 240, 480],
    "spacing_bars": [0, 6, 12],
    "risk_per_trade": [0.005, 0.01, 0.02, 0.03, 0.05],
}
PER_BB_PERIOD = 8 * 4 * 7 * 6 * 3 * 5  # 20,160
WARM_BARS = 2_000
WARM_COMBOS = 256


def grid(combos: int) -> dict[str, list[Any]]:
    """The grid whose first ``combos`` rows are swept (``ceil(combos / 20,160)`` bb_periods)."""
    if combos < 1:
        raise ValueError(f"--combos must be >= 1, got {combos}")
    n_bb = -(-combos // PER_BB_PERIOD)
    return {"bb_period": [10 + 5 * i for i in range(n_bb)], **INNER_AXES}


def chunk_for(args: argparse.Namespace, backend: str) -> int:
    if args.chunk:
        return args.chunk
    from threadx.sweep.plan import auto_chunk_size

    return auto_chunk_size(args.bars, args.combos, gpu=backend == "gpu")


def gpu_name() -> str:
    from threadx.kernels.gpu import import_cuda

    try:
        name = import_cuda().get_current_device().name
    except Exception:  # e.g. numba's CUDA simulator has no device to name
        return "CUDA device"
    return name.decode() if isinstance(name, bytes) else str(name)


def peer(args: argparse.Namespace, backend: str) -> Any:
    """``(warm, run)`` of one backend, inside its worker subprocess."""
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    bars = h.make_bars(args.bars, args.real, args.seed)
    spec = h.grid_spec("bench-gpu", grid(args.combos))
    chunk = chunk_for(args, backend)
    device = f"CPU, {numba.get_num_threads()} numba threads"
    if backend == "gpu":
        from threadx.kernels import resolve_backend

        resolve_backend("gpu")
        device = gpu_name()

    def warm() -> None:
        small = h.make_bars(min(WARM_BARS, args.bars), False, args.seed)
        n = min(WARM_COMBOS, args.combos)
        h.threadx_sweep(small, spec, backend, chunk=n, limit=n)

    def run() -> dict[str, Any]:
        r = h.threadx_sweep(bars, spec, backend, chunk=chunk, limit=args.combos)
        return {**r, "backend": backend, "device": device, "data": bars["data"]}

    return warm, run


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # bars, combinations, timed runs, seconds per timed run, what --threads sets
    h.peer_options(
        ap,
        DEFAULT_BARS,
        DEFAULT_COMBOS,
        1,
        0.0,
        "numba threads of the CPU kernel (default: all cores)",
    )
    ap.add_argument("--backend", choices=["both", "gpu", "cpu"], default="both", help="kernels")
    ap.add_argument("--chunk", type=int, default=0, help="combinations per chunk (0: automatic)")
    return ap.parse_args(argv)


def worker_argv(args: argparse.Namespace) -> list[str]:
    return h.forward_args(args, ("combos", "bars", "chunk", "threads", "seed", "min_time"))


def report(out: dict[str, Any]) -> None:
    print(f"data: {out['data']}")
    print(
        f"bars {out['bars']:,} x combinations {out['combinations']:,} = {out['bar_steps']:,} "
        f"bar-steps; best of {out['repeat']}"
    )
    print(
        f"{'backend':<8}{'wall s':>10}{'bar-steps/s':>14}{'peak RSS MiB':>14}{'chunks':>8}"
        "  stages (s)  device"
    )
    for name, p in out["peers"].items():
        print(
            f"{name:<8}{p['wall_s']:>10.2f}{h.fmt_rate(p['bar_steps_per_s']):>14}"
            f"{p['peak_rss_mib']:>14.0f}{p['n_chunks']:>8}  grid {p['grid_s']:.2f} "
            f"pack {p['pack_s']:.2f} kernel {p['kernel_s']:.2f}  {p['device']}"
        )
    if "ratio_gpu_over_cpu" in out:
        print(f"ratio GPU/CPU bar-steps/s: {out['ratio_gpu_over_cpu']:.1f}x")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.worker:
        h.serve(lambda: peer(args, args.worker), args.min_time)
        return {}
    grid(args.combos)
    if args.bars < 2:
        raise SystemExit(f"--bars must be >= 2, got {args.bars}")
    names = ["gpu", "cpu"] if args.backend == "both" else [args.backend]
    if "gpu" in names:
        from threadx.kernels import resolve_backend

        try:
            resolve_backend("gpu")
        except RuntimeError as exc:
            raise SystemExit(
                f"bench_gpu: {exc}\n(use --backend cpu to time the CPU kernel alone)"
            ) from None
    script = Path(__file__).resolve()
    res = h.interleave(
        {n: (script, [*worker_argv(args)], None) for n in names}, args.repeat, args.threads
    )
    peers = {n: h.peer_summary(res[n], args.bars) for n in names}
    combos = peers[names[0]]["combos"]
    out: dict[str, Any] = {
        "benchmark": "bench_gpu",
        "data": res[names[0]]["best"]["data"],
        "bars": args.bars,
        "combinations": combos,
        "bar_steps": args.bars * combos,
        "grid": grid(args.combos),
        "repeat": args.repeat,
        "machine": h.machine(),
        "peers": peers,
    }
    if len(names) == 2:
        out["ratio_gpu_over_cpu"] = (
            peers["gpu"]["bar_steps_per_s"] / peers["cpu"]["bar_steps_per_s"]
        )
    return h.publish(out, report, args.json)


if __name__ == "__main__":
    main()
