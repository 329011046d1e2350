"""Hand-written candle tables, one per rule of STRATEGY.md "Simulation" / "Precise points".

Every table uses ``bb_period = 2`` and ``bb_std = 0.5``: with two closes, ``middle`` is their mean
and ``sd`` half their distance, so ``close[t] < lower[t]`` exactly when ``close[t] < close[t−1]``
and ``close[t] > upper[t]`` exactly when ``close[t] > close[t−1]``. Signals therefore read off the
closes: a long signal is a down close after a non-down close, a short signal an up close after a
non-up close (never before bar 2, the first ready bar). A long takes profit on the first close
``>= `` the previous close, a short on the first close ``<=`` the previous close.
``atr_period = 1`` with the ``ema`` method makes ``ATR = TR`` exactly, and ``atr_multiplier = 1``
makes the stop distance ``d = TR`` of the entry bar. Prices are multiples of 1/4, so every number
below is exact in binary floating point unless fees/slippage are involved.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from threadx.core.errors import ConfigError
from threadx.strategy.indicators import Bollinger
from threadx.strategy.params import (
    PARAM_NAMES,
    StrategyParams,
    params_from_mapping,
    parse_param_assignments,
)
from threadx.strategy.reference import TRADE_COLUMNS, BacktestResult, simulate
from threadx.strategy.signals import apply_spacing, compute_indicators, kept_signals, raw_signals

T0 = pd.Timestamp("2024-01-01 00:00", tz="UTC").value
MINUTE = 60 * 10**9

BASE: dict[str, object] = {
    "bb_period": 2,
    "bb_std": 0.5,
    "atr_period": 1,
    "atr_method": "ema",
    "atr_multiplier": 1.0,
    "trailing_stop": False,
    "max_hold_bars": 100,
    "spacing_bars": 0,
    "trend_period": 0,
    "direction": "both",
    "risk_per_trade": 0.01,
    "leverage": 100.0,
    "fee_bps": 0.0,
    "slippage_bps": 0.0,
    "initial_capital": 10_000.0,
}

# Two quiet bars, then the entry bars used by most tables.
QUIET = [(100, 101, 99, 100), (100, 101, 99, 100)]
LONG_ENTRY = (100, 100, 95, 96)  # down close: long at 96, TR = 5 -> stop 91, qty 100/5 = 20
SHORT_ENTRY = (100, 105, 100, 104)  # up close: short at 104, TR = 5 -> stop 109, qty 20


def run(bars: list[tuple[float, float, float, float]], **overrides: object) -> BacktestResult:
    """Simulate a candle table (one tuple o, h, l, c per 1-minute bar) and check the invariant."""
    o, h, lo, c = np.array(bars, dtype=np.float64).T
    times = T0 + MINUTE * np.arange(len(bars), dtype=np.int64)
    params = StrategyParams(**{**BASE, **overrides})
    result = simulate(o, h, lo, c, times, params, bar_minutes=1)
    total = math.fsum(result.trades["pnl"])
    assert result.equity[-1] == pytest.approx(params.initial_capital + total, rel=1e-12)
    assert list(result.trades.columns) == list(TRADE_COLUMNS)
    assert_cpu_kernel_agrees(bars, params, result)
    TABLES.append((list(bars), params.model_dump()))
    return result


# Every candle table run() saw, with its parameters: the CPU kernel checks each one as it runs
# (assert_cpu_kernel_agrees); the CUDA twin replays them all under numba's simulator at the end.
TABLES: list[tuple[list, dict]] = []


def _reference_row(result: BacktestResult) -> np.ndarray:
    from threadx.strategy.metrics import METRIC_NAMES, STAT_NAMES

    metrics = [float(result.metrics[name]) for name in METRIC_NAMES]
    stats = [float(result.stats[name]) for name in STAT_NAMES]
    return np.array([*metrics, *stats, *result.stats["blocks"]])


def assert_cpu_kernel_agrees(bars: list, params: StrategyParams, result: BacktestResult) -> None:
    """The fused CPU kernel on the same table: every metric, statistic and block sum equal to
    the reference's (integers exactly, the rest within 1e-9 relative)."""
    from tests.kernels.test_kernels import _mismatches
    from threadx.kernels.cpu import run_sweep_cpu
    from threadx.strategy.pack import pack

    o, h, lo, c = np.array(bars, dtype=np.float64).T
    out = run_sweep_cpu(
        pack([params.model_dump()], o, h, lo, c), T0, T0 + MINUTE * (len(bars) - 1), 1
    )
    bad = _mismatches(out[0], _reference_row(result))
    assert not bad, "CPU kernel vs reference on this table:\n  " + "\n  ".join(bad)


