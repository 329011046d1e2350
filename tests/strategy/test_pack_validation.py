"""normalise_params / pack: numeric columns validated one distinct value at a time (pandas
factorize), other columns value by value; both give the same values, types and errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from threadx.core.errors import ConfigError
from threadx.kernels import layout as L
from threadx.strategy import pack as SP
from threadx.strategy.pack import pack


def test_numeric_columns_take_defaults_for_nan_and_keep_python_types() -> None:
    frame = pd.DataFrame(
        {
            "bb_period": [10.0, np.nan, 20.0, 10.0],  # integral floats, a missing value
            "bb_std": [1.5, 2.0, np.nan, -0.0 + 1.5],
            "trailing_stop": [True, False, True, True],
            "max_hold_bars": np.array([5, 6, 5, 6], dtype=np.uint32),
        },
        index=[9, 3, 5, 1],
    )
    out = SP.normalise_params(frame)
    assert out["bb_period"].tolist() == [10, 20, 20, 10]  # the default bb_period is 20
    assert out["bb_std"].tolist() == [1.5, 2.0, 2.0, 1.5]
    assert out["trailing_stop"].tolist() == [True, False, True, True]
    assert out["max_hold_bars"].tolist() == [5, 6, 5, 6]
    assert [type(v) for v in out["bb_period"]] == [int] * 4
    assert [type(v) for v in out["trailing_stop"]] == [bool] * 4
    # the same as from dicts, value by value
    dicts = [{k: v for k, v in row.items() if not pd.isna(v)} for row in frame.to_dict("records")]
    assert SP.normalise_params(dicts).equals(out)


@pytest.mark.parametrize(
    ("column", "values", "row"),
    [
        ("bb_period", [10, 20, 1, 1], 2),
        ("bb_std", [1.0, np.nan, -1.0, -1.0], 2),
        ("bb_period", [10.5, 2.0], 0),
        ("trailing_stop", np.array([1, 2]), 0),
        ("direction", ["both", "up", "down"], 1),
    ],
)
def test_the_error_names_the_first_offending_combination(column, values, row) -> None:
    with pytest.raises(ConfigError, match=rf"combination {row}: invalid parameter {column} = "):
        SP.normalise_params(pd.DataFrame({column: values}))


def test_extension_dtypes_are_validated_value_by_value() -> None:
    # pd.NA is not a missing value for the parameters (only None and NaN are): it is rejected
    with pytest.raises(ConfigError, match="combination 1: invalid parameter leverage"):
        SP.normalise_params(pd.DataFrame({"leverage": pd.array([2.0, None], dtype="Float64")}))


def test_pack_builds_the_parameter_matrix_from_the_validated_columns() -> None:
    rng = np.random.default_rng(5)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, 300)))
    frame = pd.DataFrame(
        {
            "bb_std": [1.5, 2.5],
            "trailing_stop": [False, True],
            "direction": ["short", "both"],
            "fee_bps": [0.0, 7.0],
        }
    )
    P = pack(frame, close, close * 1.001, close * 0.999, close).params
    assert P[:, L.C_BB_STD].tolist() == [1.5, 2.5]
    assert P[:, L.C_TRAILING].tolist() == [0.0, 1.0]
    assert P[:, L.C_DIRECTION].tolist() == [-1.0, 0.0]
    assert P[:, L.C_FEE_BPS].tolist() == [0.0, 7.0]
    assert P[:, L.C_MAX_HOLD].tolist() == [72.0, 72.0] and P[:, L.C_SPACING].tolist() == [6.0, 6.0]


def test_string_columns_and_mixed_object_columns() -> None:
    # all str: validated per distinct value; None among them: value by value, None -> default
    out = SP.normalise_params(
        pd.DataFrame(
            {"direction": ["long", "short", "long"], "atr_method": ["sma", None, "wilder"]}
        )
    )
    assert out["direction"].tolist() == ["long", "short", "long"]
    assert out["atr_method"].tolist() == ["sma", "ema", "wilder"]
    mixed = SP.normalise_params(
        pd.DataFrame({"bb_period": pd.Series([20, 20.0, np.int64(20)], dtype=object)})
    )
    assert mixed["bb_period"].tolist() == [20, 20, 20]


def test_bank_rows_follow_the_first_seen_order_of_the_combinations() -> None:
    combos = [
        {"atr_period": 21, "atr_method": "sma", "trend_period": 50, "bb_period": 30},
        {"atr_period": 7, "trend_period": 0, "bb_period": 10},
        {"atr_period": 21, "atr_method": "ema", "trend_period": 20, "bb_period": 30},
        {"atr_period": 7, "atr_method": "sma", "trend_period": 50},
    ]
    assert SP.required_indicators(combos) == [
        ("bb", (30,)),
        ("bb", (10,)),
        ("bb", (20,)),
        ("atr", (21, "sma")),
        ("atr", (7, "ema")),
        ("atr", (21, "ema")),
        ("atr", (7, "sma")),
        ("ema", (50,)),
        ("ema", (20,)),
    ]
    rng = np.random.default_rng(2)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 1e-3, 200)))
    P = pack(combos, close, close * 1.001, close * 0.999, close).params
    assert P[:, L.C_BB_IDX].tolist() == [0, 1, 0, 2]
    assert P[:, L.C_ATR_IDX].tolist() == [0, 1, 2, 3]
    assert P[:, L.C_TREND_IDX].tolist() == [0, -1, 1, 0]
