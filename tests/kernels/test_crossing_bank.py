"""The CPU/GPU kernels' crossing bank: bits of the band crossings per distinct Bollinger setting."""

from __future__ import annotations

import numpy as np
import pytest

from threadx.kernels import layout as L
from threadx.kernels.crossing import crossing_bank
from threadx.strategy.pack import pack


def _bars(n: int, seed: int = 11) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-3, n)))
    if n > 260:
        close[200:260] = close[199]  # a flat stretch: sd = 0, bands = close, no crossing
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    return open_, high, low, close


def _expected(close, middle, sd, k, direction) -> np.ndarray:
    """Crossings by the definition (STRATEGY.md "Signals"), one bool per bar."""
    lower, upper = middle - k * sd, middle + k * sd
    with np.errstate(invalid="ignore"):
        long = (close < lower) & ~(np.r_[False, close[:-1] < lower[:-1]])
        short = (close > upper) & ~(np.r_[False, close[:-1] > upper[:-1]])
    defined = ~np.isnan(middle) & ~np.isnan(np.r_[np.nan, middle[:-1]])
    long &= defined & (direction >= 0)
    short &= defined & (direction <= 0)
    return long | short


def _unpack(words: np.ndarray, n: int) -> np.ndarray:
    bits = np.unpackbits(words.astype("<u8").view(np.uint8), bitorder="little").astype(bool)
    assert not bits[n:].any()  # nothing past the last bar
    return bits[:n]


@pytest.mark.parametrize("n", [2, 63, 64, 65, 1000])
def test_crossing_bits_are_the_band_crossings(n: int) -> None:
    combos = [
        {"bb_period": p, "bb_std": k, "direction": d, "atr_multiplier": m}
        for p in (2, 20)
        for k in (0.5, 2.0)
        for d in ("both", "long", "short")
        for m in (1.0, 2.0)
    ]
    packed = pack(combos, *_bars(n))
    bits, rows = crossing_bank(packed)
    assert bits.dtype == np.uint64 and bits.shape == (2 * 2 * 3, (n + 63) // 64)
    assert rows.dtype == np.int64 and rows.shape == (len(combos),)
    P = packed.params
    for i, c in enumerate(combos):
        j = int(P[i, L.C_BB_IDX])
        want = _expected(
            packed.close,
            packed.middle[j],
            packed.sd[j],
            c["bb_std"],
            L.DIRECTION_CODES[c["direction"]],
        )
        np.testing.assert_array_equal(_unpack(bits[rows[i]], n), want)
    # combinations differing only in atr_multiplier share their row; nothing else does
    assert (rows[0::2] == rows[1::2]).all() and len(set(rows[0::2].tolist())) == len(combos) // 2


def test_crossing_bank_of_no_combination_and_of_a_chunk() -> None:
    packed = pack([{"bb_period": 5}, {"bb_period": 7, "direction": "short"}], *_bars(300))
    bits, rows = crossing_bank(packed.take(slice(0, 0)))
    assert bits.shape == (0, 5) and rows.shape == (0,)
    whole, whole_rows = crossing_bank(packed)
    part, part_rows = crossing_bank(packed.take(slice(1, 2)))
    np.testing.assert_array_equal(part[part_rows[0]], whole[whole_rows[1]])
