"""The reference simulation of the BB+ATR strategy: a plain loop over bars, the oracle.

It follows STRATEGY.md "Simulation" and "Precise points" line by line; the fast kernels must
reproduce it trade for trade. Per bar ``t`` (``s = slippage_bps/1e4``, ``f = fee_bps/1e4``):

1. if a position is open and ``t > entry_bar``: stop (fill ``min(open, stop)`` for a long,
   ``max(open, stop)`` for a short; reason ``trailing_stop`` when ``stop != stop_at_entry``),
   else take profit at ``close`` (close crosses back to ``middle``), else max hold at ``close``;
   the fill is slipped against the trader, ``fill·(1 − side·s)``; with no exit and
   ``trailing_stop`` the stop trails ``close ∓ atr_multiplier·ATR`` in the trader's favour only;
2. if flat (also just after an exit on this bar), a kept signal and ``cash > 0``: enter at
   ``close·(1 + side·s)`` with ``qty = min(cash·risk/d, cash·leverage/entry_fill)``,
   ``d = atr_multiplier·ATR[t]`` (no entry if ``d <= 0``, nor if the slipped entry price is not
   positive — only a slippage of 10,000 bps or more can do that), pay ``f·qty·entry_fill``;
3. ``equity[t] = cash + side·qty·(close − entry_fill)``;
4. ``equity[t] <= 0`` ruins the account: an open position is closed at ``close`` (reason ``ruin``,
   slippage and fee paid), ``equity[t]`` becomes the cash after that close, nothing trades again.

After the last bar an open position is closed at ``close[last]`` (reason ``end_of_data``) and
booked into ``equity[last]``; a final equity ``<= 0`` marks the run ruined.
Invariant: ``equity[last] = initial_capital + Σ trade pnl``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from threadx.strategy.metrics import DEFAULT_BLOCKS, bar_returns, compute_metrics, return_statistics
from threadx.strategy.params import StrategyParams
from threadx.strategy.signals import compute_indicators, kept_signals

__all__ = ["TRADE_COLUMNS", "BacktestResult", "backtest_frame", "simulate"]

#: Trade record columns, in the order of STRATEGY.md "Trade record".
TRADE_COLUMNS: tuple[str, ...] = (
    "side",
    "entry_time",
    "exit_time",
    "entry_bar",
    "exit_bar",
    "entry_price",
    "exit_price",
    "qty",
    "stop_at_entry",
    "pnl",
    "return",
    "fees",
    "exit_reason",
)
_TRADE_DTYPES: dict[str, Any] = {
    "side": np.int64,
    "entry_bar": np.int64,
    "exit_bar": np.int64,
    "entry_price": np.float64,
    "exit_price": np.float64,
    "qty": np.float64,
    "stop_at_entry": np.float64,
    "pnl": np.float64,
    "return": np.float64,
    "fees": np.float64,
    "exit_reason": str,
}
EXIT_REASONS: tuple[str, ...] = (
    "stop",
    "trailing_stop",
    "take_profit",
    "max_hold",
    "ruin",
    "end_of_data",
)


@dataclass
class BacktestResult:
    """Everything one reference run produces (trades, equity, metrics and the indicators used).

    ``trades`` has exactly :data:`TRADE_COLUMNS`; ``side`` is +1 (long) / −1 (short), prices are
    the slipped fills, times are UTC timestamps of the bars' open times. ``returns`` has length
    ``n − 1`` (see :func:`threadx.strategy.metrics.bar_returns`). ``times`` are int64 ns (UTC).
    ``stats`` holds the overfitting-report statistics of the returns
    (:func:`threadx.strategy.metrics.return_statistics`: skewness, kurtosis, block sums).
    """

    trades: pd.DataFrame
    equity: np.ndarray
    returns: np.ndarray
    metrics: dict[str, Any]
    ruined: bool
    signals: np.ndarray
    middle: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    atr: np.ndarray
    trend: np.ndarray | None
    times: np.ndarray
    bar_minutes: float
    stats: dict[str, Any]


@dataclass
class _Position:
    side: int
    qty: float
    entry_fill: float
    entry_bar: int
    stop: float
    stop_at_entry: float
    fee_entry: float


@dataclass
class _Account:
    """Mutable simulation state: cash, the open position (if any), ruin flag, closed trades."""

    cash: float
    slip: float  # s = slippage_bps / 1e4
    fee: float  # f = fee_bps / 1e4
    position: _Position | None = None
    ruined: bool = False
    trades: list[dict[str, Any]] = field(default_factory=list)

    def equity(self, price: float) -> float:
        """Step 3: ``cash + side·qty·(close − entry_fill)``, or ``cash`` when flat."""
        p = self.position
        if p is None:
            return self.cash
        return self.cash + p.side * p.qty * (price - p.entry_fill)

    def close(self, t: int, price: float, reason: str) -> None:
        """Close the position at the raw ``price`` (slipped here) and book the trade."""
        p = self.position
        assert p is not None
        exit_fill = price * (1.0 - p.side * self.slip)
        pnl_gross = p.side * p.qty * (exit_fill - p.entry_fill)
        fee_exit = self.fee * p.qty * exit_fill
        self.cash += pnl_gross - fee_exit
        pnl = pnl_gross - p.fee_entry - fee_exit
        self.trades.append(
            {
                "side": p.side,
                "entry_bar": p.entry_bar,
                "exit_bar": t,
                "entry_price": p.entry_fill,
                "exit_price": exit_fill,
                "qty": p.qty,
                "stop_at_entry": p.stop_at_entry,
                "pnl": pnl,
                "return": pnl / (p.qty * p.entry_fill),
                "fees": p.fee_entry + fee_exit,
                "exit_reason": reason,
            }
        )
        self.position = None


@dataclass(frozen=True)
class _Bars:
    """The per-bar inputs of the loop (plain float64 arrays)."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    middle: np.ndarray
    atr: np.ndarray
    signals: np.ndarray


