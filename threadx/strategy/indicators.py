"""Indicators of the BB+ATR strategy: the oracle every fast kernel is checked against.

Every formula is the one written in ``STRATEGY.md`` ("Indicators"); nothing here knows about
pandas, parameters models or positions. All functions take and return float64 1-D arrays.

Numerical stability (STRATEGY.md: "rolling sums over long series must not drift"): there is no
running sum at all. Windows are grouped in blocks of ``n`` that share a pivot value; every window
sum is accumulated outwards from its block's pivot over the window's own values only, on values
centred at the pivot (see :func:`rolling_mean_std`). Errors cannot accumulate along the series and
a window of identical values has ``sd = 0`` and ``middle = value`` exactly.

The two recursive filters (EMA, Wilder ATR) cannot be vectorised in numpy; they run as a plain
loop compiled with ``numba.njit(cache=True)`` on first use (numba is imported lazily, so importing
this module costs only numpy).
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "ATR_METHODS",
    "Bollinger",
    "atr",
    "bollinger",
    "ema",
    "rolling_mean_std",
    "true_range",
    "zscore",
]

ATR_METHODS: tuple[str, ...] = ("ema", "sma", "wilder")


class Bollinger(NamedTuple):
    """Bollinger bands: ``middle`` (SMA), ``upper/lower = middle ± k·sd``, ``sd`` (ddof = 0)."""

    middle: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    sd: np.ndarray


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _as_1d(x: object, name: str) -> np.ndarray:
    """Return ``x`` as a float64 1-D array (no copy when it already is one)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def _check_period(value: object, name: str, minimum: int) -> int:
    """Validate an integer window parameter; the error names the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: a.size for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"arrays must have the same length, got {lengths}")
    return next(iter(lengths.values()))


# --------------------------------------------------------------------------------------------
# rolling mean / standard deviation
# --------------------------------------------------------------------------------------------


def _pivot_sums(values: np.ndarray, n: int) -> np.ndarray:
    """Window sums for rows of ``2n − 1`` values whose ``n`` windows all contain column ``n − 1``.

    ``result[b, j] = values[b, j] + ... + values[b, j + n − 1]`` for ``j = 0 .. n − 1``, formed as
    (sum of columns ``j .. n−1``, accumulated from the pivot leftwards) + (sum of columns
    ``n .. j+n−1``, accumulated from the pivot rightwards). Each window sum therefore adds only
    the window's own values: nothing is subtracted, so there is no cancellation and no drift.
    """
    rows = values.shape[0]
    left = np.cumsum(values[:, n - 1 :: -1], axis=1)[:, ::-1]  # left[:, j] = Σ cols j..n−1
    right = np.zeros((rows, n), dtype=np.float64)
    np.cumsum(values[:, n:], axis=1, out=right[:, 1:])  # right[:, j] = Σ cols n..j+n−1
    return left + right


def _rolling_mean_std_numpy(x: np.ndarray, n: int, mean: np.ndarray, std: np.ndarray) -> None:
    """The pivot-block algorithm of :func:`rolling_mean_std` in numpy (reference of the compiled
    :func:`_rolling_mean_std_py`, which gives bit-identical values; kept for the tests)."""
    size = x.size
    n_windows = size - n + 1
    n_blocks = -(-n_windows // n)
    padded = np.empty(n_blocks * n + n - 1, dtype=np.float64)
    padded[:size] = x
    padded[size:] = x[-1]  # padding only ever feeds windows past the end, which are discarded
    segments = sliding_window_view(padded, 2 * n - 1)[::n]  # (n_blocks, 2n − 1)
    pivot = segments[:, n - 1 : n]
    shifted = segments - pivot
    m1 = _pivot_sums(shifted, n) / n
    var = _pivot_sums(shifted * shifted, n) / n - m1 * m1
    np.maximum(var, 0.0, out=var)
    mean[n - 1 :] = (pivot + m1).ravel()[:n_windows]
    std[n - 1 :] = np.sqrt(var).ravel()[:n_windows]


def _rolling_mean_std_py(x: np.ndarray, n: int, mean: np.ndarray, std: np.ndarray) -> None:
    """One pass of the pivot-block algorithm (executed through ``numba.njit(cache=True)``):
    ``mean[t]``, ``std[t]`` for every full window ``t >= n − 1`` (the rest is left untouched).

    Block ``b`` holds windows ``w = b·n .. b·n + n − 1`` (window ``w`` ends at ``t = w + n − 1``),
    all containing the pivot ``c = x[b·n + n − 1]``. The sums of ``y = x − c`` and ``y²`` are
    accumulated from the pivot leftwards (``left[j] = Σ y[b·n + j .. b·n + n − 1]``, stored) and
    rightwards (``right = Σ y[b·n + n .. w + n − 1]``, running), in the very order and with the
    very operations of :func:`_rolling_mean_std_numpy` (sequential ``cumsum``), so the values are
    bit-identical to it.
    """
    u = np.uint64  # unsigned indices: no negative-index wrap-around code, so loops vectorise
    n_windows = x.shape[0] - n + 1
    left1 = np.empty(n)
    left2 = np.empty(n)
    un = u(n)
    fn = float(n)
    for b0 in range(0, n_windows, n):
        p = u(b0) + un - u(1)  # the pivot; window b0 + j ends at p + j
        c = x[p]
        a1 = 0.0
        a2 = 0.0
        for i in range(n):  # j = n − 1 .. 0
            j = un - u(1) - u(i)
            y = x[p - u(i)] - c
            a1 += y
            a2 += y * y
            left1[j] = a1
            left2[j] = a2
        r1 = 0.0
        r2 = 0.0
        m = u(min(n, n_windows - b0))  # windows of this block (the last block may be short)
        for j in range(u(1), m):
            y = x[p + j] - c
            r1 += y
            r2 += y * y
            left1[j] += r1  # now the window sums
            left2[j] += r2
        for j in range(m):  # no dependency between windows: vectorised divisions and roots
            m1 = left1[j] / fn
            var = left2[j] / fn - m1 * m1
            if var < 0.0:  # NaN stays NaN, like np.maximum
                var = 0.0
            mean[p + j] = c + m1
            std[p + j] = math.sqrt(var)


@functools.cache
def _rolling_mean_std_nb() -> Callable[[np.ndarray, int, np.ndarray, np.ndarray], None]:
    """The compiled pivot-block pass (numba is imported on first use only; ``nogil``, so bank
    rows of several periods can be computed in parallel threads)."""
    import numba

    return numba.njit(cache=True, nogil=True)(_rolling_mean_std_py)


def rolling_mean_std(
    x: np.ndarray, n: int, out: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and population standard deviation (ddof = 0) over the last ``n`` values.

    ``mean[t]`` and ``std[t]`` describe ``x[t-n+1 .. t]``; the first ``n − 1`` values are NaN.

    O(len(x)) work, stable on arbitrarily long series: the windows are cut into blocks of ``n``
    consecutive windows; the windows of one block all contain the same *pivot* value ``c`` (the
    last value of the block's first window). Values are shifted, ``y = x − c``, and each window's
    ``S1 = Σy`` and ``S2 = Σy²`` are summed outwards from the pivot (see :func:`_pivot_sums`):
    nothing is subtracted, so there is no cancellation and no drift. Then ``mean = c + S1/n`` and
    ``var = S2/n − (S1/n)²``. Because ``c`` lies inside the window, ``(mean − c)² ≤ (n − 1)·var``,
    which bounds the cancellation in ``var`` by a factor ``n``; a window of identical values gives
    ``y = 0`` exactly, hence ``sd = 0`` and ``mean = value`` exactly. Nothing carries from one
    block to the next, so results at ``t`` never depend on values after ``t`` (not even through
    rounding). Computed in one compiled pass (:func:`_rolling_mean_std_py`), bit-identical to the
    numpy formulation :func:`_rolling_mean_std_numpy`.

    ``out = (mean, std)``: write into these float64 arrays of ``len(x)`` (e.g. rows of an
    indicator bank) instead of new ones, and return them.
    """
    x = _as_1d(x, "x")
    n = _check_period(n, "n", 1)
    if out is None:
        mean, std = np.empty(x.size), np.empty(x.size)
    else:
        mean, std = out
        for a in out:
            if not (isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == x.shape):
                raise ValueError(f"out must be two float64 arrays of shape {x.shape}")
    head = min(n - 1, x.size)
    mean[:head] = np.nan
    std[:head] = np.nan
    if x.size - n + 1 > 0:
        _rolling_mean_std_nb()(np.ascontiguousarray(x), n, mean, std)
    return mean, std


