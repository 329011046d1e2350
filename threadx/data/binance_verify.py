"""Verification of stored 1m bars against the exchange: resampled 1h/4h/1d (or any interval the
exchange serves) compared with its own klines, with tolerances; anomalies reported, nothing
changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.utc import as_utc
from threadx.data.binance_http import DEFAULT_BASE_URL, EXCHANGE_INTERVALS, BinanceClient
from threadx.data.resample import resample, timeframe_minutes
from threadx.data.schema import COLUMNS, validate_symbol
from threadx.data.store import OHLCVStore


@dataclass
class VerifyReport:
    symbol: str
    exchange: str
    start: str
    end: str
    rtol: float
    atol: float
    compared: dict[str, int] = field(default_factory=dict)  # interval -> bars on both sides
    anomalies: list[dict[str, Any]] = field(default_factory=list)  # complete local bars: failures
    warnings: list[dict[str, Any]] = field(default_factory=list)  # local bars with missing minutes

    @property
    def ok(self) -> bool:
        return not self.anomalies

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _compare(
    local: pd.DataFrame,
    minutes: pd.Series,
    remote: pd.DataFrame,
    interval: str,
    rtol: float,
    atol: float,
) -> list[dict[str, Any]]:
    """One item per bar present on one side only and per field differing beyond tolerance."""
    base = {"interval": interval}
    out = [
        {**base, "time": str(t), "kind": "missing_local", "minutes": 0}
        for t in remote.index.difference(local.index)
    ]
    out += [
        {**base, "time": str(t), "kind": "missing_exchange", "minutes": int(minutes[t])}
        for t in local.index.difference(remote.index)
    ]
    common = local.index.intersection(remote.index)
    a, b = local.loc[common, list(COLUMNS)].to_numpy(), remote.loc[common, list(COLUMNS)].to_numpy()
    for i, j in zip(*np.nonzero(~np.isclose(a, b, rtol=rtol, atol=atol)), strict=True):
        diff = abs(a[i, j] - b[i, j])
        out.append(
            {
                **base,
                "time": str(common[i]),
                "kind": "mismatch",
                "field": COLUMNS[j],
                "local": float(a[i, j]),
                "exchange": float(b[i, j]),
                "abs_diff": float(diff),
                "rel_diff": float(diff / abs(b[i, j])) if b[i, j] else None,
                "minutes": int(minutes[common[i]]),
            }
        )
    width = timeframe_minutes(interval)
    return sorted(
        ({**d, "complete": d["minutes"] == width} for d in out),
        key=lambda d: (d["time"], d.get("field", "")),
    )


def verify(
    store: OHLCVStore,
    symbol: str,
    *,
    exchange: str = "binance",
    intervals: tuple[str, ...] = ("1h", "4h", "1d"),
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    base_url: str = DEFAULT_BASE_URL,
    client: BinanceClient | None = None,
    rtol: float = 1e-8,
    atol: float = 1e-8,
) -> VerifyReport:
    """Compare stored 1m bars, resampled, with the exchange's own klines of ``intervals``.

    Only buckets lying wholly inside [start, end) (default: the stored span) are compared. A bar
    differing beyond ``|local - exchange| <= atol + rtol * |exchange|`` in any field, or present on
    one side only, is an anomaly when the local bucket holds every minute, a warning when it has
    missing minutes (its aggregate cannot match the exchange's).
    """
    symbol = validate_symbol(symbol.upper())
    bad = [iv for iv in intervals if iv not in EXCHANGE_INTERVALS]
    if bad:
        raise DataError(
            f"interval(s) {bad}: rule 'served by the exchange and produced by "
            f"resample()'; use one of {', '.join(EXCHANGE_INTERVALS)}"
        )
    frame = store.read(symbol, exchange, start, end)
    if frame.empty:
        raise DataError(f"verify {exchange}/{symbol}: no stored 1m bars in the range")
    lo = as_utc(start, "ns") if start is not None else frame.index[0]
    hi = as_utc(end, "ns") if end is not None else frame.index[-1] + pd.Timedelta(minutes=1)
    client = client or BinanceClient(base_url)
    report = VerifyReport(symbol, exchange, str(lo), str(hi), rtol, atol)
    for iv in intervals:
        width = pd.Timedelta(minutes=timeframe_minutes(iv))
        res = resample(frame, iv)
        inside = (res.frame.index >= lo) & (res.frame.index + width <= hi)
        local = res.frame.loc[inside]
        counts = pd.Series(res.minutes_per_bar[inside], index=local.index)
        pages = (
            list(client.pages(symbol, iv, local.index[0], local.index[-1] + width))
            if len(local)
            else []
        )
        remote = pd.concat(pages) if pages else local.iloc[:0]
        report.compared[iv] = len(local.index.intersection(remote.index))
        for item in _compare(local, counts, remote, iv, rtol, atol):
            (report.anomalies if item["complete"] else report.warnings).append(item)
    return report