def only_trade(result: BacktestResult) -> dict[str, object]:
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0].to_dict()


# --------------------------------------------------------------------------------------------
# entries
# --------------------------------------------------------------------------------------------


def test_long_entry_on_crossing_below_the_lower_band() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 97, 93, 94), (94, 95, 93.5, 94), (94, 95, 93, 94)]
    res = run(bars)
    np.testing.assert_array_equal(res.signals, [0, 0, 1, 0, 0, 0])
    assert res.lower[2] == 97.0 and res.middle[2] == 98.0  # window (100, 96): sd 2, k 0.5
    tr = only_trade(res)
    assert tr["side"] == 1 and tr["entry_bar"] == 2 and tr["exit_bar"] == 4
    assert tr["entry_price"] == 96.0 and tr["stop_at_entry"] == 91.0 and tr["qty"] == 20.0
    # bar 3: close 94 < middle 95 -> hold; bar 4: close 94 >= middle 94 -> take profit at 94
    assert tr["exit_price"] == 94.0 and tr["exit_reason"] == "take_profit"
    assert tr["pnl"] == -40.0 and tr["fees"] == 0.0
    assert tr["return"] == pytest.approx(-40.0 / (20 * 96), rel=1e-15)
    assert tr["entry_time"] == pd.Timestamp(T0 + 2 * MINUTE, tz="UTC")
    assert tr["exit_time"] == pd.Timestamp(T0 + 4 * MINUTE, tz="UTC")
    np.testing.assert_array_equal(res.equity, [10_000, 10_000, 10_000, 9_960, 9_960, 9_960])


def test_short_entry_on_crossing_above_the_upper_band() -> None:
    bars = [*QUIET, SHORT_ENTRY, (104, 106, 101, 102), (102, 103, 101, 102)]
    res = run(bars, direction="short")
    np.testing.assert_array_equal(res.signals, [0, 0, -1, 0, 0])
    tr = only_trade(res)
    assert (tr["side"], tr["entry_bar"], tr["exit_bar"]) == (-1, 2, 3)
    assert tr["entry_price"] == 104.0 and tr["stop_at_entry"] == 109.0 and tr["qty"] == 20.0
    # bar 3: high 106 < stop 109; close 102 <= middle 103 -> take profit at 102
    assert tr["exit_price"] == 102.0 and tr["exit_reason"] == "take_profit"
    assert tr["pnl"] == 40.0
    assert res.equity[-1] == 10_040.0


def test_direction_and_readiness_and_trend_filter_on_given_bands() -> None:
    close = np.array([10, 10, 8, 8, 10, 12, 12, 8], dtype=np.float64)
    middle = np.r_[np.nan, np.full(7, 10.0)]
    bands = Bollinger(middle, middle + 1.0, middle - 1.0, np.r_[np.nan, np.ones(7)])
    atr_values = np.ones(8)
    p = StrategyParams(bb_period=2)
    np.testing.assert_array_equal(
        raw_signals(close, bands, atr_values, None, p), [0, 0, 1, 0, 0, -1, 0, 1]
    )
    long_only = p.model_copy(update={"direction": "long"})
    np.testing.assert_array_equal(
        raw_signals(close, bands, atr_values, None, long_only), [0, 0, 1, 0, 0, 0, 0, 1]
    )
    short_only = p.model_copy(update={"direction": "short"})
    np.testing.assert_array_equal(
        raw_signals(close, bands, atr_values, None, short_only), [0, 0, 0, 0, 0, -1, 0, 0]
    )
    # ATR undefined up to bar 2: bars 2 and 3 are not ready (t and t-1 must be defined)
    late_atr = np.r_[np.nan, np.nan, np.nan, np.ones(5)]
    np.testing.assert_array_equal(
        raw_signals(close, bands, late_atr, None, p), [0, 0, 0, 0, 0, -1, 0, 1]
    )
    # trend filter: long needs close > EMA, short needs close < EMA
    trend = np.array([0, 0, 7, 7, 7, 13, 13, 13], dtype=np.float64)
    with_trend = p.model_copy(update={"trend_period": 5})
    np.testing.assert_array_equal(
        raw_signals(close, bands, atr_values, trend, with_trend), [0, 0, 1, 0, 0, -1, 0, 0]
    )


