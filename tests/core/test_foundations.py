"""The small shared homes of issue 13: time units (threadx.core.units), UTC parsing and
formatting (threadx.core.utc), the pydantic base, its error line and TOML loading
(threadx.core.models), and the count-bounded LRU map (threadx.sweep.cache.LRUMap)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from threadx.core import units, utc
from threadx.core.errors import ConfigError
from threadx.core.models import StrictModel, format_validation_error, load_toml
from threadx.sweep.cache import LRUMap


# -- units ---------------------------------------------------------------------------------------
def test_units_are_the_values_every_module_used():
    from threadx.kernels.layout import NS_PER_YEAR
    from threadx.strategy.metrics import MINUTES_PER_YEAR

    assert units.NS_PER_MINUTE == 60_000_000_000 == 60 * 10**9
    assert units.NS_PER_DAY == 1440 * 60_000_000_000
    assert units.MINUTES_PER_YEAR == MINUTES_PER_YEAR == 525_960.0
    assert NS_PER_YEAR == units.NS_PER_YEAR == 365.25 * 24 * 3600 * 1e9 == 365.25 * 86400 * 1e9


# -- utc -----------------------------------------------------------------------------------------
def test_utc_parsing_and_formats():
    naive = utc.as_utc("2023-03-01")
    assert str(naive.tz) == "UTC" and naive == pd.Timestamp("2023-03-01", tz="UTC")
    aware = utc.as_utc("2023-03-01T02:00:00+02:00")
    assert aware.isoformat() == "2023-03-01T00:00:00+00:00"
    assert utc.as_utc("2023-03-01", "ns").unit == "ns"
    ns = 1_677_628_800_000_000_000
    assert utc.as_ns("2023-03-01") == ns and utc.minute_of("2023-03-01 00:00:59") == ns // 60e9
    assert utc.minute_ts(ns // 60_000_000_000) == utc.from_ns(ns)
    assert utc.iso_utc(ns) == "2023-03-01T00:00:00+00:00"
    assert str(utc.from_ns(np.int64(ns))) == "2023-03-01 00:00:00+00:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", utc.now_iso())


def test_utc_index_equals_the_forms_it_replaced():
    ns = np.array([0, 60_000_000_000, 1_677_628_800_000_000_000], dtype=np.int64)
    idx = utc.utc_index(ns, name="time")
    view = pd.DatetimeIndex(ns.view("datetime64[ns]"), name="time").tz_localize("UTC")
    assert idx.equals(view) and idx.dtype == view.dtype and idx.name == "time"
    assert (idx.asi8 == ns).all()


# -- models --------------------------------------------------------------------------------------
class _Inner(StrictModel):
    n: int = 1


class _Outer(StrictModel):
    inner: _Inner = _Inner()


def test_format_validation_error_one_line_per_problem():
    with pytest.raises(ValidationError) as info:
        _Outer(inner={"n": "x", "m": 1})
    line = format_validation_error(info.value, "f.toml")
    assert (
        line.startswith("f.toml: key 'inner.n': ")
        and "; f.toml: key 'inner.m': unknown key" in line
    )
    custom = format_validation_error(info.value, "f.toml", unknown="unknown key (schema)")
    assert "key 'inner.m': unknown key (schema)" in custom


def test_keyed_error_of_a_model_validator_names_its_key():
    from threadx.sweep import spec_from_dict

    with pytest.raises(ConfigError, match=re.escape("<spec>: key 'grid.bb_perod': [grid] unknown")):
        spec_from_dict({"data": {"symbols": ["BTCUSDT"]}, "grid": {"bb_perod": [10]}})


def test_load_toml_names_file_and_line(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text("x = 1\n[y\n")
    with pytest.raises(ConfigError, match=r"a\.toml: invalid TOML: .*line 2"):
        load_toml(p)
    with pytest.raises(ConfigError, match=r"nope\.toml: sweep spec not found"):
        load_toml(tmp_path / "nope.toml", "sweep spec")
    p.write_text("x = 1\n[y]\nz = 'a'\n")
    assert load_toml(p) == {"x": 1, "y": {"z": "a"}}


# -- LRUMap --------------------------------------------------------------------------------------
def test_lru_map_drops_the_least_recently_used():
    m: LRUMap[str, int] = LRUMap(2)
    m.put("a", 1)
    m.put("b", 2)
    assert m.get("a") == 1  # a is now the most recently used
    m.put("c", 3)
    assert "b" not in m and m.get("a") == 1 and m.get("c") == 3 and len(m) == 2
    assert m.get("b", -1) == -1 and m.pop("a") == 1 and len(m) == 1
    m.clear()
    assert len(m) == 0 and LRUMap(0).max_entries == 1
