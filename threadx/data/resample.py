"""Timeframes and resampling from the 1-minute truth (or from a stored coarser timeframe that
divides the target: imported old data, :mod:`threadx.data.timeframes`).

Buckets are left-closed and left-labelled in UTC: the bar labelled 10:00 of a 1h series aggregates
the minutes 10:00 .. 10:59. Days start at 00:00 UTC; weeks start on Monday 00:00 UTC (as exchange
weekly klines do). Aggregation: open first, high max, low min, close last, volume sum (correctly
rounded, math.fsum). Missing minutes are simply absent (bars are positional); an empty bucket
produces no bar. The last bucket is *partial* when the data ends before the bucket does: it is kept
and flagged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.units import MINUTES_PER_DAY, MINUTES_PER_WEEK, NS_PER_MINUTE
from threadx.core.utc import utc_index
from threadx.data.schema import COLUMNS, INDEX_NAME

TIMEFRAMES: dict[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "3h": 180,  # not served by Binance (the predecessor derived it): resampled only
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": MINUTES_PER_DAY,
    "1w": MINUTES_PER_WEEK,
}
# Monday 1970-01-05 00:00 UTC, in minutes since the epoch: the origin of weekly buckets.
_WEEK_ORIGIN_MIN = 4 * MINUTES_PER_DAY


def timeframe_minutes(tf: str) -> int:
    """Minutes per bar of a timeframe string. Month ('1M') is refused, never read as minutes."""
    if not isinstance(tf, str) or not tf:
        raise DataError(f"timeframe {tf!r}: must be one of {', '.join(TIMEFRAMES)}")
    if tf.endswith("M") or tf.lower().endswith(("mo", "mon", "month")):
        raise DataError(
            f"timeframe {tf!r}: months are not supported ('M' is month, minutes are 'm'); "
            f"use one of {', '.join(TIMEFRAMES)}"
        )
    key = tf[:-1] + tf[-1].lower()
    if key not in TIMEFRAMES:
        raise DataError(f"timeframe {tf!r}: unknown; use one of {', '.join(TIMEFRAMES)}")
    return TIMEFRAMES[key]


def normalize_timeframe(tf: str) -> str:
    minutes = timeframe_minutes(tf)
    return next(k for k, v in TIMEFRAMES.items() if v == minutes)


@dataclass(frozen=True)
class Resampled:
    frame: pd.DataFrame  # schema frame of the target timeframe
    timeframe: str
    minutes_per_bar: np.ndarray  # how many minutes (1m bars, or source bars x width) each holds
    partial_last: bool  # the last bucket extends past the end of the data

    @property
    def incomplete(self) -> np.ndarray:
        """Bars aggregating fewer 1m bars than the timeframe has minutes (gaps or partial end)."""
        return self.minutes_per_bar < timeframe_minutes(self.timeframe)


def bucket_starts_min(minutes: np.ndarray, width: int) -> np.ndarray:
    """Left edge (minutes since epoch) of each timestamp's bucket."""
    origin = _WEEK_ORIGIN_MIN if width == TIMEFRAMES["1w"] else 0
    return (minutes - origin) // width * width + origin