# --------------------------------------------------------------------------------------------
# spacing
# --------------------------------------------------------------------------------------------


def test_spacing_counts_from_the_previous_kept_signal_only() -> None:
    raw = np.array([0, 1, 0, -1, 1, 0, 0, 1, 1], dtype=np.int8)
    # spacing 3: bar 3 is dropped (3-1 = 2 < 3) and does not reset the clock; bar 4 is kept
    # (4-1 = 3); bar 7 is kept (7-4 = 3); bar 8 is dropped (8-7 = 1)
    np.testing.assert_array_equal(apply_spacing(raw, 3), [0, 1, 0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(apply_spacing(raw, 0), raw)
    np.testing.assert_array_equal(apply_spacing(raw, 1), raw)
    np.testing.assert_array_equal(apply_spacing(raw, 10), [0, 1, 0, 0, 0, 0, 0, 0, 0])


def test_spacing_drops_a_signal_and_its_trade() -> None:
    closes = [100, 100, 96, 96, 100, 96, 96]
    bars = [(c, c, c, c) for c in closes]  # raw signals: long @2, short @4, long @5
    without = run(bars, spacing_bars=0)
    np.testing.assert_array_equal(without.signals, [0, 0, 1, 0, -1, 1, 0])
    assert list(without.trades["entry_bar"]) == [2, 4, 5]
    with_spacing = run(bars, spacing_bars=3)
    # the short at 4 comes 2 bars after the kept long at 2 -> dropped; the long at 5 is 3 bars
    # after the kept signal at 2 -> kept (the dropped signal did not reset the clock)
    np.testing.assert_array_equal(with_spacing.signals, [0, 0, 1, 0, 0, 1, 0])
    assert list(with_spacing.trades["entry_bar"]) == [2, 5]
    assert list(with_spacing.trades["exit_reason"]) == ["take_profit", "take_profit"]


def test_signals_do_not_depend_on_the_position() -> None:
    bars = [*QUIET, LONG_ENTRY, (90, 90, 85, 88), (88, 89, 87, 89), (89, 89, 85, 86)]
    res = run(bars, risk_per_trade=1.0)  # ruined on bar 3: later signals remain in `signals`
    o, h, lo, c = np.array(bars, dtype=np.float64).T
    ind = compute_indicators(h, lo, c, StrategyParams(**BASE))
    np.testing.assert_array_equal(res.signals, kept_signals(c, ind, StrategyParams(**BASE)))


# --------------------------------------------------------------------------------------------
# exits
# --------------------------------------------------------------------------------------------


def test_no_exit_check_on_the_entry_bar() -> None:
    # entry bar low 90 is below the stop 91 (TR 10, multiplier 0.5 -> d = 5): ignored on that bar
    bars = [*QUIET, (100, 100, 90, 96), (96, 97, 93, 94), (94, 95, 93.5, 94)]
    res = run(bars, atr_multiplier=0.5, max_hold_bars=2)
    tr = only_trade(res)
    assert tr["stop_at_entry"] == 91.0 and tr["qty"] == 20.0
    assert tr["exit_bar"] == 4 and tr["exit_reason"] == "take_profit" and tr["exit_price"] == 94.0


def test_stop_wins_over_take_profit_in_the_same_bar() -> None:
    # bar 3: low 90 <= stop 91 and close 98 >= middle 97; the stop is checked first
    bars = [*QUIET, LONG_ENTRY, (96, 99, 90, 98)]
    tr = only_trade(run(bars, direction="long"))
    assert tr["exit_bar"] == 3 and tr["exit_reason"] == "stop" and tr["exit_price"] == 91.0
    assert tr["pnl"] == -100.0  # 20 * (91 - 96) = -1% of equity, as sized


def test_exact_touch_of_the_stop_fires() -> None:
    long_touch = only_trade(run([*QUIET, LONG_ENTRY, (96, 97, 91, 93)], direction="long"))
    assert (long_touch["exit_reason"], long_touch["exit_price"]) == ("stop", 91.0)
    short_touch = only_trade(run([*QUIET, SHORT_ENTRY, (104, 109, 103, 105)], direction="short"))
    assert (short_touch["exit_reason"], short_touch["exit_price"]) == ("stop", 109.0)
    assert short_touch["pnl"] == -100.0
    near_miss = only_trade(run([*QUIET, LONG_ENTRY, (96, 97, 91.25, 93)], direction="long"))
    assert near_miss["exit_reason"] == "end_of_data" and near_miss["exit_price"] == 93.0


def test_gap_through_the_stop_fills_at_the_open() -> None:
    long_gap = only_trade(run([*QUIET, LONG_ENTRY, (89, 90, 85, 88)], direction="long"))
    assert (long_gap["exit_reason"], long_gap["exit_price"]) == ("stop", 89.0)  # min(89, 91)
    assert long_gap["pnl"] == 20 * (89.0 - 96.0)
    short_gap = only_trade(run([*QUIET, SHORT_ENTRY, (112, 113, 110, 111)], direction="short"))
    assert (short_gap["exit_reason"], short_gap["exit_price"]) == ("stop", 112.0)  # max(112, 109)
    assert short_gap["pnl"] == -20 * (112.0 - 104.0)


def test_trailing_stop_moves_only_at_closes_and_only_in_the_long_favour() -> None:
    bars = [
        *QUIET,
        LONG_ENTRY,  # stop 91
        (96, 96, 95.5, 95.75),  # TR 0.5: stop -> max(91, 95.75 - 0.5) = 95.25
        (95.75, 99, 95.5, 95.5),  # TR 3.5: 95.5 - 3.5 = 92 < 95.25, stop stays (high 99 ignored)
        (95.5, 95.5, 95, 95.25),  # low 95 <= 95.25: trailing stop at min(95.5, 95.25)
    ]
    tr = only_trade(run(bars, trailing_stop=True, direction="long"))
    assert tr["stop_at_entry"] == 91.0
    assert tr["exit_bar"] == 5 and tr["exit_reason"] == "trailing_stop"
    assert tr["exit_price"] == 95.25 and tr["pnl"] == 20 * (95.25 - 96.0)
    fixed = only_trade(run(bars, trailing_stop=False, direction="long"))
    assert fixed["exit_reason"] == "end_of_data" and fixed["exit_price"] == 95.25


def test_trailing_stop_moves_only_in_the_short_favour() -> None:
    bars = [
        *QUIET,
        SHORT_ENTRY,  # stop 109
        (104, 104.5, 104, 104.25),  # TR 0.5: stop -> min(109, 104.25 + 0.5) = 104.75
        (104.25, 104.5, 101, 104.5),  # TR 3.5: 108 > 104.75, stop stays
        (104.5, 105, 104.5, 104.75),  # high 105 >= 104.75: trailing stop at max(104.5, 104.75)
    ]
    tr = only_trade(run(bars, trailing_stop=True, direction="short"))
    assert tr["stop_at_entry"] == 109.0
    assert (tr["exit_bar"], tr["exit_reason"], tr["exit_price"]) == (5, "trailing_stop", 104.75)
    assert tr["pnl"] == -20 * (104.75 - 104.0)


def test_max_hold_exits_at_the_close() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 97, 93, 94), (94, 95, 92, 93), (93, 94, 92, 92.5)]
    tr = only_trade(run(bars, max_hold_bars=2))
    # bar 3: 1 bar held < 2; bar 4: 4 - 2 = 2 >= 2 -> exit at close 93
    assert (tr["exit_bar"], tr["exit_reason"], tr["exit_price"]) == (4, "max_hold", 93.0)
    assert tr["pnl"] == 20 * (93.0 - 96.0)


