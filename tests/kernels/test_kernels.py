"""Fused sweep kernels against the reference simulation; packing contract; backend resolution.

Parity: the CPU kernel's metrics equal the reference's (``threadx.strategy.reference.simulate``)
for combinations drawn by hypothesis over every parameter, on the bundled real BTCUSDT sample at
1m (a 5,000-bar slice), 5m and 1h: integers exactly, floats to 1e-9 relative (1e-12 absolute),
infinities equal. Each hypothesis example draws a *batch* of combinations: the kernel runs once
on the whole batch, the reference once per combination.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from threadx.core.errors import ConfigError
from threadx.data.resample import resample
from threadx.kernels import (
    DEFAULT_BLOCKS,
    N_OUT,
    OUT_NAMES,
    STAT_NAMES,
    PackedSweep,
    cpu,
    out_names,
    out_width,
    run_sweep,
)
from threadx.kernels import layout as L
from threadx.kernels.cpu import run_sweep_cpu
from threadx.strategy.metrics import INT_METRICS, METRIC_NAMES
from threadx.strategy.pack import pack
from threadx.strategy.params import StrategyParams
from threadx.strategy.reference import simulate

REPO = Path(__file__).resolve().parents[2]
REL, ABS = 1e-9, 1e-12
BATCH = 25
EXAMPLES = 10  # x 3 timeframes x BATCH = 750 hypothesis combinations

# --------------------------------------------------------------------------------------------
# data and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timeframes(sample_1m: pd.DataFrame) -> dict[str, tuple[pd.DataFrame, int]]:
    """The real sample at 1m (5,000 bars, to keep the Python reference fast), 5m and 1h."""
    return {
        "1m": (sample_1m.iloc[12_000:17_000], 1),
        "5m": (resample(sample_1m, "5m").frame, 5),
        "1h": (resample(sample_1m, "1h").frame, 60),
    }


def _ohlc(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    return tuple(frame[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close"))


def _kernel(frame: pd.DataFrame, combos: list[dict], bar_minutes: int, backend: str = "cpu"):
    packed = pack(combos, *_ohlc(frame))
    ns = frame.index.asi8
    return run_sweep(packed, int(ns[0]), int(ns[-1]), bar_minutes, backend=backend)


def _reference(frame: pd.DataFrame, combo: dict, bar_minutes: int) -> np.ndarray:
    """The reference's metrics, return statistics and block sums, in kernel column order."""
    result = simulate(*_ohlc(frame), frame.index.asi8, StrategyParams(**combo), bar_minutes)
    metrics = [float(result.metrics[name]) for name in METRIC_NAMES]
    stats = [float(result.stats[name]) for name in STAT_NAMES]
    return np.array([*metrics, *stats, *result.stats["blocks"]])


def _mismatches(got: np.ndarray, want: np.ndarray) -> list[str]:
    """Names (with values) of the columns where ``got`` and ``want`` disagree."""
    bad = []
    for j, name in enumerate(out_names(DEFAULT_BLOCKS)):
        g, w = float(got[j]), float(want[j])
        if name in INT_METRICS:
            ok = g == w
        elif math.isinf(w) or math.isinf(g):
            ok = g == w
        else:
            ok = math.isclose(g, w, rel_tol=REL, abs_tol=ABS)
        if not ok:
            bad.append(f"{name}: kernel {g!r} vs expected {w!r}")
    return bad


def _assert_parity(frame: pd.DataFrame, combos: list[dict], bar_minutes: int) -> np.ndarray:
    out = _kernel(frame, combos, bar_minutes)
    assert out.shape == (len(combos), out_width(DEFAULT_BLOCKS))
    for i, combo in enumerate(combos):
        bad = _mismatches(out[i], _reference(frame, combo, bar_minutes))
        assert not bad, f"combination {combo}:\n  " + "\n  ".join(bad)
    return out


# --------------------------------------------------------------------------------------------
# hypothesis parity over all parameters
# --------------------------------------------------------------------------------------------

