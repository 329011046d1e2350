"""Metrics vs hand computation on short equity curves (STRATEGY.md "Metrics")."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from threadx.strategy.metrics import (
    INT_METRICS,
    METRIC_NAMES,
    bar_returns,
    compute_metrics,
    drawdown,
    metrics_to_json,
    periods_per_year,
)

DAY_NS = 86_400 * 10**9
NO_TRADES = (np.array([]), np.array([]), np.array([]))


def metrics(
    equity: list[float],
    trades: tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[list, list, list] = NO_TRADES,
    *,
    span_ns: int | None = None,
    initial: float = 100.0,
    bar_minutes: float = 1440,
    ruined: bool = False,
) -> dict:
    eq = np.asarray(equity, dtype=np.float64)
    pnl, bars, fees = (np.asarray(a, dtype=np.float64) for a in trades)
    span = (eq.size - 1) * DAY_NS if span_ns is None else span_ns
    return compute_metrics(eq, pnl, bars, fees, 0, span, initial, bar_minutes, ruined, eq.size)


def _sample_stats(r: list[float]) -> tuple[float, float]:
    """Mean and ddof=1 standard deviation, written out."""
    k = len(r)
    mean = sum(r) / k
    return mean, math.sqrt(sum((x - mean) ** 2 for x in r) / (k - 1))


def test_names_in_table_order_and_types() -> None:
    # the order itself is STRATEGY.md's metric table (tests/strategy/test_strategy_doc.py checks it)
    assert len(METRIC_NAMES) == 18 == len(set(METRIC_NAMES))
    assert METRIC_NAMES[0] == "final_equity" and METRIC_NAMES[-1] == "ruined"
    assert INT_METRICS == ("n_trades", "ruined")
    m = metrics([100.0, 101.0, 99.0], ([1.0], [2], [0.1]))
    assert tuple(m) == METRIC_NAMES
    assert type(m["n_trades"]) is int and type(m["ruined"]) is bool
    for name in METRIC_NAMES:
        if name not in INT_METRICS:
            assert type(m[name]) is float, name


@pytest.mark.parametrize(
    ("bar_minutes", "expected"), [(1, 525960.0), (15, 35064.0), (1440, 365.25)]
)
def test_periods_per_year(bar_minutes: int, expected: float) -> None:
    assert periods_per_year(bar_minutes) == expected == 525960 / bar_minutes
    with pytest.raises(ValueError, match="bar_minutes"):
        periods_per_year(0)


def test_bar_returns_are_zero_after_non_positive_equity() -> None:
    r = bar_returns(np.array([100.0, 50.0, -10.0, -10.0, 5.0, 10.0]))
    np.testing.assert_array_equal(r, [-0.5, -1.2, 0.0, 0.0, 1.0])
    assert bar_returns(np.array([100.0])).size == 0


def test_flat_equity_without_trades() -> None:
    m = metrics([100.0, 100.0, 100.0, 100.0])
    assert m["final_equity"] == 100.0 and m["total_return"] == 0.0 and m["cagr"] == 0.0
    assert m["annual_volatility"] == 0.0 and m["sharpe"] == 0.0 and m["sortino"] == 0.0
    assert m["max_drawdown"] == 0.0 and m["calmar"] == 0.0
    for name in ("win_rate", "profit_factor", "expectancy", "avg_win", "avg_loss"):
        assert m[name] == 0.0, name
    assert m["exposure"] == 0.0 and m["avg_bars_held"] == 0.0 and m["total_fees"] == 0.0
    assert m["n_trades"] == 0 and m["ruined"] is False


def test_monotone_rising_equity() -> None:
    eq = [100.0, 110.0, 120.0, 150.0]
    m = metrics(eq, ([50.0], [3], [0.5]), bar_minutes=1440)  # daily bars over 3 days
    r = [0.1, 120 / 110 - 1, 0.25]
    mean, sd = _sample_stats(r)
    ppy = 365.25
    assert m["total_return"] == pytest.approx(0.5, rel=1e-15)
    assert m["cagr"] == pytest.approx(1.5 ** (365.25 / 3) - 1, rel=1e-12)
    assert m["annual_volatility"] == pytest.approx(sd * math.sqrt(ppy), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(ppy), rel=1e-12)
    assert m["sortino"] == math.inf  # mean > 0 and no downside
    assert m["max_drawdown"] == 0.0 and m["calmar"] == math.inf
    assert m["n_trades"] == 1 and m["win_rate"] == 1.0 and m["profit_factor"] == math.inf
    assert m["avg_win"] == 50.0 and m["avg_loss"] == 0.0 and m["expectancy"] == 50.0
    assert m["exposure"] == 3 / 4 and m["avg_bars_held"] == 3.0 and m["total_fees"] == 0.5


def test_constant_returns_have_zero_sharpe() -> None:
    eq = [100.0 * 1.25**i for i in range(5)]  # exact powers: every return is exactly 0.25
    m = metrics(eq)
    assert m["annual_volatility"] == 0.0 and m["sharpe"] == 0.0 and m["sortino"] == math.inf


def test_all_losses() -> None:
    eq = [100.0, 95.0, 97.0, 90.0, 85.0]
    trades = ([-10.0, -5.0], [2, 1], [1.0, 0.5])
    m = metrics(eq, trades, bar_minutes=60, span_ns=4 * 3600 * 10**9)
    r = [-0.05, 97 / 95 - 1, 90 / 97 - 1, 85 / 90 - 1]
    mean, sd = _sample_stats(r)
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / len(r))
    ppy = 525960 / 60
    cagr = 0.85 ** (365.25 * 24 / 4) - 1
    assert m["total_return"] == pytest.approx(-0.15, rel=1e-14)
    assert m["cagr"] == pytest.approx(cagr, rel=1e-12)
    assert m["annual_volatility"] == pytest.approx(sd * math.sqrt(ppy), rel=1e-12)
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(ppy), rel=1e-12)
    assert m["sortino"] == pytest.approx(mean / downside * math.sqrt(ppy), rel=1e-12)
    assert m["max_drawdown"] == pytest.approx(0.15, rel=1e-14)
    assert m["calmar"] == pytest.approx(cagr / 0.15, rel=1e-12)
    assert m["win_rate"] == 0.0 and m["profit_factor"] == 0.0
    assert m["expectancy"] == -7.5 and m["avg_win"] == 0.0 and m["avg_loss"] == -7.5
    assert m["exposure"] == 3 / 5 and m["avg_bars_held"] == 1.5 and m["total_fees"] == 1.5


def test_mixed_trades_and_a_zero_pnl_trade() -> None:
    trades = ([10.0, -5.0, 0.0, 20.0], [1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4])
    m = metrics([100.0, 105.0, 102.0, 125.0], trades)
    assert m["n_trades"] == 4
    assert m["win_rate"] == 0.5  # the 0.0 trade is neither a win nor a loss
    assert m["profit_factor"] == 6.0 and m["avg_win"] == 15.0 and m["avg_loss"] == -5.0
    assert m["expectancy"] == 6.25 and m["avg_bars_held"] == 2.5
    assert m["total_fees"] == pytest.approx(1.0, rel=1e-15)
    # drawdown 1 - 102/105, then a new high
    assert m["max_drawdown"] == pytest.approx(3 / 105, rel=1e-14)


def test_only_zero_pnl_trades_give_zero_profit_factor() -> None:
    m = metrics([100.0, 100.0, 100.0], ([0.0], [1], [0.0]))
    assert m["profit_factor"] == 0.0 and m["win_rate"] == 0.0
    assert m["avg_win"] == 0.0 and m["avg_loss"] == 0.0 and m["expectancy"] == 0.0


def test_ruined_curve() -> None:
    eq = [100.0, 50.0, -10.0, -10.0]
    m = metrics(eq, ([-110.0], [2], [1.0]), ruined=True)
    r = [-0.5, -1.2, 0.0]  # no return after non-positive equity
    mean, sd = _sample_stats(r)
    assert m["final_equity"] == -10.0 and m["total_return"] == -1.1
    assert m["cagr"] == -1.0
    assert m["max_drawdown"] == 1.0  # 1 - (-10/100) = 1.1, clamped
    assert m["calmar"] == -1.0
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(365.25), rel=1e-12)
    assert m["ruined"] is True


def test_fewer_than_two_returns_and_zero_span() -> None:
    m = metrics([100.0, 110.0], span_ns=0)
    assert m["annual_volatility"] == 0.0 and m["sharpe"] == 0.0 and m["sortino"] == 0.0
    assert m["cagr"] == 0.0 and m["calmar"] == 0.0 and m["total_return"] == pytest.approx(0.1)
    single = metrics([100.0], span_ns=0)
    assert single["final_equity"] == 100.0 and single["sharpe"] == 0.0


def test_cagr_overflow_is_infinite() -> None:
    m = metrics([100.0, 200.0, 400.0], span_ns=2 * 60 * 10**9, bar_minutes=1)
    assert m["cagr"] == math.inf and m["calmar"] == math.inf


def test_drawdown_series() -> None:
    dd = drawdown(np.array([100.0, 120.0, 90.0, 130.0, -5.0]))
    np.testing.assert_allclose(dd, [0.0, 0.0, 0.25, 0.0, 1.0], rtol=1e-15)


def test_metrics_to_json_maps_infinities_and_nan() -> None:
    m = metrics([100.0, 110.0, 120.0, 150.0], ([50.0], [3], [0.5]))
    m["avg_loss"] = -math.inf
    m["expectancy"] = math.nan
    out = metrics_to_json(m)
    assert out["sortino"] == "inf" and out["profit_factor"] == "inf"
    assert out["avg_loss"] == "-inf" and out["expectancy"] is None
    assert out["n_trades"] == 1 and out["ruined"] is False
    assert list(out) == list(METRIC_NAMES)
    json.dumps(out, allow_nan=False)  # plain JSON
    assert metrics_to_json({"x": np.float64(1.5), "y": np.int64(3), "z": np.bool_(True)}) == {
        "x": 1.5,
        "y": 3,
        "z": True,
    }


# --------------------------------------------------------------------------------------------
# return statistics of the overfitting report (skewness, kurtosis, block sums)
# --------------------------------------------------------------------------------------------


def test_return_statistics_equal_scipy_moments_and_direct_block_sums() -> None:
    from scipy import stats as sps

    from threadx.strategy.metrics import block_bounds, return_statistics

    rng = np.random.default_rng(11)
    r = rng.standard_t(4, 10_007) * 1e-3 + 2e-5
    r[rng.random(r.size) < 0.6] = 0.0  # flat bars
    got = return_statistics(r, 16)
    assert got["skewness"] == pytest.approx(sps.skew(r, bias=True), rel=1e-9)
    assert got["kurtosis"] == pytest.approx(sps.kurtosis(r, fisher=False, bias=True), rel=1e-9)
    idx = np.floor(np.arange(r.size) * 16 / r.size).astype(int)  # the block of each return
    want = np.array([r[idx == b].sum() for b in range(16)])
    assert np.allclose(got["blocks"], want, rtol=1e-12, atol=1e-15)
    assert math.fsum(got["blocks"]) == pytest.approx(math.fsum(r), rel=1e-12)
    bounds = block_bounds(r.size, 16)
    assert bounds[0] == 0 and bounds[-1] == r.size and np.all(np.diff(bounds) >= 625)


def test_return_statistics_edge_cases() -> None:
    from threadx.strategy.metrics import block_bounds, return_statistics

    flat = return_statistics(np.zeros(100), 4)
    assert (flat["skewness"], flat["kurtosis"]) == (0.0, 3.0)
    assert np.array_equal(flat["blocks"], np.zeros(4))
    # fewer returns than blocks: return j sits in block floor(j * S / n), the others are empty
    few = return_statistics(np.array([0.1, -0.2, 0.3]), 16)
    assert list(block_bounds(3, 16)[[0, 5, 6, 11, 16]]) == [0, 1, 2, 3, 3]
    assert few["blocks"][0] == 0.1 and few["blocks"][5] == -0.2 and few["blocks"][10] == 0.3
    assert np.count_nonzero(few["blocks"]) == 3
    sym = return_statistics(np.array([-0.01, 0.0, 0.01]), 2)
    assert sym["skewness"] == pytest.approx(0.0, abs=1e-12)
    assert sym["kurtosis"] == pytest.approx(1.5)
