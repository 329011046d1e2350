"""Fused sweep kernels: one pass per combination (signals, simulation, metrics), CPU or GPU.

* :mod:`threadx.kernels.layout` -- the array contract (parameter matrix, indicator banks, output
  columns, argument order, bytes); the arrays are built one layer up, by
  :mod:`threadx.strategy.pack` (validation, bank planning, indicators) -- nothing here imports it;
* :mod:`threadx.kernels.cpu` -- numba ``njit(parallel=True)``, ``prange`` over combinations;
* :mod:`threadx.kernels.gpu` -- numba-cuda, one thread per combination (imported lazily).

:func:`resolve_backend` is the only place that decides between them.
"""

from __future__ import annotations

import numpy as np

from threadx.kernels.layout import (
    DEFAULT_BLOCKS,
    N_OUT,
    N_PARAMS,
    N_STATS,
    OUT_NAMES,
    STAT_NAMES,
    PackedSweep,
    block_columns,
    out_names,
    out_width,
)

BACKENDS = ("auto", "cpu", "gpu")

__all__ = [
    "BACKENDS",
    "DEFAULT_BLOCKS",
    "N_OUT",
    "N_PARAMS",
    "N_STATS",
    "OUT_NAMES",
    "STAT_NAMES",
    "PackedSweep",
    "block_columns",
    "crossing_bank",
    "gpu_unavailable_reason",
    "out_names",
    "out_width",
    "prefer_sleeping_threads",
    "resolve_backend",
    "run_sweep",
]


def prefer_sleeping_threads() -> None:
    """Let idle OpenMP workers of numba's CPU thread pool sleep instead of spinning (GNU OpenMP
    spins about 300,000 rounds after every parallel region by default), unless the environment
    sets ``OMP_WAIT_POLICY`` itself. On a machine shared with other work a spinning worker takes
    the core the host's own sequential work needs between two kernel launches (writing the last
    part, preparing the next task): measured on 2 cores with the other one busy, a sweep pass went
    from 0.11 to 0.08-0.10 s. libgomp reads the variable once, when numba starts its pool (first
    parallel launch or ``numba.set_num_threads``), so process entry points call this first: the
    CLI, ``run_local`` and the Ray BacktestWorker. Importing the kernels changes nothing."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def gpu_unavailable_reason() -> str | None:
    """Why the CUDA backend cannot run here, or ``None`` when a CUDA device is usable."""
    try:
        from threadx.kernels.gpu import import_cuda

        cuda = import_cuda()
    except ImportError as exc:
        return (
            f"numba-cuda is not installed ({exc}); install the 'gpu' extra "
            "(pip install 'threadx[gpu]')"
        )
    try:
        if cuda.is_available():
            return None
        from numba.cuda.cudadrv.driver import driver

        driver.cuInit  # noqa: B018 -- forces driver initialisation, raising why it failed
    except Exception as exc:  # CudaSupportError and friends: report the driver's own words
        text = " ".join(str(exc).split()).rstrip(" :")
        return f"no usable CUDA driver: {text}"
    try:
        count = len(cuda.gpus)
    except Exception as exc:
        return f"no usable CUDA device: {' '.join(str(exc).split())}"
    if count == 0:
        return "the CUDA driver reports no GPU device"
    return "a CUDA device is present but numba-cuda reports it unusable (cuda.is_available() False)"


def resolve_backend(name: str = "auto") -> str:
    """Resolve ``"auto" | "cpu" | "gpu"`` to ``"cpu"`` or ``"gpu"``.

    ``"auto"`` picks the GPU when a CUDA device is usable, else the CPU; ``"gpu"`` without a usable
    device raises :class:`RuntimeError` saying why (numba-cuda missing, no driver, no device).
    """
    key = str(name).strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"backend {name!r}: must be one of {', '.join(BACKENDS)}")
    if key == "cpu":
        return "cpu"
    reason = gpu_unavailable_reason()
    if key == "gpu":
        if reason is not None:
            raise RuntimeError(f"backend 'gpu' requested but CUDA is not usable: {reason}")
        return "gpu"
    return "cpu" if reason is not None else "gpu"


def crossing_bank(packed: PackedSweep) -> tuple[np.ndarray, np.ndarray]:
    """``(cross_bits, cross_row)`` of ``packed``'s combinations (host side, compiled CPU code;
    :func:`threadx.kernels.crossing.crossing_bank`), for :func:`run_sweep`'s ``cross``."""
    from threadx.kernels.crossing import crossing_bank as bank

    return bank(packed)


def run_sweep(
    packed: PackedSweep,
    times_first_ns: int,
    times_last_ns: int,
    bar_minutes: float,
    backend: str = "auto",
    blocks: int = DEFAULT_BLOCKS,
    cross: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``out[n_combos, out_width(blocks)]`` on the resolved backend: the metrics (columns
    :data:`OUT_NAMES`), then :data:`STAT_NAMES`, then the ``blocks`` block return sums
    (:func:`out_names` gives every column's name). ``cross``: the combinations' crossing bank
    (:func:`threadx.kernels.crossing.crossing_bank`) when the caller built it already."""
    if resolve_backend(backend) == "gpu":
        from threadx.kernels.gpu import run_sweep_gpu

        return run_sweep_gpu(packed, times_first_ns, times_last_ns, bar_minutes, blocks, cross)
    from threadx.kernels.cpu import run_sweep_cpu

    return run_sweep_cpu(packed, times_first_ns, times_last_ns, bar_minutes, blocks, cross)