COMBO = st.fixed_dictionaries(
    {
        "bb_period": st.integers(2, 60),
        "bb_std": st.floats(0.5, 3.5),
        "atr_period": st.integers(1, 40),
        "atr_method": st.sampled_from(["ema", "sma", "wilder"]),
        "atr_multiplier": st.floats(0.1, 6.0),
        "trailing_stop": st.booleans(),
        "max_hold_bars": st.integers(1, 300),
        "spacing_bars": st.integers(0, 60),
        "trend_period": st.one_of(st.just(0), st.integers(2, 200)),
        "direction": st.sampled_from(["both", "long", "short"]),
        "risk_per_trade": st.one_of(st.floats(1e-4, 0.05), st.floats(0.05, 1.0)),
        "leverage": st.one_of(st.floats(0.1, 3.0), st.floats(3.0, 50.0)),
        "fee_bps": st.one_of(st.just(0.0), st.floats(0.0, 20.0)),
        "slippage_bps": st.one_of(st.just(0.0), st.floats(0.0, 20.0)),
        "initial_capital": st.floats(100.0, 1e7),
    }
)
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.parametrize("tf", ["1m", "5m", "1h"])
@HYPOTHESIS
@given(combos=st.lists(COMBO, min_size=BATCH, max_size=BATCH))
def test_cpu_kernel_matches_reference(timeframes, tf: str, combos: list[dict]) -> None:
    frame, minutes = timeframes[tf]
    _assert_parity(frame, combos, minutes)


# --------------------------------------------------------------------------------------------
# hand-picked edge cases
# --------------------------------------------------------------------------------------------


def test_ruin_with_huge_leverage_and_full_risk(timeframes) -> None:
    frame, minutes = timeframes["1m"]
    combos = [
        {
            "leverage": 500.0,
            "risk_per_trade": 1.0,
            "atr_multiplier": 0.05,
            "fee_bps": 10.0,
            "bb_std": s,
            "slippage_bps": slip,
        }
        for s in (0.8, 1.5, 2.5)
        for slip in (0.0, 30.0)
    ]
    out = _assert_parity(frame, combos, minutes)
    ruined = out[:, OUT_NAMES.index("ruined")] == 1.0
    assert ruined.any()
    assert np.all(out[ruined, OUT_NAMES.index("cagr")] == -1.0)
    assert np.all(out[ruined, OUT_NAMES.index("final_equity")] <= 0.0)


def test_no_signals(timeframes) -> None:
    frame, minutes = timeframes["1h"]
    out = _assert_parity(frame, [{"bb_std": 50.0}, {"bb_period": 60, "bb_std": 40.0}], minutes)
    row = dict(zip(out_names(DEFAULT_BLOCKS), out[0], strict=True))
    assert row["n_trades"] == 0 and row["final_equity"] == 10_000.0
    for name in ("sharpe", "sortino", "calmar", "max_drawdown", "profit_factor", "exposure"):
        assert row[name] == 0.0


def test_direction_filters(timeframes) -> None:
    frame, minutes = timeframes["5m"]
    base = {"bb_std": 1.5, "spacing_bars": 0, "trend_period": 0}
    combos = [dict(base, direction=d) for d in ("both", "long", "short")]
    combos += [dict(base, direction=d, trend_period=100) for d in ("both", "long", "short")]
    out = _assert_parity(frame, combos, minutes)
    n = out[:, OUT_NAMES.index("n_trades")]
    assert n[1] > 0 and n[2] > 0 and n[1] + n[2] >= n[0]  # one position at a time
    assert not np.array_equal(out[1], out[2])


@pytest.mark.parametrize(
    "combo",
    [
        {"max_hold_bars": 1, "trailing_stop": False, "spacing_bars": 0},
        {"bb_std": 0.5, "spacing_bars": 0, "atr_multiplier": 0.2},  # same-bar re-entries
        {"fee_bps": 0.0, "slippage_bps": 0.0, "atr_method": "wilder", "atr_period": 40},
        {"atr_method": "sma", "atr_period": 1, "bb_period": 2, "bb_std": 0.5},
        {"bb_period": 60, "trend_period": 200, "spacing_bars": 60, "max_hold_bars": 300},
    ],
)
def test_edge_combinations_on_all_timeframes(timeframes, combo: dict) -> None:
    for frame, minutes in timeframes.values():
        _assert_parity(frame, [combo], minutes)