def _exit_signal(p: _Position, t: int, bars: _Bars, max_hold: int) -> tuple[float, str] | None:
    """Step 1 on bar ``t > entry_bar``: the first exit that fires, as (raw fill price, reason)."""
    o, h, lo, c = bars.open[t], bars.high[t], bars.low[t], bars.close[t]
    reason = "trailing_stop" if p.stop != p.stop_at_entry else "stop"
    if p.side > 0 and lo <= p.stop:
        return min(o, p.stop), reason
    if p.side < 0 and h >= p.stop:
        return max(o, p.stop), reason
    if (p.side > 0 and c >= bars.middle[t]) or (p.side < 0 and c <= bars.middle[t]):
        return c, "take_profit"
    if t - p.entry_bar >= max_hold:
        return c, "max_hold"
    return None


def _trail(p: _Position, close: float, atr_value: float, multiplier: float) -> None:
    """Move the stop to ``close ∓ multiplier·ATR`` when that is in the trader's favour."""
    if p.side > 0:
        p.stop = max(p.stop, close - multiplier * atr_value)
    else:
        p.stop = min(p.stop, close + multiplier * atr_value)


def _manage_position(acct: _Account, t: int, bars: _Bars, params: StrategyParams) -> None:
    """Step 1: exits of an open position (never on its entry bar), else trailing."""
    p = acct.position
    if p is None or t <= p.entry_bar:
        return
    fired = _exit_signal(p, t, bars, params.max_hold_bars)
    if fired is not None:
        acct.close(t, fired[0], fired[1])
    elif params.trailing_stop:
        _trail(p, bars.close[t], bars.atr[t], params.atr_multiplier)


def _maybe_enter(acct: _Account, t: int, bars: _Bars, params: StrategyParams) -> None:
    """Step 2: open a position on a kept signal when flat and ``cash > 0``."""
    side = int(bars.signals[t])
    if acct.position is not None or side == 0 or not acct.cash > 0:
        return
    entry_fill = bars.close[t] * (1.0 + side * acct.slip)
    d = params.atr_multiplier * bars.atr[t]
    if not d > 0 or not entry_fill > 0:
        return
    cash = acct.cash  # flat, so cash is the equity
    qty = min(cash * params.risk_per_trade / d, cash * params.leverage / entry_fill)
    stop = entry_fill - side * d
    fee_entry = acct.fee * qty * entry_fill
    acct.cash -= fee_entry
    acct.position = _Position(side, qty, entry_fill, t, stop, stop, fee_entry)


def _run_loop(bars: _Bars, params: StrategyParams) -> tuple[np.ndarray, _Account]:
    """Steps 1–4 on every bar, then the end-of-data close."""
    n = bars.close.size
    acct = _Account(
        cash=params.initial_capital, slip=params.slippage_bps / 1e4, fee=params.fee_bps / 1e4
    )
    equity = np.empty(n, dtype=np.float64)
    for t in range(n):
        if not acct.ruined:
            _manage_position(acct, t, bars, params)
            _maybe_enter(acct, t, bars, params)
        equity[t] = acct.equity(bars.close[t])
        if not acct.ruined and equity[t] <= 0:
            acct.ruined = True
            if acct.position is not None:
                acct.close(t, bars.close[t], "ruin")
            equity[t] = acct.cash
    if acct.position is not None:
        acct.close(n - 1, bars.close[n - 1], "end_of_data")
        equity[n - 1] = acct.cash
    if equity[n - 1] <= 0:
        acct.ruined = True
    return equity, acct


