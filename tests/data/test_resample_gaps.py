from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx.core.errors import DataError
from threadx.data.gaps import apply_gap_policy, fill_gaps, find_gaps
from threadx.data.resample import TIMEFRAMES, bucket_fsum, resample, timeframe_minutes
from threadx.data.synth import gbm_ohlcv


def test_1440_minutes_to_24_hours_exact():
    f = gbm_ohlcv(1440, seed=7, start="2023-05-01")
    r = resample(f, "1h")
    assert len(r.frame) == 24 and not r.partial_last
    for i in range(24):
        chunk = f.iloc[i * 60 : (i + 1) * 60]
        row = r.frame.iloc[i]
        assert r.frame.index[i] == chunk.index[0]  # left-labelled
        assert row["open"] == chunk["open"].iloc[0]
        assert row["high"] == chunk["high"].max()
        assert row["low"] == chunk["low"].min()
        assert row["close"] == chunk["close"].iloc[-1]
        assert row["volume"] == math.fsum(chunk["volume"])
    assert (r.minutes_per_bar == 60).all()


@pytest.mark.parametrize("tf", list(TIMEFRAMES))
def test_matches_pandas_resample(tf, sample_1m):
    r = resample(sample_1m, tf)
    if tf == "1w":
        rule = dict(rule="W-MON", label="left", closed="left")
    else:
        rule = dict(rule=f"{TIMEFRAMES[tf]}min", label="left", closed="left")
    exp = (
        sample_1m.resample(**rule)
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
    )
    assert r.frame.index.equals(exp.index)
    for c in ("open", "high", "low", "close"):
        assert np.array_equal(r.frame[c].to_numpy(), exp[c].to_numpy())
    np.testing.assert_allclose(r.frame["volume"], exp["volume"], rtol=1e-12)


def test_partial_last_bucket_kept_and_flagged():
    f = gbm_ohlcv(90, start="2023-01-01")
    r = resample(f, "1h")
    assert len(r.frame) == 2 and r.partial_last
    assert list(r.minutes_per_bar) == [60, 30]
    assert list(r.incomplete) == [False, True]


def test_weeks_start_on_monday():
    f = gbm_ohlcv(20 * 1440, start="2023-03-01", bar_minutes=1)  # a Wednesday
    r = resample(f, "1w")
    assert all(t.day_of_week == 0 for t in r.frame.index)
    assert r.frame.index[0] == pd.Timestamp("2023-02-27", tz="UTC")


@pytest.mark.parametrize("bad", ["1M", "3M", "1mo", "month", "7m", "", "1y"])
def test_month_and_unknown_timeframes_refused(bad):
    with pytest.raises(DataError):
        timeframe_minutes(bad)


def test_month_message_is_explicit():
    with pytest.raises(DataError, match="'M' is month"):
        timeframe_minutes("1M")


def test_gappy_resample_skips_empty_buckets():
    f = gbm_ohlcv(180)
    f = f.drop(f.index[60:120])  # a whole missing hour
    r = resample(f, "1h")
    assert len(r.frame) == 2
    assert r.frame.index[1] == pd.Timestamp("2023-01-01 02:00", tz="UTC")


def test_find_gaps_counts_runs():
    f = gbm_ohlcv(100)
    keep = np.ones(100, dtype=bool)
    keep[[5, 6, 7, 50]] = False
    rep = find_gaps(f.index[keep])
    assert rep.expected == 100 and rep.present == 96 and rep.missing == 4
    assert [(str(t), n) for t, n in rep.runs] == [
        ("2023-01-01 00:05:00+00:00", 3),
        ("2023-01-01 00:50:00+00:00", 1),
    ]
    assert rep.missing_ratio == pytest.approx(0.04)


def test_fill_small_gaps_flags_and_zero_volume():
    f = gbm_ohlcv(100)
    g = f.drop(f.index[[10, 11, 40]])
    res = apply_gap_policy(g)
    assert res.action == "filled" and res.filled.sum() == 3
    out = res.frame
    assert len(out) == 100 and out.index.equals(f.index)
    for i in (10, 11):
        assert (out.iloc[i][["open", "high", "low", "close"]] == f["close"].iloc[9]).all()
        assert out["volume"].iloc[i] == 0.0
    assert out.loc[~res.filled].equals(g)


def test_large_gaps_kept_or_refused():
    f = gbm_ohlcv(100)
    g = f.iloc[::2]
    with pytest.raises(DataError, match="allow_gaps"):
        apply_gap_policy(g)
    res = apply_gap_policy(g, allow_gaps=True)
    assert res.action == "kept" and res.frame.equals(g) and not res.filled.any()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 299), max_size=120, unique=True))
def test_fill_gaps_property(drop):
    f = gbm_ohlcv(300, seed=2)
    keep = np.ones(300, dtype=bool)
    keep[drop] = False
    keep[0] = keep[-1] = True
    g = f[keep]
    filled, mask = fill_gaps(g)
    assert filled.index.equals(f.index)
    assert (mask == ~keep).all()
    assert filled.loc[~mask].equals(g)
    assert (filled["volume"][mask] == 0).all()
    rep = find_gaps(g.index)
    assert rep.missing == int((~keep).sum()) == sum(n for _, n in rep.runs)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300),
        min_size=1,
        max_size=60,
    ),
    st.lists(st.integers(1, 59), max_size=6),
)
def test_bucket_fsum_is_math_fsum_bit_for_bit(values, cuts):
    """The compiled bucket sum used for resampled volumes returns math.fsum's double exactly
    (CPython's algorithm, its half-even correction included), on any finite values."""
    x = np.array(values)
    inner = sorted({c for c in cuts if c < len(x)})
    starts = np.array([0, *inner], dtype=np.int64)
    ends = np.array([*inner, len(x)], dtype=np.int64)
    got = bucket_fsum(x, starts, ends)
    want = np.array([math.fsum(x[a:b]) for a, b in zip(starts, ends, strict=True)])
    assert got.tobytes() == want.tobytes()


def test_bucket_fsum_exact_cancellation_and_ties():
    x = np.array([1e16, 1.0, -1e16, 1e100, 1.0, -1e100, 0.1, 0.2, 0.3, 2.0**53, 1.0, 1.0])
    starts, ends = np.array([0, 3, 6, 9]), np.array([3, 6, 9, 12])
    want = [math.fsum(x[a:b]) for a, b in zip(starts, ends, strict=True)]
    assert (
        bucket_fsum(x, starts, ends).tolist()
        == want
        == [1.0, 1.0, math.fsum([0.1, 0.2, 0.3]), 2.0**53 + 2.0]
    )


def test_bucket_fsum_signed_zeros():
    for values in ([-0.0], [0.0, -0.0], [-0.0, -0.0], [1.0, -1.0], [-1.0, 1.0, -0.0]):
        x = np.array(values)
        got = bucket_fsum(x, np.array([0]), np.array([len(x)]))
        assert got.tobytes() == np.array([math.fsum(values)]).tobytes(), values