@pytest.mark.parametrize("n_bars", [2, 3, 25])
def test_short_series(timeframes, n_bars: int) -> None:
    frame = timeframes["1m"][0].iloc[:n_bars]
    combos = [
        {"bb_period": 2, "bb_std": 0.5, "atr_period": 1, "spacing_bars": 0},
        {"bb_period": 2, "bb_std": 0.5, "atr_method": "wilder", "atr_period": 1},
    ]
    _assert_parity(frame, combos, 1)


def test_synthetic_gap_through_the_stop() -> None:
    """A big gap down right after a long entry: stop filled at the open, below the stop."""
    close = np.array([100.0, 100.0, 100.0, 100.0, 90.0, 60.0, 61.0, 62.0, 80.0, 100.0])
    frame = pd.DataFrame(
        {"open": close, "high": close + 1.0, "low": close - 1.0, "close": close},
        index=pd.date_range("2024-01-01", periods=close.size, freq="1min", tz="UTC"),
    )
    frame.loc[frame.index[5], "open"] = 70.0
    frame.loc[frame.index[5], "high"] = 71.0
    combos = [
        {
            "bb_period": 3,
            "bb_std": 1.0,
            "atr_period": 1,
            "spacing_bars": 0,
            "leverage": lev,
            "risk_per_trade": 1.0,
            "atr_multiplier": 0.1,
        }
        for lev in (1.0, 20.0)
    ]
    out = _assert_parity(frame, combos, 1)
    assert out[1, OUT_NAMES.index("ruined")] == 1.0


def _candles(close: np.ndarray) -> pd.DataFrame:
    """1m bars opening at their close, with a 0.01 range around it."""
    close = np.asarray(close, dtype=np.float64)
    return pd.DataFrame(
        {"open": close, "high": close + 0.01, "low": close - 0.01, "close": close},
        index=pd.date_range("2024-01-01", periods=close.size, freq="1min", tz="UTC"),
    )


def _trades(frame: pd.DataFrame, combo: dict) -> pd.DataFrame:
    return simulate(*_ohlc(frame), frame.index.asi8, StrategyParams(**combo), 1).trades


def test_positions_held_longer_than_a_statistics_segment() -> None:
    """Trends of 300 bars: positions held for hundreds of bars, many return segments each
    (``cpu.SEGMENT_MAX``), long and short, trailing or not."""
    rng = np.random.default_rng(5)
    n = 1500
    drift = np.where((np.arange(n) // 300) % 2 == 0, -0.0005, 0.0005)
    frame = _candles(100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.0002, n))))
    combos = [
        {
            "bb_period": 20,
            "bb_std": 1.0,
            "atr_multiplier": 400.0,
            "max_hold_bars": 1000,
            "spacing_bars": 0,
            "direction": d,
            "trailing_stop": trail,
        }
        for d in ("long", "short")
        for trail in (True, False)
    ]
    out = _assert_parity(frame, combos, 1)
    assert out[:, OUT_NAMES.index("avg_bars_held")].min() > 4 * cpu.SEGMENT_MAX


@pytest.mark.parametrize("side", ["long", "short"])
def test_ruin_inside_a_position_and_on_its_entry_bar(side: str) -> None:
    """A close between the stop and the ruin level ruins the account on a bar without an exit
    (the fee makes the ruin level, stop - f * entry, a little above the stop when
    risk_per_trade = 1); a fee above 1 / leverage ruins it on the entry bar."""
    path = np.array(
        [
            100,
            100.2,
            100,
            100.2,
            100,
            100.2,
            99.5,
            99,
            98.5,
            98,
            97.5,
            97,
            96.5,
            96.2,
            96.1,
            95,
            96,
            97,
        ]
    )
    frame = _candles(path if side == "long" else 200.0 - path)
    combo = {
        "bb_period": 3,
        "bb_std": 1.0,
        "atr_period": 1,
        "atr_multiplier": 5.0,
        "trailing_stop": False,
        "risk_per_trade": 1.0,
        "leverage": 50.0,
        "fee_bps": 20.0,
        "spacing_bars": 0,
        "direction": side,
        "max_hold_bars": 100,
    }
    at_entry = dict(combo, leverage=500.0, atr_multiplier=0.05, fee_bps=25.0)
    for c, entry_bar, exit_bar in ((combo, 6, 14), (at_entry, 6, 6)):
        trades = _trades(frame, c)
        assert list(trades["exit_reason"]) == ["ruin"]
        assert (trades["entry_bar"].iloc[0], trades["exit_bar"].iloc[0]) == (entry_bar, exit_bar)
    out = _assert_parity(frame, [combo, at_entry], 1)
    assert np.all(out[:, OUT_NAMES.index("ruined")] == 1.0)