def _times_ns(times: Any, n: int) -> np.ndarray:
    """Bar open times as int64 ns since the epoch (UTC)."""
    if isinstance(times, pd.DatetimeIndex):
        idx = times.tz_convert("UTC") if times.tz is not None else times
        out = idx.as_unit("ns").asi8
    else:
        arr = np.asarray(times)
        if np.issubdtype(arr.dtype, np.datetime64):
            arr = arr.astype("datetime64[ns]").view(np.int64)
        out = arr.astype(np.int64, copy=False)
    if out.shape != (n,):
        raise ValueError(f"times must have one value per bar ({n}), got shape {out.shape}")
    return np.asarray(out, dtype=np.int64)


def _prices(name: str, values: Any, n: int | None) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.size != n):
        raise ValueError(f"{name} must be a 1-D array of {n} bars, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf (the data layer must reject those)")
    return arr


def _trades_frame(trades: list[dict[str, Any]], times: np.ndarray) -> pd.DataFrame:
    """Trade records with entry/exit times as UTC timestamps, columns in TRADE_COLUMNS order."""
    frame = pd.DataFrame(trades, columns=[c for c in TRADE_COLUMNS if not c.endswith("_time")])
    frame = frame.astype(_TRADE_DTYPES)
    for col, bar_col in (("entry_time", "entry_bar"), ("exit_time", "exit_bar")):
        stamps = times[frame[bar_col].to_numpy(dtype=np.int64)]
        frame[col] = pd.to_datetime(stamps, unit="ns", utc=True)
    return frame[list(TRADE_COLUMNS)]


def simulate(
    open: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    times: Any,
    params: StrategyParams,
    bar_minutes: float,
    blocks: int = DEFAULT_BLOCKS,
) -> BacktestResult:
    """Run the reference simulation on one series of bars (at least 2, no NaN).

    ``times`` are the bars' open times: an int64 ns array, a datetime64 array or a
    ``DatetimeIndex``. ``bar_minutes`` is the timeframe used for annualisation; ``blocks`` the
    number of equal time blocks of ``stats``.
    """
    if not isinstance(params, StrategyParams):
        raise TypeError(f"params must be a StrategyParams, got {type(params).__name__}")
    c = _prices("close", close, None)
    n = c.size
    if n < 2:
        raise ValueError(f"at least 2 bars are required, got {n}")
    o, h, lo = _prices("open", open, n), _prices("high", high, n), _prices("low", low, n)
    ts = _times_ns(times, n)
    ind = compute_indicators(h, lo, c, params)
    signals = kept_signals(c, ind, params)
    bars = _Bars(o, h, lo, c, ind.bands.middle, ind.atr, signals)
    equity, acct = _run_loop(bars, params)
    trades = _trades_frame(acct.trades, ts)
    metrics = compute_metrics(
        equity,
        trades["pnl"].to_numpy(dtype=np.float64),
        (trades["exit_bar"] - trades["entry_bar"]).to_numpy(dtype=np.float64),
        trades["fees"].to_numpy(dtype=np.float64),
        int(ts[0]),
        int(ts[-1]),
        params.initial_capital,
        bar_minutes,
        acct.ruined,
        n,
    )
    returns = bar_returns(equity)
    return BacktestResult(
        trades=trades,
        equity=equity,
        returns=returns,
        metrics=metrics,
        ruined=acct.ruined,
        signals=signals,
        middle=ind.bands.middle,
        upper=ind.bands.upper,
        lower=ind.bands.lower,
        atr=ind.atr,
        trend=ind.trend,
        times=ts,
        bar_minutes=float(bar_minutes),
        stats=return_statistics(returns, blocks),
    )


def backtest_frame(
    frame: pd.DataFrame, params: StrategyParams, bar_minutes: float
) -> BacktestResult:
    """:func:`simulate` on an OHLCV frame (UTC ``DatetimeIndex``, float64 open/high/low/close)."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError(f"frame index must be a DatetimeIndex, got {type(frame.index).__name__}")
    missing = [col for col in ("open", "high", "low", "close") if col not in frame.columns]
    if missing:
        raise ValueError(f"frame is missing column(s) {missing}")
    return simulate(
        frame["open"].to_numpy(dtype=np.float64),
        frame["high"].to_numpy(dtype=np.float64),
        frame["low"].to_numpy(dtype=np.float64),
        frame["close"].to_numpy(dtype=np.float64),
        frame.index,
        params,
        bar_minutes,
    )
