"""Pure chart models: the Pareto scatter, min/max-per-pixel-column decimation, drill-down charts.

Like :mod:`gui.viewmodels`, nothing here touches DearPyGui or Ray. Long series are decimated before
they reach the plots: per pixel column the first point, the minimum and the maximum survive (for
candlesticks: first open, highest high, lowest low, last close), so every spike visible at that
width and both ends of the series are drawn exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gui.viewmodels import HEADLINE_METRICS, NO_DATA, TableModel, fmt_value, table_model
from threadx.strategy.reference import TRADE_COLUMNS
from threadx.sweep.shapes import Pareto

# ------------------------------------------------------------------------------------ pareto


@dataclass(frozen=True)
class ScatterModel:
    """Points of a scatter (all results) and a front (the Pareto-optimal ones), x and y."""

    x_metric: str
    y_metric: str
    cloud: tuple[tuple[float, ...], tuple[float, ...]]
    front: tuple[tuple[float, ...], tuple[float, ...]]
    front_ids: tuple[int, ...]
    note: str


def pareto_model(p: Pareto) -> ScatterModel:
    """The scatter of the driver's :class:`~threadx.sweep.shapes.Pareto` (every result as a
    cloud, every ``step``-th row of a big run, stated in the note; the front along x)."""
    if p.n_results == 0:
        return ScatterModel(p.x_metric, p.y_metric, ((), ()), ((), ()), (), NO_DATA)
    note = f"{p.n_results:,} combinations" + (f" (1 of {p.step} shown)" if p.step > 1 else "")
    if p.n_front == 0:
        note += "; Pareto front: " + NO_DATA
    else:
        note += f"; {p.n_front} on the Pareto front (max {p.y_metric}, min {p.x_metric})"
    return ScatterModel(p.x_metric, p.y_metric, p.cloud, p.front, p.front_ids, note)


# ------------------------------------------------------------------------------------ decimation


def _column_of(x: np.ndarray, n_columns: int) -> np.ndarray:
    """Pixel column of every x (x ascending); equal-width columns over [x0, x_last]."""
    span = float(x[-1] - x[0])
    if span <= 0:
        return np.zeros(len(x), dtype=np.int64)
    col = np.floor((x - x[0]) / span * n_columns).astype(np.int64)
    return np.minimum(col, n_columns - 1)


def minmax_indices(y: np.ndarray, n_columns: int, x: np.ndarray | None = None) -> np.ndarray:
    """Indices that draw ``y`` at ``n_columns`` pixel columns without losing its shape.

    Per column: the first point, the minimum and the maximum (NaN ignored; an all-NaN column
    keeps its first point), plus the very last point. So every column's extremes (every spike
    visible at that width) and both ends are kept; a series already short enough is returned
    whole. Indices are sorted ascending.
    """
    y = np.asarray(y, dtype=np.float64)
    n = len(y)
    if n_columns < 1:
        raise ValueError(f"n_columns must be >= 1, got {n_columns}")
    if n <= 2 * n_columns + 2:
        return np.arange(n)
    xs = np.arange(n, dtype=np.float64) if x is None else np.asarray(x, dtype=np.float64)
    col = _column_of(xs, n_columns)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    lo = np.where(np.isnan(y), np.inf, y)
    hi = np.where(np.isnan(y), -np.inf, y)
    ends = np.r_[starts[1:], n]
    keep = [starts, [n - 1]]
    for s, e in zip(starts, ends, strict=True):
        keep.append([s + int(np.argmin(lo[s:e])), s + int(np.argmax(hi[s:e]))])
    return np.unique(np.concatenate([np.asarray(k, dtype=np.int64) for k in keep]))


def decimate_xy(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, n_columns: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(x, y)`` reduced by :func:`minmax_indices` (x ascending), as tuples of floats."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(xa) == 0:
        return (), ()
    idx = minmax_indices(ya, n_columns, xa)
    return tuple(xa[idx].tolist()), tuple(ya[idx].tolist())


@dataclass(frozen=True)
class Candles:
    """OHLC per plotted candle (times in seconds since the epoch)."""

    time: tuple[float, ...]
    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]
    bars_per_candle: int


def decimate_ohlc(
    t: np.ndarray, o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, n_columns: int
) -> Candles:
    """Candles merged per pixel column: first open, max high, min low, last close, first time.

    The min/max per column of candlesticks: every high and low extreme of its column survives,
    and the first open and the last close are the series' own. Short series come back unchanged.
    """
    n = len(t)
    if n == 0:
        return Candles((), (), (), (), (), 1)
    if n <= n_columns:
        return Candles(
            *(tuple(np.asarray(a, dtype=np.float64).tolist()) for a in (t, o, h, lo, c)), 1
        )
    per = math.ceil(n / n_columns)
    starts = np.arange(0, n, per)
    ends = np.r_[starts[1:], n] - 1
    return Candles(
        tuple(np.asarray(t, dtype=np.float64)[starts].tolist()),
        tuple(np.asarray(o, dtype=np.float64)[starts].tolist()),
        tuple(np.maximum.reduceat(np.asarray(h, dtype=np.float64), starts).tolist()),
        tuple(np.minimum.reduceat(np.asarray(lo, dtype=np.float64), starts).tolist()),
        tuple(np.asarray(c, dtype=np.float64)[ends].tolist()),
        per,
    )


# ------------------------------------------------------------------------------------ drill-down

XY = tuple[tuple[float, ...], tuple[float, ...]]
# the trade record's columns (threadx.strategy.reference.TRADE_COLUMNS) without the bar indices
TRADE_TABLE_COLUMNS = tuple(c for c in TRADE_COLUMNS if c not in ("entry_bar", "exit_bar"))


@dataclass(frozen=True)
class DrilldownModel:
    """Charts and tables of one combination, from the reference simulation (decimated)."""

    run_id: str
    combo_id: int
    title: str
    params_text: str
    metrics_text: str
    candles: Candles
    bands: tuple[tuple[str, XY], ...]
    entries_long: XY
    entries_short: XY
    exits: XY
    equity: XY
    drawdown: XY
    trades: TableModel
    n_trades: int
    n_bars: int
    mismatches: tuple[str, ...]


def _seconds(index: pd.Index | pd.Series) -> np.ndarray:
    """UTC timestamps as float seconds since the epoch (the plots' time axis)."""
    values = pd.DatetimeIndex(index).as_unit("ns").asi8
    return values.astype(np.float64) / 1e9


def _markers(trades: pd.DataFrame, when: str, price: str, mask: pd.Series | None = None) -> XY:
    sub = trades if mask is None else trades[mask]
    if sub.empty:
        return (), ()
    return tuple(_seconds(sub[when]).tolist()), tuple(map(float, sub[price]))


def _trade_table(trades: pd.DataFrame) -> TableModel:
    shown = trades.copy()
    if "side" in shown.columns:
        shown["side"] = shown["side"].map({1: "long", -1: "short"}).fillna(shown["side"])
    return table_model(shown, TRADE_TABLE_COLUMNS)


def _text(mapping: Mapping[str, Any], names: Sequence[str] | None = None) -> str:
    keys = list(names) if names is not None else list(mapping)
    return ", ".join(f"{k}={fmt_value(mapping[k])}" for k in keys if k in mapping)


def drilldown_model(
    run_id: str, combo_id: int, dd: Mapping[str, Any], n_columns: int = 1200
) -> DrilldownModel:
    """The charts of ``SweepDriver.drilldown``'s answer, decimated to ``n_columns`` columns."""
    bars: pd.DataFrame = dd["bars"]
    trades: pd.DataFrame = dd["trades"]
    equity: pd.DataFrame = dd["equity"]
    t = _seconds(bars.index)
    candles = decimate_ohlc(
        t,
        bars["open"].to_numpy(),
        bars["high"].to_numpy(),
        bars["low"].to_numpy(),
        bars["close"].to_numpy(),
        n_columns,
    )
    bands = tuple(
        (name, decimate_xy(t, bars[name].to_numpy(), n_columns))
        for name in ("upper", "middle", "lower")
        if name in bars.columns
    )
    te = _seconds(equity.index)
    side = trades["side"] if "side" in trades.columns else pd.Series(dtype=float)
    mism = tuple(
        f"{name}: sweep {a!r} vs reference {b!r}" for name, a, b in dd.get("mismatches") or ()
    )
    title = f"{dd.get('symbol', '')} {dd.get('timeframe', '')} combination {combo_id}".strip()
    return DrilldownModel(
        run_id=run_id,
        combo_id=int(combo_id),
        title=title,
        params_text=_text(dd.get("params") or {}),
        metrics_text=_text(dd.get("metrics") or {}, (*HEADLINE_METRICS, "final_equity")),
        candles=candles,
        bands=bands,
        entries_long=_markers(trades, "entry_time", "entry_price", side == 1),
        entries_short=_markers(trades, "entry_time", "entry_price", side == -1),
        exits=_markers(trades, "exit_time", "exit_price"),
        equity=decimate_xy(te, equity["equity"].to_numpy(), n_columns),
        drawdown=decimate_xy(te, equity["drawdown"].to_numpy(), n_columns),
        trades=_trade_table(trades),
        n_trades=len(trades),
        n_bars=len(bars),
        mismatches=mism,
    )