def test_signals_inside_positions_move_the_spacing_clock(timeframes) -> None:
    """Signals are kept or dropped whether a position is open or not: the kernel, which does not
    evaluate signals while in a position, replays them after the exit. Same-bar re-entries and
    spacing longer and shorter than the positions."""
    frame, minutes = timeframes["1m"]
    combos = [
        {
            "bb_std": k,
            "spacing_bars": sp,
            "atr_multiplier": am,
            "max_hold_bars": mh,
            "trend_period": trend,
        }
        for k in (0.5, 1.5)
        for sp in (0, 1, 3, 12)
        for am in (0.3, 3.0)
        for mh in (2, 40)
        for trend in (0, 30)
    ]
    out = _assert_parity(frame, combos, minutes)
    assert out[:, OUT_NAMES.index("n_trades")].min() > 0
    reentries = 0
    for c in combos[:8]:
        entries, exits = _trades(frame, c)[["entry_bar", "exit_bar"]].to_numpy().T
        reentries += int((entries[1:] == exits[:-1]).sum())
    assert reentries > 0


# --------------------------------------------------------------------------------------------
# packing contract, chunking, determinism
# --------------------------------------------------------------------------------------------


def test_output_columns_are_the_metric_names() -> None:
    assert OUT_NAMES == METRIC_NAMES
    assert L.N_PARAMS == len(L.PARAM_COLUMNS)


def test_banks_hold_one_row_per_distinct_indicator_parameter(timeframes) -> None:
    frame, _ = timeframes["5m"]
    grid = pd.MultiIndex.from_product(
        [
            [10, 20, 30],
            [1.0, 1.5, 2.0, 2.5],
            [(14, "ema"), (14, "wilder"), (7, "sma")],
            [0, 50, 200],
            [1.0, 2.0],
            ["both", "long"],
        ],
        names=["bb_period", "bb_std", "atr", "trend_period", "atr_multiplier", "direction"],
    ).to_frame(index=False)
    atr = grid.pop("atr")
    grid["atr_period"] = [a[0] for a in atr]
    grid["atr_method"] = [a[1] for a in atr]
    packed = pack(grid, *_ohlc(frame))
    n_bars = len(frame)
    assert packed.n_combos == len(grid) == 432
    assert packed.middle.shape == packed.sd.shape == (3, n_bars)
    assert packed.atr.shape == (3, n_bars)
    assert packed.trend.shape == (2, n_bars)  # trend_period 0 needs no row
    assert packed.bb_periods == (10, 20, 30) and packed.trend_periods == (50, 200)
    bars_x_banks = n_bars * 8 * (4 + 3 + 3 + packed.atr.shape[0] + 2)
    assert packed.nbytes == bars_x_banks + packed.n_combos * L.N_PARAMS * 8
    assert packed.nbytes < n_bars * packed.n_combos * 8  # never bars x combinations
    # every row points at the bank rows of its own parameters
    P = packed.params
    for i in (0, 17, 250, 431):
        row = grid.iloc[i]
        assert packed.bb_periods[int(P[i, L.C_BB_IDX])] == row.bb_period
        assert packed.atr_keys[int(P[i, L.C_ATR_IDX])] == (row.atr_period, row.atr_method)
        t = int(P[i, L.C_TREND_IDX])
        assert (packed.trend_periods[t] if t >= 0 else 0) == row.trend_period
        assert P[i, L.C_DIRECTION] == L.DIRECTION_CODES[row.direction]
        assert P[i, L.C_BB_STD] == row.bb_std