def bollinger(close: np.ndarray, period: int, k: float) -> Bollinger:
    """Bollinger bands (STRATEGY.md "Indicators"): SMA ``middle``, population ``sd``,
    ``upper/lower = middle ± k·sd``; the first ``period - 1`` values are NaN."""
    period = _check_period(period, "period", 2)
    if isinstance(k, bool) or not isinstance(k, numbers.Real) or not math.isfinite(k) or k <= 0:
        raise ValueError(f"k must be a finite number > 0, got {k!r}")
    middle, sd = rolling_mean_std(close, period)
    k = float(k)
    return Bollinger(middle, middle + k * sd, middle - k * sd, sd)


def zscore(close: np.ndarray, middle: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``z = (close - middle) / sd``; NaN where ``sd == 0`` or undefined (display only)."""
    close, middle, sd = _as_1d(close, "close"), _as_1d(middle, "middle"), _as_1d(sd, "sd")
    _same_length(close=close, middle=middle, sd=sd)
    z = np.full(close.size, np.nan)
    ok = sd > 0  # False for NaN as well
    z[ok] = (close[ok] - middle[ok]) / sd[ok]
    return z


# --------------------------------------------------------------------------------------------
# true range, recursions, ATR, EMA
# --------------------------------------------------------------------------------------------


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """``TR[t] = max(high − low, |high − prev_close|, |low − prev_close|)``,
    ``prev_close[0] = close[0]``."""
    high, low, close = _as_1d(high, "high"), _as_1d(low, "low"), _as_1d(close, "close")
    size = _same_length(high=high, low=low, close=close)
    if size == 0:
        return np.empty(0, dtype=np.float64)
    prev_close = np.empty(size, dtype=np.float64)
    prev_close[0] = close[0]
    prev_close[1:] = close[:-1]
    return np.maximum(high - low, np.maximum(np.abs(high - prev_close), np.abs(low - prev_close)))


def _linear_recursion_py(
    x: np.ndarray, alpha: float, start: int, seed: float, out: np.ndarray
) -> None:
    """``out[start] = seed``; ``out[t] = alpha·x[t] + (1 − alpha)·out[t−1]`` for ``t > start``.

    Plain Python so that it reads as the formula; executed through ``numba.njit(cache=True)``.
    """
    out[start] = seed
    for t in range(start + 1, x.size):
        out[t] = alpha * x[t] + (1.0 - alpha) * out[t - 1]


@functools.cache
def _linear_recursion() -> Callable[[np.ndarray, float, int, float, np.ndarray], None]:
    """The compiled recursion (numba is imported on first use only)."""
    import numba

    return numba.njit(cache=True)(_linear_recursion_py)


def _recursive_filter(x: np.ndarray, alpha: float, start: int, seed: float) -> np.ndarray:
    """NaN before ``start``, ``seed`` at ``start``, then the α-recursion on ``x``."""
    out = np.full(x.size, np.nan)
    if start < x.size:
        _linear_recursion()(np.ascontiguousarray(x), float(alpha), int(start), float(seed), out)
    return out


def ema(x: np.ndarray, period: int) -> np.ndarray:
    """Exponential moving average (the trend filter, STRATEGY.md "Precise points"):
    ``EMA[0] = x[0]``, ``EMA[t] = α·x[t] + (1 − α)·EMA[t−1]``, ``α = 2/(period + 1)``; no NaN."""
    x = _as_1d(x, "x")
    period = _check_period(period, "period", 1)
    if x.size == 0:
        return np.empty(0, dtype=np.float64)
    return _recursive_filter(x, 2.0 / (period + 1), 0, x[0])


def atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, method: str = "ema"
) -> np.ndarray:
    """Average true range (STRATEGY.md "Indicators", period ``m``):

    * ``ema``: ``ATR[0] = TR[0]``, then ``α = 2/(m+1)``; no NaN.
    * ``sma``: mean of the last ``m`` TR values; first ``m − 1`` NaN.
    * ``wilder`` (TA-Lib's ATR): NaN for ``t < m``; ``ATR[m] = mean(TR[1..m])``; then ``α = 1/m``.
    """
    period = _check_period(period, "period", 1)
    if method not in ATR_METHODS:
        raise ValueError(f"method must be one of {list(ATR_METHODS)}, got {method!r}")
    tr = true_range(high, low, close)
    if tr.size == 0:
        return tr
    if method == "ema":
        return _recursive_filter(tr, 2.0 / (period + 1), 0, tr[0])
    if method == "sma":
        return rolling_mean_std(tr, period)[0]
    if tr.size <= period:
        return np.full(tr.size, np.nan)
    seed = math.fsum(tr[1 : period + 1]) / period
    return _recursive_filter(tr, 1.0 / period, period, seed)
