"""Bars of one (symbol, timeframe) as plain arrays, ready for the kernels, with a fingerprint.

Loading applies the gap policy on the 1-minute truth first (fill <= 5 % missing, else keep gaps
only with ``allow_gaps``) and then resamples. The fingerprint hashes the index and every OHLCV
column, so any change of data gives a new run id and new cache keys.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from threadx.data.gaps import apply_gap_policy
from threadx.data.resample import resample, timeframe_minutes
from threadx.data.schema import COLUMNS
from threadx.data.store import OHLCVStore


@dataclass(frozen=True)
class Dataset:
    symbol: str
    exchange: str
    timeframe: str
    bar_minutes: int
    times_ns: np.ndarray  # int64, bar open times
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled_minutes: int
    missing_ratio: float
    gap_action: str
    fold: int | None = None  # a walk-forward fold's train slice (see window)

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    @property
    def key(self) -> str:
        return f"{self.exchange}/{self.symbol}/{self.timeframe}"

    def fingerprint(self) -> str:
        """Hash of the bars (index and every column); computed once per Dataset object (the
        arrays are never modified; :meth:`window` and ``dataclasses.replace`` make new objects,
        which hash their own arrays)."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            fp = frame_fingerprint(
                self.times_ns, self.open, self.high, self.low, self.close, self.volume
            )
            object.__setattr__(self, "_fingerprint", fp)
        return fp

    def window(self, start_ns: int, end_ns: int, fold: int | None = None) -> Dataset:
        """The bars lying wholly inside ``[start_ns, end_ns)`` (open time >= start and open time
        + bar length <= end) as a dataset of their own: own arrays, own fingerprint."""
        bar_ns = self.bar_minutes * 60_000_000_000
        lo = int(np.searchsorted(self.times_ns, start_ns, side="left"))
        hi = max(lo, int(np.searchsorted(self.times_ns, end_ns - bar_ns, side="right")))
        cols = ("times_ns", "open", "high", "low", "close", "volume")
        return dataclasses.replace(
            self, fold=fold, **{c: getattr(self, c)[lo:hi].copy() for c in cols}
        )

    def to_frame(self) -> pd.DataFrame:
        idx = pd.DatetimeIndex(pd.to_datetime(self.times_ns, unit="ns", utc=True), name="time")
        return pd.DataFrame(
            dict(
                zip(COLUMNS, (self.open, self.high, self.low, self.close, self.volume), strict=True)
            ),
            index=idx,
        )

    def describe(self) -> dict[str, object]:
        return {
            "symbol": self.symbol, "exchange": self.exchange, "timeframe": self.timeframe,
            "bars": self.n_bars, "first": str(pd.Timestamp(int(self.times_ns[0]), tz="UTC")),
            "last": str(pd.Timestamp(int(self.times_ns[-1]), tz="UTC")),
            "fingerprint": self.fingerprint(), "gap_action": self.gap_action,
            "filled_minutes": self.filled_minutes, "missing_ratio": self.missing_ratio,
        }  # fmt: skip


def frame_fingerprint(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(memoryview(a).cast("B"))  # no copy
    return h.hexdigest()


def dataset_from_frame(
    frame: pd.DataFrame, symbol: str, exchange: str, timeframe: str, *, allow_gaps: bool = False
) -> Dataset:
    """Gap policy on a 1-minute frame, then resampling to ``timeframe``."""
    pol = apply_gap_policy(frame, allow_gaps=allow_gaps, what=f"{exchange}/{symbol}")
    bars = resample(pol.frame, timeframe).frame
    if len(bars) < 2:
        from threadx.errors import DataError

        raise DataError(f"{exchange}/{symbol} {timeframe}: {len(bars)} bar(s); at least 2 needed")
    return Dataset(
        symbol=symbol, exchange=exchange, timeframe=timeframe,
        # resample made these arrays (a copy even at 1m): no further copy
        bar_minutes=timeframe_minutes(timeframe), times_ns=_own(bars.index.asi8),
        open=_own(bars["open"].to_numpy()), high=_own(bars["high"].to_numpy()),
        low=_own(bars["low"].to_numpy()), close=_own(bars["close"].to_numpy()),
        volume=_own(bars["volume"].to_numpy()), filled_minutes=int(pol.filled.sum()),
        missing_ratio=pol.report.missing_ratio, gap_action=pol.action,
    )  # fmt: skip


def _own(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous array (copied only when it is not)."""
    return np.ascontiguousarray(a)


def load_dataset(
    store: OHLCVStore,
    symbol: str,
    timeframe: str,
    *,
    exchange: str | None = None,
    start: str | None = None,
    end: str | None = None,
    allow_gaps: bool = False,
) -> Dataset:
    exchange = store.resolve_exchange(symbol, exchange)
    frame = store.read(symbol, exchange, start, end)
    return dataset_from_frame(frame, symbol, exchange, timeframe, allow_gaps=allow_gaps)