def _bucket_fsum_py(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> None:
    """``out[k] = math.fsum(x[starts[k]:ends[k]])`` for finite ``x``: CPython's algorithm
    (Shewchuk's non-overlapping partials, then the round-half-even correction of the last
    partials), so the very same correctly rounded double. Compiled by :func:`bucket_fsum`."""
    partials = np.empty(64)  # non-overlapping partials of finite doubles: at most ~40
    for k in range(starts.shape[0]):
        n = 0
        for j in range(starts[k], ends[k]):
            v = x[j]
            i = 0
            for m in range(n):
                y = partials[m]
                if abs(v) < abs(y):
                    v, y = y, v
                hi = v + y
                lo = y - (hi - v)
                if lo != 0.0:
                    partials[i] = lo
                    i += 1
                v = hi
            n = i
            if v != 0.0:  # as CPython: a zero (or -0.0) sum is no partial
                partials[n] = v
                n += 1
        hi = 0.0
        if n > 0:
            n -= 1
            hi = partials[n]
            lo = 0.0
            while n > 0:
                v = hi
                n -= 1
                y = partials[n]
                hi = v + y
                yr = hi - v
                lo = y - yr
                if lo != 0.0:
                    break
            if n > 0 and (
                (lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)
            ):
                y = lo * 2.0
                v = hi + y
                yr = v - hi
                if y == yr:
                    hi = v
        out[k] = hi


@functools.cache
def _bucket_fsum_nb() -> Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], None]:
    import numba

    return numba.njit(cache=True, nogil=True)(_bucket_fsum_py)


def bucket_fsum(x: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Correctly rounded sum of each bucket ``x[starts[k]:ends[k]]`` of finite values, equal to
    ``math.fsum`` of it (compiled; about 30x faster than ``math.fsum`` per bucket in Python)."""
    out = np.empty(len(starts))
    _bucket_fsum_nb()(
        np.ascontiguousarray(x, dtype=np.float64),
        np.ascontiguousarray(starts, dtype=np.int64),
        np.ascontiguousarray(ends, dtype=np.int64),
        out,
    )
    return out


def check_multiple(timeframe: str, source: str, what: str = "bars") -> None:
    """Raise DataError unless ``timeframe`` is a whole multiple of ``source`` (the rule that lets
    bars of a stored timeframe be resampled: each target bucket is made of whole source bars)."""
    width, base = timeframe_minutes(timeframe), timeframe_minutes(source)
    if width % base:
        raise DataError(
            f"{what}: stored at {normalize_timeframe(source)}, cannot make "
            f"{normalize_timeframe(timeframe)} bars; rule 'a timeframe is built only from a "
            f"stored timeframe that divides it' (need 1m data or a divisor of {timeframe})"
        )


def resample(frame: pd.DataFrame, timeframe: str, source: str = "1m") -> Resampled:
    """Aggregate a schema frame of ``source`` bars (default: the 1-minute truth) to
    ``timeframe``, a whole multiple of it; source bars must sit on their own bucket starts."""
    width = timeframe_minutes(timeframe)
    tf = normalize_timeframe(timeframe)
    base = timeframe_minutes(source)
    check_multiple(timeframe, source)
    n = len(frame)
    if n == 0:
        return Resampled(frame.copy(), tf, np.zeros(0, dtype=np.int64), False)
    ns = frame.index.asi8
    if np.any(ns % NS_PER_MINUTE):
        raise DataError("resample: input timestamps must be whole minutes (1m bars)")
    minutes = ns // NS_PER_MINUTE
    if base > 1 and np.any(bucket_starts_min(minutes, base) != minutes):
        raise DataError(f"resample: input timestamps must be {source} bucket starts")
    if width == base:
        return Resampled(frame.copy(), tf, np.full(n, base, dtype=np.int64), False)
    buckets = bucket_starts_min(minutes, width)
    change = np.flatnonzero(np.diff(buckets)) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [n]))
    o, h, lo, c, v = (frame[k].to_numpy(dtype=np.float64) for k in COLUMNS)
    out = {
        "open": o[starts],
        "high": np.maximum.reduceat(h, starts),
        "low": np.minimum.reduceat(lo, starts),
        "close": c[ends - 1],
        # correctly rounded sums (math.fsum's result), independent of summation order
        "volume": bucket_fsum(v, starts, ends),
    }
    idx = utc_index(buckets[starts] * NS_PER_MINUTE, name=INDEX_NAME)
    res = pd.DataFrame(out, index=idx)[list(COLUMNS)]
    partial = bool(minutes[-1] + base - 1 < buckets[-1] + width - 1)
    return Resampled(res, tf, (ends - starts).astype(np.int64) * base, partial)
