"""Missing minutes: detection, the fill policy, and flags on every filled bar.

Policy (PREDECESSOR.md, gap policy): when the missing ratio over the span is <= ``threshold``
(5 % by default), fill each missing minute by carrying the last close into open/high/low/close with
volume 0 and mark it filled; above the threshold keep the gaps and warn. A sweep refuses data above
the threshold unless its spec says ``allow_gaps = true``. Nothing is ever filled silently: the
stored 1-minute files keep the raw data and the catalog records the gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.log import get_logger
from threadx.core.units import NS_PER_MINUTE
from threadx.core.utc import minute_of, minute_ts, utc_index
from threadx.data.schema import COLUMNS, INDEX_NAME

log = get_logger(__name__)
DEFAULT_THRESHOLD = 0.05


@dataclass(frozen=True)
class GapReport:
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    expected: int  # minutes in [first, last]
    present: int
    runs: list[tuple[pd.Timestamp, int]] = field(default_factory=list)  # (first missing, count)
    bar_minutes: int = 1  # the bars counted: minutes of 1m data, or bars of a stored timeframe

    @property
    def missing(self) -> int:
        return self.expected - self.present

    @property
    def missing_ratio(self) -> float:
        return self.missing / self.expected if self.expected else 0.0

    def summary(self) -> str:
        if self.first is None:
            return "no data"
        unit = "minutes" if self.bar_minutes == 1 else f"{self.bar_minutes}-minute bars"
        return (
            f"{self.first} -> {self.last}: {self.present:,} of {self.expected:,} {unit} present, "
            f"{self.missing:,} missing ({self.missing_ratio:.2%}) in {len(self.runs):,} gap(s)"
        )


def find_gaps(
    index: pd.DatetimeIndex,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    bar_minutes: int = 1,
) -> GapReport:
    """Missing-bar runs of an index over [start, end] (default: its first and last bar). Bars are
    minutes, or ``bar_minutes`` wide for a stored timeframe's bars (which sit on its bucket
    starts, so every step between two of them is a whole number of bars)."""
    if len(index) == 0 and (start is None or end is None):
        return GapReport(None, None, 0, 0, [], bar_minutes)
    w = bar_minutes
    mins = index.asi8 // NS_PER_MINUTE
    lo = mins[0] if start is None else minute_of(start)
    hi = mins[-1] if end is None else minute_of(end)
    mins = mins[(mins >= lo) & (mins <= hi)]
    edges = np.concatenate(([lo - w], mins, [hi + w]))
    step = np.diff(edges) // w
    at = np.flatnonzero(step > 1)
    runs = [(minute_ts(edges[i] + w), int(step[i] - 1)) for i in at]
    return GapReport(
        first=minute_ts(lo),
        last=minute_ts(hi),
        expected=int((hi - lo) // w + 1),
        present=len(mins),
        runs=runs,
        bar_minutes=w,
    )


def fill_gaps(frame: pd.DataFrame, bar_minutes: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Complete the bar grid (minutes, or ``bar_minutes`` wide) from the first to the last bar.
    Filled bars carry the previous close in open/high/low/close and volume 0. Returns (frame,
    filled mask)."""
    if len(frame) == 0:
        return frame.copy(), np.zeros(0, dtype=bool)
    mins = frame.index.asi8 // NS_PER_MINUTE
    grid = np.arange(mins[0], mins[-1] + 1, bar_minutes, dtype=np.int64)
    pos = np.searchsorted(grid, mins)
    present = np.zeros(len(grid), dtype=bool)
    present[pos] = True
    # index of the last present bar at or before each grid minute
    last_present = np.maximum.accumulate(np.where(present, np.arange(len(grid)), 0))
    src = np.cumsum(present) - 1  # row in `frame` of that last present bar
    close = frame["close"].to_numpy()[src[last_present]]
    out = {}
    for col in ("open", "high", "low", "close"):
        vals = np.empty(len(grid))
        vals[pos] = frame[col].to_numpy()
        vals[~present] = close[~present]
        out[col] = vals
    vol = np.zeros(len(grid))
    vol[pos] = frame["volume"].to_numpy()
    out["volume"] = vol
    idx = utc_index(grid * NS_PER_MINUTE, name=INDEX_NAME)
    return pd.DataFrame(out, index=idx.as_unit("ns"))[list(COLUMNS)], ~present


@dataclass(frozen=True)
class GapPolicyResult:
    frame: pd.DataFrame
    filled: np.ndarray  # bool per bar of `frame`
    report: GapReport
    action: str  # "none" | "filled" | "kept"


def apply_gap_policy(
    frame: pd.DataFrame,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    allow_gaps: bool = False,
    what: str = "data",
    bar_minutes: int = 1,
) -> GapPolicyResult:
    """Fill small gaps; above ``threshold`` keep them if ``allow_gaps`` else raise DataError.
    ``bar_minutes``: the width of the frame's bars (1, or a stored timeframe's)."""
    report = find_gaps(frame.index, bar_minutes=bar_minutes)
    if report.missing == 0:
        return GapPolicyResult(frame, np.zeros(len(frame), dtype=bool), report, "none")
    if report.missing_ratio <= threshold:
        filled, mask = fill_gaps(frame, bar_minutes)
        log.info("%s: filled %d missing bar(s) (%s)", what, int(mask.sum()), report.summary())
        return GapPolicyResult(filled, mask, report, "filled")
    msg = (
        f"{what}: missing ratio {report.missing_ratio:.2%} is above the {threshold:.0%} fill "
        f"threshold ({report.summary()})"
    )
    if not allow_gaps:
        raise DataError(msg + "; set allow_gaps = true in the sweep spec to run on gappy data")
    log.warning("%s; gaps kept (bars are positional)", msg)
    return GapPolicyResult(frame, np.zeros(len(frame), dtype=bool), report, "kept")
