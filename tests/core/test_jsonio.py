"""The one JSON policy (threadx.core.jsonio): ±inf as "inf"/"-inf", NaN as null, numpy scalars as
Python numbers, other objects as str; every JSON file of a run folder, an export, a report and a
backtest is written under it, and the readers read both it and the older null for ±inf."""

from __future__ import annotations

import datetime as dt
import enum
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from threadx.core.io import atomic_write_json
from threadx.core.jsonio import dumps, json_float, to_jsonable
from threadx.strategy.params import PARAM_NAMES


class _Color(enum.Enum):
    RED = "red"


def test_policy_on_every_kind_of_value():
    value = {
        "pos": math.inf,
        "neg": -np.inf,
        "nan": float("nan"),
        "np_nan": np.float32("nan"),
        "finite": np.float64(1.5),
        "int": np.int64(3),
        "uint": np.uint8(7),
        "bool": np.bool_(True),
        "tuple": (1, np.float64(math.inf)),
        "array": np.array([1.0, -np.inf]),
        "path": Path("a/b.json"),
        "stamp": pd.Timestamp("2024-05-01 12:00", tz="UTC"),
        "date": dt.date(2024, 5, 1),
        "none": None,
        "text": "inf",
        "enum": _Color.RED,
        7: "int key",
    }
    out = to_jsonable(value)
    assert out == {
        "pos": "inf",
        "neg": "-inf",
        "nan": None,
        "np_nan": None,
        "finite": 1.5,
        "int": 3,
        "uint": 7,
        "bool": True,
        "tuple": [1, "inf"],
        "array": [1.0, "-inf"],
        "path": str(Path("a/b.json")),
        "stamp": "2024-05-01 12:00:00+00:00",
        "date": "2024-05-01",
        "none": None,
        "text": "inf",
        "enum": "red",
        "7": "int key",
    }
    assert type(out["int"]) is int and type(out["bool"]) is bool and type(out["finite"]) is float
    assert json.loads(dumps(value)) == out
    assert value["tuple"][1] == math.inf  # the input is not changed


def test_dumps_matches_plain_json_for_plain_values():
    plain = {"b": [1, 2.5, "x", None, True], "a": {"z": 0, "y": -1.25}}
    assert dumps(plain) == json.dumps(plain, indent=2, sort_keys=True) + "\n"
    assert dumps(plain, sort_keys=False) == json.dumps(plain, indent=2) + "\n"


def test_json_float_reads_the_policy_back():
    assert json_float("inf") == math.inf and json_float("-inf") == -math.inf
    assert json_float(None) is None and json_float(2) == 2.0 and json_float(0.5) == 0.5
    for bad in ("nan", "1.5", True):
        with pytest.raises(ValueError):
            json_float(bad)


def test_atomic_write_json_applies_the_policy(tmp_path):
    p = atomic_write_json(tmp_path / "x.json", {"b": np.float64(-np.inf), "a": np.int32(2)})
    assert p.read_text() == '{\n  "a": 2,\n  "b": "-inf"\n}\n'
    atomic_write_json(p, {"b": 1, "a": 2}, sort_keys=False)
    assert list(json.loads(p.read_text())) == ["b", "a"]


def test_manifest_and_walk_forward_numbers_share_the_encoding(tmp_path):
    from threadx.sweep.results import RunStore

    store = RunStore(tmp_path / "run")
    store.create("name = 'x'\n", {"status": "created", "x": np.float64(np.inf), "n": np.int64(1)})
    man = store.read_manifest()
    assert man["x"] == "inf" and man["n"] == 1 and man["updated"].endswith("+00:00")


def _frame_with_infinite_sharpe(n: int = 40, blocks: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    out = pd.DataFrame(
        {"combo_id": np.arange(n), "task_id": 0, "symbol": "BTCUSDT", "timeframe": "1h"}
    )
    for p in PARAM_NAMES:
        out[p] = np.arange(n) % 5 if p == "bb_period" else 1
    out["sharpe"] = rng.normal(0, 1, n)
    out.loc[0, "sharpe"] = np.inf
    out["max_drawdown"] = rng.uniform(0.01, 0.3, n)
    out["skewness"] = rng.normal(0, 0.5, n)
    out["kurtosis"] = 3 + rng.exponential(3, n)
    for b in range(blocks):
        out[f"block_{b:02d}"] = rng.normal(0, 1e-3, n)
    return out


def test_overfit_report_writes_inf_as_the_policy_says_and_formats_it():
    from threadx.sweep.overfit import build_report
    from threadx.sweep.report_text import format_report

    ds = {"symbol": "BTCUSDT", "timeframe": "1h", "bars": 2001}
    rep = build_report(_frame_with_infinite_sharpe(), [ds], ["sharpe"], 3, 4)
    top = rep["groups"][0]["top"]
    assert top[0]["sharpe"] == "inf" and top[0]["sharpe_per_bar"] == "inf"
    assert top[0]["psr"] is None  # undefined for an infinite Sharpe ratio
    json.dumps(rep, allow_nan=False)
    text = format_report(rep)
    assert "inf" in text
    # a report written before the policy (null for ±inf) still formats
    top[0]["sharpe"] = top[0]["sharpe_per_bar"] = None
    rep["groups"][0]["sr_mean"] = None
    assert "n/a" in format_report(rep)


def test_backtest_json_files_keep_their_order_and_encoding(tmp_path):
    from threadx.strategy.backtest import _write_json

    _write_json(tmp_path / "m.json", {"sortino": np.inf, "calmar": -np.inf, "avg": np.nan})
    assert (tmp_path / "m.json").read_text() == (
        '{\n  "sortino": "inf",\n  "calmar": "-inf",\n  "avg": null\n}\n'
    )
