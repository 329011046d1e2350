"""Fused BB+ATR sweep kernel on an NVIDIA GPU (numba-cuda), one thread per combination.

The per-combination body is :func:`threadx.kernels.cpu.simulate_one`, the same Python source the
CPU kernel compiles, compiled here with ``numba.cuda.jit(device=True)``: the twins cannot drift.

Data flow of :func:`run_sweep_gpu`: the bars and the indicator banks (computed on the host by
:func:`threadx.strategy.pack.pack` with :mod:`threadx.strategy.indicators`; a cupy twin of the
indicators may later compute them on the device) are uploaded once per call, with the crossing bank
of the kernels (:mod:`threadx.kernels.crossing`, built on the host) and the parameter matrix,
and only ``out[n_combos, out_width(blocks)]`` comes back -- never a per-bar matrix of
combinations.

Rounding: NVVM contracts ``a * b + c`` into fused multiply-adds by default (numba-cuda exposes no
switch for it yet), so GPU metrics agree with the CPU's to rounding (~1e-15 relative), not bit for
bit; a discrete decision (band crossing, stop touch, ruin) could only differ at an exact tie.
The tests compare GPU and CPU with the same tolerance as CPU and reference (1e-9 relative).

``numba.cuda`` is imported lazily, inside functions: importing this module never needs CUDA.
Use :func:`threadx.kernels.resolve_backend` to decide whether the GPU can be used.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from threadx.kernels.layout import DEFAULT_BLOCKS, PackedSweep, finalisation_constants, out_width

THREADS_PER_BLOCK = 128

_lock = threading.Lock()
_kernel: Any = None
# Bound by _build_kernel(): ``numba.cuda`` and the device-compiled body. The kernel reads them as
# module globals (not closure cells) so that numba's CUDA simulator, which swaps the ``cuda``
# module in a kernel's globals, can run it too (NUMBA_ENABLE_CUDASIM=1, used by the tests).
_cuda: Any = None
_body: Any = None


def import_cuda() -> Any:
    """``numba.cuda``, imported on first use (numpy 2.5 removed ``np.row_stack``, which some
    numba-cuda releases still reference at import)."""
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    from numba import cuda

    return cuda


def _build_kernel() -> Any:
    global _cuda, _body
    _cuda = import_cuda()
    from threadx.kernels.cpu import simulate_one

    _body = _cuda.jit(device=True)(simulate_one)

    def sweep_kernel(
        op, hi, lo, cl, middle, sd, atr, trend, cross_bits, cross_row, P, out, cagr_exp, sqrt_ppy
    ):
        i = _cuda.grid(1)
        if i < P.shape[0]:
            _body(
                i,
                op,
                hi,
                lo,
                cl,
                middle,
                sd,
                atr,
                trend,
                cross_bits,
                cross_row,
                P,
                out,
                cagr_exp,
                sqrt_ppy,
            )

    return _cuda.jit(sweep_kernel)


def _get_kernel() -> Any:
    """The compiled CUDA sweep kernel (built once per process, thread-safe)."""
    global _kernel
    with _lock:
        if _kernel is None:
            _kernel = _build_kernel()
        return _kernel


def run_sweep_gpu(
    packed: PackedSweep,
    times_first_ns: int,
    times_last_ns: int,
    bar_minutes: float,
    blocks: int = DEFAULT_BLOCKS,
    cross: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """GPU twin of :func:`threadx.kernels.cpu.run_sweep_cpu` (same arguments, same result)."""
    cagr_exp, sqrt_ppy = finalisation_constants(times_first_ns, times_last_ns, bar_minutes)
    m = packed.n_combos
    width = out_width(blocks)
    if m == 0:
        return np.empty((0, width), dtype=np.float64)
    cuda = import_cuda()
    kernel = _get_kernel()
    stream = cuda.stream()
    from threadx.kernels.crossing import crossing_bank  # numba CPU code, no CUDA

    host = list(packed.kernel_arrays(crossing_bank(packed) if cross is None else cross))
    if host[7].shape[0] == 0:  # no trend filter in this sweep: a 1-row dummy, never indexed
        host[7] = np.zeros((1, packed.n_bars), dtype=np.float64)
    dev = [cuda.to_device(np.ascontiguousarray(a), stream=stream) for a in host]
    d_out = cuda.device_array((m, width), dtype=np.float64, stream=stream)
    blocks = (m + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK
    kernel[blocks, THREADS_PER_BLOCK, stream](*dev, d_out, cagr_exp, sqrt_ppy)
    out = d_out.copy_to_host(stream=stream)
    stream.synchronize()
    return out
