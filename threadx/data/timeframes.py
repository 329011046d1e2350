"""Old data at any timeframe: which stored timeframe serves a request, and how imported coarser
bars compare with the 1-minute truth where both exist.

Bars imported at a timeframe above 1m (the predecessor's 15m/1h/4h files) are stored as that
timeframe's own data (:class:`threadx.data.store.OHLCVStore`, ``timeframe=``), never as 1m. A
request for ``timeframe`` over a window is served by exactly one source:

1. **1m wins**: the 1m truth when it has bars in the window and its span there covers every
   stored coarser timeframe that could serve the request (so those add no bar it lacks);
2. else the coarsest stored timeframe that divides ``timeframe`` (resampled from it with the
   same bucket rules, :func:`threadx.data.resample.resample`);
3. else the 1m truth if it has bars in the window at all;
4. else a one-line DataError naming the symbol, the stored timeframes and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.utc import as_utc
from threadx.data.resample import TIMEFRAMES, resample, timeframe_minutes
from threadx.data.schema import COLUMNS
from threadx.data.store import TRUTH, OHLCVStore

REL_TOL = 1e-9  # relative difference below which two bars' values count as the same
Span = tuple[pd.Timestamp, pd.Timestamp]


def stored_timeframes(store: OHLCVStore, exchange: str, symbol: str) -> list[str]:
    """The timeframes with month files of ``symbol`` (1m first, then coarser)."""
    base = store.symbol_dir(exchange, symbol).parent
    if not base.is_dir():
        return []
    names = {d.name for d in base.iterdir() if d.is_dir() and any(d.glob("*.parquet"))}
    return [tf for tf in TIMEFRAMES if tf in names]


def _clip(span: Span, width: int, start: pd.Timestamp | None, end: pd.Timestamp | None) -> Span:
    """The minutes ``[first, last]`` that a span of bars ``width`` wide covers inside the window."""
    first, last = span[0], span[1] + pd.Timedelta(minutes=width - 1)
    if start is not None:
        first = max(first, start)
    if end is not None:
        last = min(last, end - pd.Timedelta(minutes=1))
    return first, last


def choose_source(
    store: OHLCVStore,
    symbol: str,
    exchange: str,
    timeframe: str,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
) -> str:
    """The stored timeframe that serves ``timeframe`` bars of ``symbol`` in [start, end) (see the
    module docstring for the rule); ``"1m"`` whenever only 1m is stored."""
    stored = stored_timeframes(store, exchange, symbol)
    if stored in ([], [TRUTH]):
        return TRUTH
    width = timeframe_minutes(timeframe)
    lo, hi = (None if t is None else as_utc(t) for t in (start, end))
    spans = {
        tf: _clip(span, timeframe_minutes(tf), lo, hi)
        for tf, span in store.spans(exchange, symbol).items()
        if tf in stored
    }
    spans = {tf: s for tf, s in spans.items() if s[0] <= s[1]}  # bars inside the window
    able = [tf for tf in spans if tf != TRUTH and width % timeframe_minutes(tf) == 0]
    truth = spans.get(TRUTH)
    if truth is not None and all(truth[0] <= spans[t][0] and spans[t][1] <= truth[1] for t in able):
        return TRUTH
    if able:
        return max(able, key=timeframe_minutes)
    if truth is not None or not spans:
        return TRUTH  # the 1m path (its usual errors when the window holds nothing)
    have = ", ".join(spans)
    raise DataError(
        f"{exchange}/{symbol}: stored only at {have}, no 1m bars; cannot make {timeframe} bars: "
        f"rule 'a timeframe is built only from 1m or a stored timeframe that divides it'"
    )


@dataclass(frozen=True)
class Overlap:
    """Stored coarser bars against the 1m truth resampled to them, on the buckets that both hold
    (only buckets the 1m data fills completely are compared)."""

    timeframe: str
    bars_compared: int
    mismatching: int
    max_rel_diff: float
    first_mismatch: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "winner": TRUTH, "summary": self.text()}

    def text(self) -> str:
        return (
            f"{self.timeframe} vs 1m: {self.bars_compared:,} bar(s) compared, {self.mismatching:,} "
            f"differ (max relative difference {self.max_rel_diff:.3g}); 1m wins"
        )


def compare_with_truth(
    store: OHLCVStore, symbol: str, exchange: str, timeframe: str, start: Any, end: Any
) -> Overlap | None:
    """Compare the stored ``timeframe`` bars with the 1m truth in [start, end); None when the
    two do not overlap there."""
    width = timeframe_minutes(timeframe)
    ones = store.read(symbol, exchange, start, end)
    coarse = store.read(symbol, exchange, start, end, timeframe=timeframe)
    if ones.empty or coarse.empty:
        return None
    res = resample(ones, timeframe)
    truth = res.frame.loc[res.minutes_per_bar == width]
    common = truth.index.intersection(coarse.index)
    if common.empty:
        return None
    a = truth.loc[common, list(COLUMNS)].to_numpy()
    b = coarse.loc[common, list(COLUMNS)].to_numpy()
    rel = np.abs(a - b) / np.maximum(np.abs(a), np.finfo(np.float64).tiny)
    worst = rel.max(axis=1)
    bad = np.flatnonzero(worst > REL_TOL)
    first = str(common[bad[0]]) if len(bad) else None
    return Overlap(timeframe, len(common), len(bad), float(worst.max()), first)


def overlaps(store: OHLCVStore, symbol: str, exchange: str, start: Any, end: Any) -> list[Overlap]:
    """Every stored coarser timeframe of ``symbol`` compared with the 1m truth in [start, end)."""
    found = (
        compare_with_truth(store, symbol, exchange, tf, start, end)
        for tf in stored_timeframes(store, exchange, symbol)
        if tf != TRUTH
    )
    return [o for o in found if o is not None]
