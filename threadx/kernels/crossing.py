"""The crossing bank of the sweep kernels: the band crossings as bits, built once per sweep.

One row per distinct ``(bb_period, bb_std, direction)``, one bit per bar: memory bars x distinct
Bollinger settings / 64 words, never bars x combinations. Built on the host with compiled CPU code
and read by both kernels (:mod:`threadx.kernels.cpu`, :mod:`threadx.kernels.gpu`): the very
comparisons the reference makes per bar, evaluated once per setting instead of once per
combination.
"""

from __future__ import annotations

import numba
import numpy as np

from threadx.kernels.layout import C_BB_IDX, C_BB_STD, C_DIRECTION, PackedSweep

_u = np.uint64  # unsigned indices: no negative-index wrap-around code in the hot loops


@numba.njit(inline="always")
def _crossing(cl, mid_r, sd_r, k, allow_long, allow_short, x):
    """Bar ``x >= 1`` crosses out of the bands ``mid_r +- k * sd_r`` (a side ``allow_*`` lets
    through): the very expressions the kernel's scan used to evaluate per bar per combination."""
    y = x - _u(1)
    c = cl[x]
    m = mid_r[x]
    dev = k * sd_r[x]
    cp = cl[y]
    mp = mid_r[y]
    devp = k * sd_r[y]
    # a NaN band compares False: no crossing where a band is undefined at x or x - 1
    return ((c < m - dev) & (cp >= mp - devp) & allow_long) | (
        (c > m + dev) & (cp <= mp + devp) & allow_short
    )


@numba.njit(parallel=True, cache=True, nogil=True)
def _crossing_rows(cl, middle, sd, bb_idx, k, direction, bits):
    """Row ``r`` of ``bits``: bit ``t % 64`` of word ``t // 64`` is set when bar ``t >= 1`` is a
    crossing (:func:`_crossing`) of the bands ``middle[bb_idx[r]] +- k[r] * sd[bb_idx[r]]`` on a
    side that ``direction[r]`` allows."""
    n = cl.shape[0]
    inner = n // 64  # words 1 .. inner - 1 hold bars 64 .. 64 * inner - 1, all in [1, n)
    for r in numba.prange(bits.shape[0]):
        mid_r = middle[bb_idx[r]]
        sd_r = sd[bb_idx[r]]
        kr = k[r]
        allow_long = direction[r] >= 0
        allow_short = direction[r] <= 0
        for wi in range(bits.shape[1]):
            word = _u(0)
            base = _u(wi * 64)
            if wi >= 1 and wi < inner:
                for j in range(64):  # no bound test: vectorised
                    x = base + _u(j)
                    cross = _crossing(cl, mid_r, sd_r, kr, allow_long, allow_short, x)
                    word |= _u(cross) << _u(j)
            else:
                for j in range(64):
                    x = base + _u(j)
                    if x >= _u(1) and x < _u(n):
                        cross = _crossing(cl, mid_r, sd_r, kr, allow_long, allow_short, x)
                        word |= _u(cross) << _u(j)
            bits[r, wi] = word


def crossing_bank(packed: PackedSweep) -> tuple[np.ndarray, np.ndarray]:
    """``(cross_bits, cross_row)`` for the kernels: ``cross_bits[r]`` holds the crossings (long
    below the lower band, short above the upper band, the sides the direction allows) of one
    distinct ``(bb_period, bb_std, direction)`` as bits (``uint64``, bar ``t`` = bit ``t % 64``
    of word ``t // 64``); ``cross_row[i]`` is combination ``i``'s row. Readiness, the trend
    filter and spacing stay in the kernel."""
    P = packed.params
    n_words = (packed.n_bars + 63) // 64
    if P.shape[0] == 0:
        return np.zeros((0, n_words), dtype=np.uint64), np.zeros(0, dtype=np.int64)
    stds, std_code = np.unique(P[:, C_BB_STD], return_inverse=True)
    code = (P[:, C_BB_IDX].astype(np.int64) * len(stds) + std_code.reshape(-1)) * 3 + (
        P[:, C_DIRECTION].astype(np.int64) + 1
    )
    keys, cross_row = np.unique(code, return_inverse=True)
    direction = keys % 3 - 1
    bb_idx = keys // 3 // len(stds)
    k = stds[keys // 3 % len(stds)]
    bits = np.empty((len(keys), n_words), dtype=np.uint64)
    _crossing_rows(packed.close, packed.middle, packed.sd, bb_idx, k, direction, bits)
    return bits, np.ascontiguousarray(cross_row.reshape(-1), dtype=np.int64)