def test_end_of_data_closes_the_open_position() -> None:
    res = run([*QUIET, LONG_ENTRY, (96, 97, 93, 94)])
    tr = only_trade(res)
    assert (tr["exit_bar"], tr["exit_reason"], tr["exit_price"]) == (3, "end_of_data", 94.0)
    assert res.equity[-1] == 10_000 + 20 * (94.0 - 96.0)
    assert res.metrics["n_trades"] == 1 and res.metrics["exposure"] == 1 / 4


def test_end_of_data_closes_a_position_opened_on_the_last_bar_with_fees() -> None:
    res = run([*QUIET, LONG_ENTRY], fee_bps=10.0)
    tr = only_trade(res)
    assert (tr["entry_bar"], tr["exit_bar"], tr["exit_reason"]) == (2, 2, "end_of_data")
    fee = 0.001 * 20 * 96.0
    assert tr["fees"] == pytest.approx(2 * fee, rel=1e-15)
    assert tr["pnl"] == pytest.approx(-2 * fee, rel=1e-15)
    assert res.equity[-1] == pytest.approx(10_000 - 2 * fee, rel=1e-15)


# --------------------------------------------------------------------------------------------
# costs and sizing
# --------------------------------------------------------------------------------------------


def test_fees_on_both_sides_are_booked_once() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 97, 93, 94), (94, 99, 94, 98)]
    res = run(bars, fee_bps=10.0, direction="long")
    tr = only_trade(res)
    fee_entry, fee_exit = 0.001 * 20 * 96.0, 0.001 * 20 * 98.0  # 1.92 and 1.96
    assert tr["qty"] == 20.0  # sized from the cash before the entry fee
    assert tr["exit_reason"] == "take_profit" and tr["exit_price"] == 98.0
    assert tr["fees"] == pytest.approx(fee_entry + fee_exit, rel=1e-14)
    assert tr["pnl"] == pytest.approx(40.0 - 3.88, rel=1e-14)
    np.testing.assert_allclose(
        res.equity, [10_000, 10_000, 10_000 - 1.92, 10_000 - 1.92 - 40, 10_036.12], rtol=1e-14
    )
    assert res.metrics["total_fees"] == pytest.approx(3.88, rel=1e-14)


