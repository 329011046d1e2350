"""UTC time: the one home of parsing and formatting the timestamps ThreadX stores and shows.

Every time in ThreadX is UTC: bar times are int64 nanoseconds since the epoch, a naive timestamp
given by a user or a file is read as UTC, an aware one is converted. Formats:

* :func:`now_iso` -- wall-clock time of a record (manifests, catalogs, import logs):
  ``2024-05-01T12:00:00+00:00`` (whole seconds);
* :func:`iso_utc` -- a bar time in ISO-8601: ``2024-05-01T12:00:00+00:00``;
* ``str(from_ns(ns))`` -- a bar time as pandas prints it: ``2024-05-01 12:00:00+00:00``.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.units import NS_PER_MINUTE

__all__ = [
    "as_ns",
    "as_utc",
    "from_ns",
    "iso_utc",
    "minute_of",
    "minute_ts",
    "now_iso",
    "utc_index",
]


def now_iso() -> str:
    """The current time, e.g. ``2024-05-01T12:00:00+00:00`` (whole seconds)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def as_utc(ts: Any, unit: str | None = None) -> pd.Timestamp:
    """``ts`` (a timestamp, a ``datetime`` or a string) as a UTC timestamp: naive = UTC, aware =
    converted. ``unit`` (e.g. ``"ns"``): its resolution; else the one pandas parsed."""
    t = pd.Timestamp(ts)
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return t if unit is None else t.as_unit(unit)


def as_ns(ts: Any) -> int:
    """``ts`` (see :func:`as_utc`) as int nanoseconds since the epoch."""
    return int(as_utc(ts, "ns").value)


def from_ns(ns: int) -> pd.Timestamp:
    """Nanoseconds since the epoch as a UTC timestamp."""
    return pd.Timestamp(int(ns), tz="UTC")


def iso_utc(ns: int) -> str:
    """Nanoseconds since the epoch in ISO-8601, e.g. ``2024-05-01T12:00:00+00:00``."""
    return from_ns(ns).isoformat()


def minute_of(ts: Any) -> int:
    """The minute (since the epoch) that ``ts`` falls in."""
    return as_ns(ts) // NS_PER_MINUTE


def minute_ts(minute: int) -> pd.Timestamp:
    """The UTC timestamp of the start of ``minute`` (minutes since the epoch)."""
    return pd.Timestamp(minute * NS_PER_MINUTE, unit="ns", tz="UTC")


def utc_index(ns: Any, name: str | None = None) -> pd.DatetimeIndex:
    """Nanoseconds since the epoch (an int64 array) as a UTC ``DatetimeIndex`` (unit ns)."""
    stamps = pd.to_datetime(np.asarray(ns), unit="ns", utc=True)
    return pd.DatetimeIndex(stamps, name=name).as_unit("ns")