def test_pack_defaults_types_and_ready_bar(timeframes) -> None:
    frame, _ = timeframes["1h"]
    packed = pack(
        [
            {},
            {"bb_period": 30.0, "atr_method": "wilder", "atr_period": np.int64(20)},
            {"trailing_stop": np.bool_(False), "direction": "short"},
        ],
        *_ohlc(frame),
    )
    P = packed.params
    d = StrategyParams()
    assert P[0, L.C_BB_STD] == d.bb_std and P[0, L.C_MAX_HOLD] == d.max_hold_bars
    assert P[0, L.C_FEE_BPS] == d.fee_bps and P[0, L.C_INITIAL_CAPITAL] == d.initial_capital
    assert P[0, L.C_TRAILING] == 1.0 and P[2, L.C_TRAILING] == 0.0
    assert P[2, L.C_DIRECTION] == -1.0 and P[0, L.C_TREND_IDX] == -1.0
    # ready when defined at t and t-1: bb 20 has 19 leading NaNs, bb 30 29, wilder 20 20
    assert list(P[:, L.C_READY_FROM]) == [20.0, 30.0, 20.0]
    assert packed.atr_keys == ((14, "ema"), (20, "wilder"))


@pytest.mark.parametrize(
    ("combo", "words"),
    [
        ({"bb_period": 1}, ["combination 1", "bb_period"]),
        ({"trend_period": 1}, ["combination 1", "trend_period"]),
        ({"direction": "up"}, ["combination 1", "direction"]),
        ({"bb_periodd": 20}, ["unknown", "bb_periodd", "bb_period"]),
    ],
)
def test_pack_rejects_bad_parameters(timeframes, combo: dict, words: list[str]) -> None:
    frame, _ = timeframes["1h"]
    with pytest.raises(ConfigError) as info:
        pack([{}, combo], *_ohlc(frame))
    for word in words:
        assert word in str(info.value)


def test_chunks_and_repeats_give_identical_results(timeframes) -> None:
    frame, minutes = timeframes["5m"]
    rng = np.random.default_rng(7)
    combos = [
        {
            "bb_period": int(rng.integers(5, 50)),
            "bb_std": float(rng.uniform(1, 3)),
            "atr_method": str(rng.choice(["ema", "sma", "wilder"])),
            "trend_period": int(rng.choice([0, 80])),
        }
        for _ in range(200)
    ]
    packed = pack(combos, *_ohlc(frame))
    ns = frame.index.asi8
    whole = run_sweep_cpu(packed, ns[0], ns[-1], minutes)
    again = run_sweep_cpu(packed, ns[0], ns[-1], minutes)
    parts = [
        run_sweep_cpu(packed.take(slice(a, a + 37)), ns[0], ns[-1], minutes)
        for a in range(0, 200, 37)
    ]
    assert np.array_equal(whole, again)
    assert np.array_equal(whole, np.vstack(parts))
    assert np.array_equal(
        run_sweep_cpu(packed.take(slice(0, 0)), ns[0], ns[-1], minutes),
        np.empty((0, out_width(DEFAULT_BLOCKS))),
    )


# --------------------------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("tf", ["1m", "5m", "1h"])
@settings(
    max_examples=5,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(combos=st.lists(COMBO, min_size=200, max_size=200))
def test_gpu_kernel_matches_cpu_kernel(timeframes, tf: str, combos: list[dict]) -> None:
    frame, minutes = timeframes[tf]
    cpu = _kernel(frame, combos, minutes, backend="cpu")
    gpu = _kernel(frame, combos, minutes, backend="gpu")
    for i, combo in enumerate(combos):
        bad = _mismatches(gpu[i], cpu[i])
        assert not bad, f"combination {combo}:\n  " + "\n  ".join(bad)


def test_packed_sweep_is_plain_arrays(timeframes) -> None:
    frame, minutes = timeframes["1h"]
    packed = pack([{}], *_ohlc(frame))
    assert isinstance(packed, PackedSweep)
    for a in packed.bar_arrays():
        assert a.dtype == np.float64 and a.flags.c_contiguous
    empty = pack([], *_ohlc(frame))
    assert empty.n_combos == 0 and empty.middle.shape == (0, len(frame))
    ns = frame.index.asi8
    got = run_sweep(empty, ns[0], ns[-1], minutes, backend="cpu", blocks=4)
    assert got.shape == (0, N_OUT + 2 + 4)