def test_slippage_moves_every_fill_against_the_trader() -> None:
    long_bars = [*QUIET, LONG_ENTRY, (96, 97, 93, 94), (94, 99, 94, 98)]
    tr = only_trade(run(long_bars, slippage_bps=100.0, direction="long"))
    assert tr["entry_price"] == pytest.approx(96 * 1.01, rel=1e-15)  # 96.96
    assert tr["stop_at_entry"] == pytest.approx(96.96 - 5, rel=1e-15)
    assert tr["qty"] == 20.0
    assert tr["exit_price"] == pytest.approx(98 * 0.99, rel=1e-15)  # 97.02
    assert tr["pnl"] == pytest.approx(20 * (97.02 - 96.96), rel=1e-12)  # 1.2
    short_bars = [*QUIET, SHORT_ENTRY, (104, 110, 103, 105)]
    tr = only_trade(run(short_bars, slippage_bps=100.0, direction="short"))
    assert tr["entry_price"] == pytest.approx(104 * 0.99, rel=1e-15)  # 102.96
    assert tr["stop_at_entry"] == pytest.approx(102.96 + 5, rel=1e-15)  # 107.96
    assert tr["exit_reason"] == "stop"
    assert tr["exit_price"] == pytest.approx(107.96 * 1.01, rel=1e-15)  # stop fill, slipped up
    assert tr["pnl"] == pytest.approx(-20 * (107.96 * 1.01 - 102.96), rel=1e-12)


def test_leverage_caps_the_position_size() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 97, 93, 94)]
    capped = only_trade(run(bars, risk_per_trade=0.5, leverage=0.5))
    # risk sizing wants 10000 * 0.5 / 5 = 1000; the cap allows 10000 * 0.5 / 96
    assert capped["qty"] == 10_000 * 0.5 / 96.0
    assert capped["qty"] * capped["entry_price"] == pytest.approx(5_000.0, rel=1e-15)
    uncapped = only_trade(run(bars, risk_per_trade=0.5, leverage=100.0))
    assert uncapped["qty"] == 1_000.0


def test_same_bar_reentry_is_sized_from_the_cash_after_the_exit() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 99, 95.5, 98), (98, 99, 97.5, 98)]
    res = run(bars)
    assert len(res.trades) == 2
    first, second = res.trades.iloc[0], res.trades.iloc[1]
    assert (first["exit_bar"], first["exit_reason"], first["pnl"]) == (3, "take_profit", 40.0)
    # bar 3 is also a short signal (up close after a down close): enter at 98 with TR 3.5
    assert (second["side"], second["entry_bar"], second["entry_price"]) == (-1, 3, 98.0)
    assert second["qty"] == 10_040.0 * 0.01 / 3.5
    assert second["stop_at_entry"] == 101.5
    assert (second["exit_bar"], second["exit_reason"], second["pnl"]) == (4, "take_profit", 0.0)


