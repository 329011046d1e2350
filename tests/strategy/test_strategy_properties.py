"""Property tests of the reference simulation on random valid OHLCV and random parameters.

* accounting: ``equity[last] == initial_capital + Σ pnl`` (1e-9 relative), plus structural
  invariants of the trade list;
* determinism: two runs give identical results;
* no look-ahead: on the series truncated at a random cut, indicators, signals, closed trades and
  the equity curve before the cut are bit-identical to the full run's.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadx.strategy.metrics import METRIC_NAMES
from threadx.strategy.params import StrategyParams
from threadx.strategy.reference import EXIT_REASONS, BacktestResult, simulate

T0 = pd.Timestamp("2024-01-01", tz="UTC").value
MINUTE = 60 * 10**9
SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Bars = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

_move = st.one_of(
    st.just(0.0),
    st.floats(-0.02, 0.02, allow_nan=False),
    st.floats(-0.25, 0.25, allow_nan=False),
)
_wick = st.one_of(st.just(0.0), st.floats(0.0, 0.03, allow_nan=False))


@st.composite
def ohlc_bars(draw: st.DrawFn, min_bars: int = 2, max_bars: int = 120) -> Bars:
    """Positive prices with ``high >= max(open, close)`` and ``low <= min(open, close)``;
    optionally on a coarse tick so that ties and exact touches happen."""
    n = draw(st.integers(min_bars, max_bars))
    moves = np.array(draw(st.lists(_move, min_size=n, max_size=n)))
    gaps = np.array(draw(st.lists(_move, min_size=n, max_size=n)))
    up = np.array(draw(st.lists(_wick, min_size=n, max_size=n)))
    down = np.array(draw(st.lists(_wick, min_size=n, max_size=n)))
    close = 100.0 * np.exp(np.cumsum(moves))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1] * np.exp(gaps[1:])
    high = np.maximum(open_, close) * (1.0 + up)
    low = np.minimum(open_, close) * (1.0 - down)
    tick = draw(st.sampled_from([0.0, 0.01, 0.25]))
    if tick and low.min() > 10 * tick:  # rounding is monotone: the OHLC ordering survives
        open_, high, low, close = (np.round(a / tick) * tick for a in (open_, high, low, close))
    return open_, high, low, close


@st.composite
def strategy_params(draw: st.DrawFn) -> StrategyParams:
    return StrategyParams(
        bb_period=draw(st.integers(2, 12)),
        bb_std=draw(st.floats(0.3, 3.0)),
        atr_period=draw(st.integers(1, 10)),
        atr_method=draw(st.sampled_from(["ema", "sma", "wilder"])),
        atr_multiplier=draw(st.floats(0.2, 4.0)),
        trailing_stop=draw(st.booleans()),
        max_hold_bars=draw(st.integers(1, 30)),
        spacing_bars=draw(st.integers(0, 8)),
        trend_period=draw(st.one_of(st.just(0), st.integers(2, 15))),
        direction=draw(st.sampled_from(["both", "long", "short"])),
        risk_per_trade=draw(st.one_of(st.floats(0.001, 0.05), st.floats(0.5, 1.0))),
        leverage=draw(st.floats(0.1, 20.0)),
        fee_bps=draw(st.one_of(st.just(0.0), st.floats(0.0, 50.0), st.floats(100.0, 3000.0))),
        slippage_bps=draw(st.one_of(st.just(0.0), st.floats(0.0, 50.0))),
        initial_capital=draw(st.floats(100.0, 1e6)),
    )


def run(bars: Bars, params: StrategyParams) -> BacktestResult:
    o, h, lo, c = bars
    times = T0 + MINUTE * np.arange(c.size, dtype=np.int64)
    return simulate(o, h, lo, c, times, params, bar_minutes=1)


def _assert_trade_structure(res: BacktestResult, n: int) -> None:
    tr = res.trades
    entry, exit_ = tr["entry_bar"].to_numpy(), tr["exit_bar"].to_numpy()
    assert ((entry >= 1) & (exit_ >= entry) & (exit_ < n)).all()
    assert (entry[1:] >= exit_[:-1]).all(), "one position at a time"
    early = tr["exit_reason"].isin(["stop", "trailing_stop", "take_profit", "max_hold"])
    assert (exit_[early.to_numpy()] > entry[early.to_numpy()]).all(), "no exit on the entry bar"
    assert set(tr["exit_reason"]) <= set(EXIT_REASONS)
    assert (tr["qty"] > 0).all() and set(tr["side"]) <= {-1, 1}
    assert (res.signals[entry] == tr["side"].to_numpy()).all(), "entries only on kept signals"
    assert (tr["exit_reason"] == "end_of_data").sum() <= 1
    if (tr["exit_reason"] == "ruin").any():
        assert res.ruined and tr["exit_reason"].iloc[-1] == "ruin"


@SETTINGS
@given(bars=ohlc_bars(), params=strategy_params())
def test_equity_at_the_end_is_initial_capital_plus_trade_pnl(bars: Bars, params) -> None:
    res = run(bars, params)
    n = bars[3].size
    pnl = res.trades["pnl"].to_numpy()
    expected = params.initial_capital + math.fsum(pnl)
    scale = params.initial_capital + math.fsum(np.abs(pnl))
    assert math.isclose(res.equity[-1], expected, rel_tol=1e-9, abs_tol=1e-9 * scale)
    assert res.equity.shape == (n,) and res.returns.shape == (n - 1,)
    assert res.ruined == bool((res.equity <= 0).any())
    assert res.metrics["n_trades"] == len(res.trades)
    assert res.metrics["final_equity"] == res.equity[-1]
    assert 0.0 <= res.metrics["max_drawdown"] <= 1.0
    assert 0.0 <= res.metrics["exposure"] <= 1.0
    assert res.metrics["total_fees"] >= 0.0
    assert tuple(res.metrics) == METRIC_NAMES
    _assert_trade_structure(res, n)


@SETTINGS
@given(bars=ohlc_bars(), params=strategy_params())
def test_runs_are_deterministic(bars: Bars, params) -> None:
    a, b = run(bars, params), run(tuple(x.copy() for x in bars), params)
    pd.testing.assert_frame_equal(a.trades, b.trades, check_exact=True)
    np.testing.assert_array_equal(a.equity, b.equity)
    np.testing.assert_array_equal(a.signals, b.signals)
    np.testing.assert_array_equal(a.atr, b.atr)
    assert a.ruined == b.ruined
    for name in METRIC_NAMES:
        x, y = a.metrics[name], b.metrics[name]
        assert x == y or (isinstance(x, float) and math.isnan(x) and math.isnan(y)), name


def _trades_without_end_of_data(res: BacktestResult, before: int) -> pd.DataFrame:
    tr = res.trades
    keep = (tr["exit_reason"] != "end_of_data") & (tr["exit_bar"] < before)
    return tr[keep].reset_index(drop=True)


@SETTINGS
@given(bars=ohlc_bars(min_bars=3), params=strategy_params(), data=st.data())
def test_no_look_ahead(bars: Bars, params, data) -> None:
    n = bars[3].size
    cut = data.draw(st.integers(2, n), label="cut")
    full = run(bars, params)
    part = run(tuple(x[:cut] for x in bars), params)
    for name in ("middle", "upper", "lower", "atr"):
        np.testing.assert_array_equal(getattr(part, name), getattr(full, name)[:cut], err_msg=name)
    if params.trend_period:
        np.testing.assert_array_equal(part.trend, full.trend[:cut])
    np.testing.assert_array_equal(part.signals, full.signals[:cut])
    # Trades closed by a rule (not by the end of the data) on bars 0..cut-1 are the same trades.
    pd.testing.assert_frame_equal(
        _trades_without_end_of_data(part, cut),
        _trades_without_end_of_data(full, cut),
        check_exact=True,
    )
    # A position still open at the cut is closed by end_of_data in the truncated run; in the full
    # run the same position (same entry) is still open at bar cut-1.
    eod = part.trades[part.trades["exit_reason"] == "end_of_data"]
    if len(eod):
        same_entry = full.trades[full.trades["entry_bar"] == eod["entry_bar"].iloc[0]]
        cols = ["side", "entry_time", "entry_bar", "entry_price", "qty", "stop_at_entry"]
        pd.testing.assert_frame_equal(
            eod[cols].reset_index(drop=True), same_entry[cols].reset_index(drop=True)
        )
        assert same_entry["exit_bar"].iloc[0] >= cut - 1
    # The equity curve before the last bar of the cut is the same; at the last bar too unless
    # the truncated run had to close a position there.
    np.testing.assert_array_equal(part.equity[: cut - 1], full.equity[: cut - 1])
    if not len(eod):
        assert part.equity[cut - 1] == full.equity[cut - 1]
