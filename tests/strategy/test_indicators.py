"""Indicators vs direct per-window computations, plain loops and TA-Lib (STRATEGY.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from threadx.strategy.indicators import (
    Bollinger,
    atr,
    bollinger,
    ema,
    rolling_mean_std,
    true_range,
    zscore,
)

try:
    import talib
except Exception as exc:  # pragma: no cover - depends on the environment
    talib = None
    TALIB_SKIP = f"TA-Lib (import talib) is not importable: {exc!r}"
else:
    TALIB_SKIP = ""

needs_talib = pytest.mark.skipif(talib is None, reason=TALIB_SKIP or "TA-Lib available")

ONE_YEAR_OF_MINUTES = 525_600
RTOL = 1e-9


@pytest.fixture(scope="module")
def btc_year() -> dict[str, np.ndarray]:
    """A seeded BTC-like 1-minute year: geometric random walk from ~20,000 with OHLC around it."""
    rng = np.random.default_rng(20_000)
    n = ONE_YEAR_OF_MINUTES
    close = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 7e-4, n)))
    open_ = np.empty(n)
    open_[0] = close[0]
    open_[1:] = close[:-1] * np.exp(rng.normal(0.0, 1e-4, n - 1))
    wick = np.abs(rng.normal(0.0, 5e-4, (2, n)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    return {"open": open_, "high": high, "low": low, "close": close}


def _sample_ends(n_bars: int, n: int, k: int = 4000, seed: int = 7) -> np.ndarray:
    """Indices ``t`` of full windows: random ones plus the first and the last few."""
    rng = np.random.default_rng(seed)
    first = n - 1
    random = rng.choice(np.arange(first, n_bars), size=min(k, n_bars - first), replace=False)
    edges = np.r_[first : first + 5, n_bars - 5 : n_bars]
    return np.unique(np.r_[random, edges])


def _direct_windows(x: np.ndarray, n: int, ends: np.ndarray) -> np.ndarray:
    """The windows ``x[t-n+1 .. t]`` for ``t`` in ``ends``, shape ``(len(ends), n)``."""
    return sliding_window_view(x, n)[ends - (n - 1)]


def _python_recursion(x: np.ndarray, alpha: float, start: int, seed: float) -> np.ndarray:
    out = np.full(x.size, np.nan)
    out[start] = seed
    for t in range(start + 1, x.size):
        out[t] = alpha * x[t] + (1.0 - alpha) * out[t - 1]
    return out


# -------------------------------------------------------------------------------------------
# rolling mean/std and Bollinger on a year of 1-minute bars
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 20, 200, 1440])
def test_rolling_mean_std_matches_direct_windows_over_a_year(btc_year, n) -> None:
    close = btc_year["close"]
    mean, std = rolling_mean_std(close, n)
    assert mean.dtype == std.dtype == np.float64
    assert np.isnan(mean[: n - 1]).all() and np.isnan(std[: n - 1]).all()
    assert not np.isnan(mean[n - 1 :]).any() and not np.isnan(std[n - 1 :]).any()
    ends = _sample_ends(close.size, n)
    windows = _direct_windows(close, n, ends)
    direct_mean = windows.mean(axis=1)
    direct_std = np.sqrt(((windows - direct_mean[:, None]) ** 2).mean(axis=1))  # two-pass, ddof 0
    np.testing.assert_allclose(mean[ends], direct_mean, rtol=RTOL, atol=0)
    np.testing.assert_allclose(std[ends], direct_std, rtol=RTOL, atol=0)


def test_bollinger_bands_match_direct_windows_over_a_year(btc_year) -> None:
    close, n, k = btc_year["close"], 20, 2.0
    bands = bollinger(close, n, k)
    assert isinstance(bands, Bollinger)
    ends = _sample_ends(close.size, n)
    windows = _direct_windows(close, n, ends)
    mid, sd = windows.mean(axis=1), windows.std(axis=1)
    np.testing.assert_allclose(bands.middle[ends], mid, rtol=RTOL, atol=0)
    np.testing.assert_allclose(bands.sd[ends], sd, rtol=RTOL, atol=0)
    np.testing.assert_allclose(bands.upper[ends], mid + k * sd, rtol=RTOL, atol=0)
    np.testing.assert_allclose(bands.lower[ends], mid - k * sd, rtol=RTOL, atol=0)
    assert np.isnan(bands.upper[: n - 1]).all() and np.isnan(bands.lower[: n - 1]).all()


def test_rolling_sums_do_not_drift_at_the_end_of_a_long_series() -> None:
    """A series far from zero with tiny wiggles: the last windows are as exact as the first."""
    rng = np.random.default_rng(3)
    x = 1e6 + np.cumsum(rng.normal(0, 1e-3, 300_000))
    n = 50
    mean, std = rolling_mean_std(x, n)
    for t in (n - 1, x.size // 2, x.size - 1):
        w = x[t - n + 1 : t + 1]
        assert mean[t] == pytest.approx(w.mean(), rel=1e-12)
        assert std[t] == pytest.approx(w.std(), rel=1e-9)


def test_rolling_mean_std_small_exact_cases() -> None:
    x = np.array([1.0, 3.0, 5.0, 5.0, 5.0, 2.0])
    mean, std = rolling_mean_std(x, 3)
    np.testing.assert_array_equal(mean[:2], [np.nan, np.nan])
    np.testing.assert_allclose(mean[2:], [3.0, 13 / 3, 5.0, 4.0], rtol=1e-15)
    np.testing.assert_allclose(std[2:], [math.sqrt(8 / 3), math.sqrt(8 / 9), 0.0, math.sqrt(2)])
    # a window of identical values has sd exactly 0 and middle exactly the value
    assert std[4] == 0.0 and mean[4] == 5.0
    mean1, std1 = rolling_mean_std(x, 1)
    np.testing.assert_array_equal(mean1, x)
    np.testing.assert_array_equal(std1, np.zeros_like(x))
    short_mean, short_std = rolling_mean_std(x[:2], 3)
    assert np.isnan(short_mean).all() and np.isnan(short_std).all()


def test_flat_windows_are_exactly_flat_at_awkward_prices() -> None:
    x = np.array([0.1, 0.2, 0.7, 0.7, 0.7, 0.7, 23456.789, 23456.789, 23456.789])
    mean, std = rolling_mean_std(x, 3)
    assert mean[4] == 0.7 and mean[5] == 0.7 and std[4] == 0.0 and std[5] == 0.0
    assert mean[8] == 23456.789 and std[8] == 0.0


def test_rolling_values_never_depend_on_later_bars(btc_year) -> None:
    close = btc_year["close"][:10_000]
    full_mean, full_std = rolling_mean_std(close, 37)
    for cut in (37, 38, 1000, 4321, 9999):
        m, s = rolling_mean_std(close[:cut], 37)
        np.testing.assert_array_equal(m, full_mean[:cut])
        np.testing.assert_array_equal(s, full_std[:cut])


@pytest.mark.parametrize("size", [1, 2, 3, 19, 20, 21, 39, 40, 41, 1000, 131_040])
def test_compiled_rolling_pass_is_bit_identical_to_the_numpy_blocks(size) -> None:
    """The compiled one-pass pivot blocks give exactly the numpy formulation's values: every
    period, full and partial last blocks, flat stretches, a NaN spreading over its windows."""
    from threadx.strategy.indicators import _rolling_mean_std_numpy

    rng = np.random.default_rng(size)
    x = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 7e-4, size)))
    if size >= 1000:
        x[100:300] = 23456.789
        x[size // 2] = np.nan
    for n in (1, 2, 3, 7, 10, 20, 25, 200):
        mean, std = rolling_mean_std(x, n)
        ref_mean, ref_std = np.full(size, np.nan), np.full(size, np.nan)
        if size >= n:
            _rolling_mean_std_numpy(x, n, ref_mean, ref_std)
        np.testing.assert_array_equal(mean, ref_mean)
        np.testing.assert_array_equal(std, ref_std)
        assert not np.signbit(std[~np.isnan(std)]).any()


def test_rolling_mean_std_writes_into_given_rows() -> None:
    x = np.array([1.0, 3.0, 5.0, 5.0, 5.0, 2.0])
    bank = np.full((2, 2, x.size), 99.0)
    mean, std = rolling_mean_std(x, 3, out=(bank[1, 0], bank[0, 1]))
    assert mean.base is bank and std.base is bank
    expected_mean, expected_std = rolling_mean_std(x, 3)
    np.testing.assert_array_equal(bank[1, 0], expected_mean)  # the NaN head is written too
    np.testing.assert_array_equal(bank[0, 1], expected_std)
    assert (bank[0, 0] == 99.0).all() and (bank[1, 1] == 99.0).all()
    tiny = np.full((2, 2), 7.0)
    rolling_mean_std(x[:2], 3, out=(tiny[0], tiny[1]))
    assert np.isnan(tiny).all()
    for bad in [(np.empty(5), np.empty(6)), (np.empty(6, np.float32), np.empty(6)), (None, None)]:
        with pytest.raises(ValueError, match="out must be"):
            rolling_mean_std(x, 3, out=bad)  # type: ignore[arg-type]


def test_zscore_is_nan_where_sd_is_zero() -> None:
    close = np.array([1.0, 2.0, 3.0, 4.0])
    middle = np.array([np.nan, 1.0, 3.0, 2.0])
    sd = np.array([np.nan, 0.5, 0.0, 1.0])
    z = zscore(close, middle, sd)
    assert np.isnan(z[0]) and np.isnan(z[2])
    assert z[1] == 2.0 and z[3] == 2.0


# -------------------------------------------------------------------------------------------
# true range, ATR, EMA
# -------------------------------------------------------------------------------------------


def test_true_range_by_hand() -> None:
    high = np.array([10.0, 12.0, 9.0, 11.0])
    low = np.array([8.0, 11.0, 7.0, 10.5])
    close = np.array([9.0, 11.5, 8.0, 10.6])
    # t0: prev close = close[0]: max(2, 1, 1) = 2; t1: max(1, |12-9|=3, |11-9|=2) = 3
    # t2: max(2, |9-11.5|=2.5, |7-11.5|=4.5) = 4.5; t3: max(0.5, |11-8|=3, |10.5-8|=2.5) = 3
    np.testing.assert_array_equal(true_range(high, low, close), [2.0, 3.0, 4.5, 3.0])


def test_atr_methods_by_definition(btc_year) -> None:
    h, lo, c = (btc_year[k][:5000] for k in ("high", "low", "close"))
    tr = true_range(h, lo, c)
    m = 14
    np.testing.assert_allclose(
        atr(h, lo, c, m, "ema"), _python_recursion(tr, 2 / (m + 1), 0, tr[0]), rtol=1e-12
    )
    sma = atr(h, lo, c, m, "sma")
    assert np.isnan(sma[: m - 1]).all()
    direct = sliding_window_view(tr, m).mean(axis=1)
    np.testing.assert_allclose(sma[m - 1 :], direct, rtol=RTOL)
    wilder = atr(h, lo, c, m, "wilder")
    assert np.isnan(wilder[:m]).all()
    assert wilder[m] == pytest.approx(tr[1 : m + 1].mean(), rel=1e-14)
    np.testing.assert_allclose(
        wilder, _python_recursion(tr, 1 / m, m, tr[1 : m + 1].mean()), rtol=1e-12
    )
    assert not np.isnan(atr(h, lo, c, m, "ema")).any()


def test_wilder_atr_too_short_is_all_nan_and_period_one_is_true_range() -> None:
    h, lo, c = np.array([2.0, 3.0, 4.0]), np.array([1.0, 1.5, 2.0]), np.array([1.5, 2.5, 3.0])
    assert np.isnan(atr(h, lo, c, 3, "wilder")).all()
    tr = true_range(h, lo, c)
    w1 = atr(h, lo, c, 1, "wilder")
    assert np.isnan(w1[0])
    np.testing.assert_array_equal(w1[1:], tr[1:])
    np.testing.assert_array_equal(atr(h, lo, c, 1, "ema"), tr)
    np.testing.assert_array_equal(atr(h, lo, c, 1, "sma"), tr)


def test_ema_matches_loop_and_pandas(btc_year) -> None:
    x = btc_year["close"][:20_000]
    for period in (2, 10, 200):
        out = ema(x, period)
        assert out[0] == x[0] and not np.isnan(out).any()
        np.testing.assert_allclose(out, _python_recursion(x, 2 / (period + 1), 0, x[0]), rtol=1e-12)
        ref = pd.Series(x).ewm(span=period, adjust=False).mean().to_numpy()
        np.testing.assert_allclose(out, ref, rtol=1e-9)


def test_indicators_reject_bad_periods_naming_the_parameter() -> None:
    x = np.arange(1.0, 11.0)
    with pytest.raises(ValueError, match="period"):
        bollinger(x, 1, 2.0)
    with pytest.raises(ValueError, match="k must"):
        bollinger(x, 5, 0.0)
    with pytest.raises(ValueError, match="period"):
        atr(x, x, x, 0)
    with pytest.raises(ValueError, match="method"):
        atr(x, x, x, 3, "hull")
    with pytest.raises(ValueError, match="period"):
        ema(x, 0)
    with pytest.raises(ValueError, match="n must"):
        rolling_mean_std(x, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same length"):
        true_range(x, x[:-1], x)


# -------------------------------------------------------------------------------------------
# TA-Lib
# -------------------------------------------------------------------------------------------


@needs_talib
@pytest.mark.parametrize(("n", "k"), [(20, 2.0), (55, 1.5)])
def test_bollinger_matches_talib_bbands(btc_year, n, k) -> None:
    close = btc_year["close"]
    upper, middle, lower = talib.BBANDS(close, timeperiod=n, nbdevup=k, nbdevdn=k, matype=0)
    bands = bollinger(close, n, k)
    for ours, theirs in ((bands.middle, middle), (bands.upper, upper), (bands.lower, lower)):
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        ok = ~np.isnan(theirs)
        np.testing.assert_allclose(ours[ok], theirs[ok], rtol=RTOL, atol=0)


@needs_talib
@pytest.mark.parametrize("m", [1, 14, 100])
def test_wilder_atr_matches_talib_atr(btc_year, m) -> None:
    """TA-Lib seeds ATR at t = m with the mean of TRANGE[1..m] (TRANGE starts at 1), then
    ATR[t] = (ATR[t-1]·(m-1) + TR[t]) / m, which is our alpha = 1/m recursion."""
    h, lo, c = btc_year["high"], btc_year["low"], btc_year["close"]
    theirs = talib.ATR(h, lo, c, timeperiod=m)
    ours = atr(h, lo, c, m, "wilder")
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isnan(ours[:m]).all() and not np.isnan(ours[m:]).any()
    np.testing.assert_allclose(ours[m:], theirs[m:], rtol=RTOL, atol=0)
    tr = true_range(h, lo, c)
    np.testing.assert_allclose(talib.TRANGE(h, lo, c)[1:], tr[1:], rtol=1e-15)