def test_no_entry_when_the_stop_distance_is_zero() -> None:
    flat = (90, 90, 90, 90)
    bars = [flat, flat, flat, (90, 110, 90, 110), (110, 110, 100, 100), (100, 100, 100, 100)]
    res = run(bars, bb_period=3, direction="long")
    # bar 5: window (110, 100, 100) puts 100 below the lower band, bar 4 was not below:
    # a long signal, but TR[5] = 0 so d = 0 and no position is opened
    assert res.signals[5] == 1 and res.atr[5] == 0.0
    assert res.trades.empty
    np.testing.assert_array_equal(res.equity, np.full(6, 10_000.0))


# --------------------------------------------------------------------------------------------
# ruin
# --------------------------------------------------------------------------------------------


def test_ruin_stops_trading() -> None:
    bars = [*QUIET, LONG_ENTRY, (90, 90, 85, 88), (88, 89, 87, 89), (89, 89, 85, 86)]
    res = run(bars, risk_per_trade=1.0)  # qty = min(10000/5, 10000*100/96) = 2000
    tr = only_trade(res)
    assert tr["qty"] == 2_000.0 and tr["exit_reason"] == "stop" and tr["exit_price"] == 90.0
    assert tr["pnl"] == -12_000.0  # gap through the stop: cash -2000
    # bars 4 and 5 carry signals, but a ruined account never trades again
    assert res.signals[4] == -1 and res.signals[5] == 1
    np.testing.assert_array_equal(res.equity, [10_000, 10_000, 10_000, -2_000, -2_000, -2_000])
    np.testing.assert_array_equal(res.returns, [0.0, 0.0, -1.2, 0.0, 0.0])
    assert res.ruined and res.metrics["ruined"] is True
    assert res.metrics["cagr"] == -1.0 and res.metrics["max_drawdown"] == 1.0


def test_ruin_closes_an_open_position_at_the_close_with_costs() -> None:
    bars = [*QUIET, LONG_ENTRY, (96, 96, 91.25, 91.5), (91.5, 95, 91.5, 94)]
    res = run(bars, risk_per_trade=1.0, fee_bps=100.0)
    tr = only_trade(res)
    # entry: qty 2000, fee 0.01*2000*96 = 1920, cash 8080; bar 3 marks 8080 - 9000 = -920 <= 0
    # -> closed at 91.5 with fee 0.01*2000*91.5 = 1830: cash = 8080 - 9000 - 1830 = -2750
    assert (tr["exit_bar"], tr["exit_reason"], tr["exit_price"]) == (3, "ruin", 91.5)
    assert tr["pnl"] == pytest.approx(-9_000 - 1_920 - 1_830, rel=1e-14)
    assert tr["fees"] == pytest.approx(3_750.0, rel=1e-14)
    np.testing.assert_allclose(res.equity, [10_000, 10_000, 8_080, -2_750, -2_750], rtol=1e-14)
    assert res.ruined and res.signals[4] == -1  # bar 4 would have been a short entry


# --------------------------------------------------------------------------------------------
# parameters (STRATEGY.md "Parameters" and "Precise points")
# --------------------------------------------------------------------------------------------


def test_parameter_defaults_and_order() -> None:
    defaults = {  # STRATEGY.md's "Parameters" table, in its order
        "bb_period": 20,
        "bb_std": 2.0,
        "atr_period": 14,
        "atr_method": "ema",
        "atr_multiplier": 1.5,
        "trailing_stop": True,
        "max_hold_bars": 72,
        "spacing_bars": 6,
        "trend_period": 0,
        "direction": "both",
        "risk_per_trade": 0.01,
        "leverage": 1.0,
        "fee_bps": 4.5,
        "slippage_bps": 0.0,
        "initial_capital": 10000.0,
    }
    assert PARAM_NAMES == tuple(defaults)
    assert StrategyParams().model_dump() == defaults
    assert all(f.description for f in StrategyParams.model_fields.values())


def test_parameter_coercions() -> None:
    p = StrategyParams(bb_period=20.0, trailing_stop="false", trend_period=np.int64(5))
    assert p.bb_period == 20 and type(p.bb_period) is int
    assert p.trailing_stop is False and p.trend_period == 5
    assert StrategyParams(trailing_stop="TRUE").trailing_stop is True
    assert StrategyParams(bb_std=3).bb_std == 3.0 and type(StrategyParams(bb_std=3).bb_std) is float


@pytest.mark.parametrize(
    ("values", "name"),
    [
        ({"bb_period": 1}, "bb_period"),
        ({"bb_period": 20.5}, "bb_period"),
        ({"bb_period": True}, "bb_period"),
        ({"bb_std": 0.0}, "bb_std"),
        ({"bb_std": math.inf}, "bb_std"),
        ({"atr_period": 0}, "atr_period"),
        ({"atr_method": "hull"}, "atr_method"),
        ({"atr_multiplier": -1.0}, "atr_multiplier"),
        ({"trailing_stop": 1}, "trailing_stop"),
        ({"trailing_stop": "yes"}, "trailing_stop"),
        ({"max_hold_bars": 0}, "max_hold_bars"),
        ({"spacing_bars": -1}, "spacing_bars"),
        ({"trend_period": 1}, "trend_period"),
        ({"trend_period": -2}, "trend_period"),
        ({"direction": "up"}, "direction"),
        ({"risk_per_trade": 0.0}, "risk_per_trade"),
        ({"risk_per_trade": 1.01}, "risk_per_trade"),
        ({"leverage": 0.0}, "leverage"),
        ({"fee_bps": -0.1}, "fee_bps"),
        ({"slippage_bps": -1.0}, "slippage_bps"),
        ({"initial_capital": 0.0}, "initial_capital"),
        ({"bb_std": "2.0"}, "bb_std"),
    ],
)
def test_parameter_rule_violations_name_the_parameter(values: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        StrategyParams(**values)
    with pytest.raises(ConfigError, match=name):
        params_from_mapping(values)


def test_unknown_parameter_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown parameter") as err:
        StrategyParams(bb_periods=20)
    assert all(name in str(err.value) for name in PARAM_NAMES)
    with pytest.raises(ConfigError, match="known parameters are: bb_period, bb_std"):
        parse_param_assignments(["bb_periods=20"])


def test_parse_param_assignments() -> None:
    parsed = parse_param_assignments(
        ["bb_period=20", "trailing_stop=false", "bb_std=2.5", "direction=long", "spacing_bars=3.0"]
    )
    assert parsed == {
        "bb_period": 20,
        "trailing_stop": False,
        "bb_std": 2.5,
        "direction": "long",
        "spacing_bars": 3,
    }
    assert type(parsed["bb_period"]) is int and type(parsed["bb_std"]) is float
    assert StrategyParams(**parsed).direction == "long"
    for bad, name in [
        ("bb_period=twenty", "bb_period"),
        ("bb_period=2.5", "bb_period"),
        ("bb_std=abc", "bb_std"),
        ("fee_bps=nan", "fee_bps"),
        ("trailing_stop=maybe", "trailing_stop"),
    ]:
        with pytest.raises(ConfigError, match=name):
            parse_param_assignments([bad])
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_param_assignments(["bb_period"])
    with pytest.raises(ConfigError, match="more than once"):
        parse_param_assignments(["bb_period=20", "bb_period=30"])


def test_every_table_through_the_cuda_simulator() -> None:
    """The GPU twin (numba's CUDA simulator: the device body, the launch, the transfers) on every
    candle table of this module equals the CPU kernel, bit for bit. The tables are collected by
    running this module's table tests first (whatever ran before), then replayed in one
    subprocess."""
    import inspect
    import json
    import subprocess
    import sys
    import textwrap

    TABLES.clear()
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and name != "test_every_table_through_the_cuda_simulator":
            if callable(fn) and not inspect.signature(fn).parameters:
                fn()
    assert len(TABLES) >= 20, len(TABLES)
    code = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from threadx.kernels import resolve_backend
        from threadx.kernels.cpu import run_sweep_cpu
        from threadx.kernels.gpu import run_sweep_gpu
        from threadx.strategy.pack import pack
        assert resolve_backend("auto") == "gpu"
        t0, minute = int(sys.argv[1]), int(sys.argv[2])
        for i, (bars, params) in enumerate(json.load(sys.stdin)):
            o, h, lo, c = np.array(bars, dtype=np.float64).T
            packed = pack([params], o, h, lo, c)
            end = t0 + minute * (len(bars) - 1)
            gpu, cpu = run_sweep_gpu(packed, t0, end, 1), run_sweep_cpu(packed, t0, end, 1)
            assert np.array_equal(gpu, cpu, equal_nan=True), (i, params, gpu - cpu)
        print("ok", i + 1)
        """
    )
    env = {**__import__("os").environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(T0), str(MINUTE)],
        input=json.dumps(TABLES),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["ok", str(len(TABLES))]
