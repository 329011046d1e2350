from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from tests.helpers import interrupt_then_resume
from threadx.core.errors import ConfigError, StoreError
from threadx.sample import ensure_sample
from threadx.sweep import load_spec, run_local, spec_from_dict
from threadx.sweep.results import pareto_front, rank
from threadx.sweep.spec import RangeSpec


def base(**over):
    d = {
        "name": "t",
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["1h"]},
        "grid": {"bb_period": [10, 20], "bb_std": [1.5, 2.5], "atr_multiplier": [1.0, 2.0]},
        "chunk_size": 3,
    }
    d.update(over)
    return spec_from_dict(d)


@pytest.fixture
def sample_store(store):
    ensure_sample(store)
    return store


def test_range_has_no_float_drift():
    assert RangeSpec(start=0.1, stop=0.5, step=0.1).values() == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert RangeSpec(start=10, stop=50, step=5).values() == list(range(10, 51, 5))
    assert RangeSpec(start=1.5, stop=1.5, step=0.25).values() == [1.5]
    with pytest.raises(ValueError):
        RangeSpec(start=2, stop=1, step=1)
    with pytest.raises(ValueError):
        RangeSpec(start=1, stop=2, step=0)


def test_count_is_full_cartesian_product():
    s = base(
        data={"symbols": ["BTCUSDT", "ETHUSDT"], "timeframes": ["5m", "1h", "4h"]},
        grid={
            "bb_period": {"start": 10, "stop": 50, "step": 10},
            "bb_std": [1, 2, 3],
            "atr_period": [7, 14],
            "atr_method": ["ema", "wilder"],
            "direction": ["both", "long"],
        },
    )
    assert s.count() == 2 * 3 * 5 * 3 * 2 * 2 * 2
    frame = s.param_frame()
    assert len(frame) == s.combos_per_dataset() == 5 * 3 * 2 * 2 * 2
    assert not frame.duplicated().any()
    assert frame.iloc[0]["bb_period"] == 10 and frame.iloc[-1]["bb_period"] == 50
    # chunks of the lazy grid agree with the whole
    assert (
        frame.iloc[17:29]
        .reset_index(drop=True)
        .equals(s.param_frame(17, 29).reset_index(drop=True))
    )


def test_spec_errors_name_key_and_rule(tmp_path):
    bad = {
        "unknown parameter": {"grid": {"bb_perod": [10]}},
        "bb_period": {"grid": {"bb_period": [1, 20]}},
        "in both [grid] and [fixed]": {"grid": {"bb_std": [1.0]}, "fixed": {"bb_std": 2.0}},
        "unknown metric": {"rank": {"by": ["sharp"]}},
        "timeframe": {"data": {"symbols": ["BTCUSDT"], "timeframes": ["1M"]}},
        "symbol": {"data": {"symbols": ["../x"]}},
    }
    for rule, over in bad.items():
        with pytest.raises(ConfigError, match=re.escape(rule)):
            base(**over)
    p = tmp_path / "s.toml"
    p.write_text("name = 'x'\n[data]\nsymbols = ['BTCUSDT']\n[grid]\nbb_std = [0.0]\n")
    with pytest.raises(ConfigError) as e:
        load_spec(p)
    assert str(p) in str(e.value) and "key 'grid.bb_std'" in str(e.value)
    keyed = {  # rules of the spec as a whole name the key they are about, not '<root>'
        "grid.bb_period": {"grid": {"bb_period": [1e30]}},
        "grid.bb_perod": {"grid": {"bb_perod": [10]}},
        "fixed.bb_std": {"grid": {"bb_std": [1.0]}, "fixed": {"bb_std": 2.0}},
        "fixed": {"fixed": {"leverage": -1.0}},
    }
    for key, over in keyed.items():
        with pytest.raises(ConfigError, match=re.escape(f"key '{key}': ")):
            base(**over)


def test_shipped_sweep_specs_load():
    from pathlib import Path

    specs = sorted((Path(__file__).resolve().parents[2] / "configs" / "sweeps").glob("*.toml"))
    assert specs
    for p in specs:
        s = load_spec(p)
        assert s.count() >= 1


def test_run_local_results_equal_reference(sample_store):
    from threadx.strategy.params import params_from_mapping
    from threadx.strategy.reference import backtest_frame
    from threadx.sweep.dataset import load_dataset

    spec = base()
    res = run_local(spec, data_root=sample_store.data_root, backend="cpu", memory_budget_gb=2)
    frame = res.to_frame()
    assert len(frame) == spec.count() == 8
    assert list(frame["combo_id"]) == list(range(8))
    ds = load_dataset(sample_store, "BTCUSDT", "1h")
    from threadx.strategy.params import PARAM_NAMES

    for _, row in frame.iterrows():
        params = params_from_mapping({k: row[k] for k in PARAM_NAMES})
        ref = backtest_frame(ds.to_frame(), params, 60).metrics
        assert row["n_trades"] == ref["n_trades"]
        assert row["final_equity"] == pytest.approx(ref["final_equity"], rel=1e-9)
        assert row["sharpe"] == pytest.approx(ref["sharpe"], rel=1e-9, abs=1e-12)
    m = res.manifest
    assert m["status"] == "completed" and m["total_combos"] == 8 and m["bar_steps"] == 8 * 504
    assert (res.run_dir / "spec.toml").is_file()
    assert len(list((res.run_dir / "results").glob("part-*.parquet"))) == 3


def test_resume_skips_finished_tasks_and_matches(sample_store, tmp_path):
    spec = base()
    root = sample_store.data_root
    _, full, seen = interrupt_then_resume(spec, root)
    assert [p["done_tasks"] for p in seen] == [3]  # only the missing task ran
    other = tmp_path / "other"
    import shutil

    shutil.copytree(root / "ohlcv", other / "ohlcv")
    clean = run_local(spec, data_root=other, backend="cpu", memory_budget_gb=2)
    pd.testing.assert_frame_equal(full.to_frame(), clean.to_frame())
    again = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2, resume=False)
    pd.testing.assert_frame_equal(again.to_frame(), clean.to_frame())


def test_changed_spec_gives_new_run_id(sample_store):
    root = sample_store.data_root
    a = run_local(base(), data_root=root, backend="cpu", memory_budget_gb=2)
    b = run_local(base(fixed={"fee_bps": 10.0}), data_root=root, backend="cpu", memory_budget_gb=2)
    assert a.run_id != b.run_id
    assert not a.to_frame()["total_fees"].equals(b.to_frame()["total_fees"])


def test_memory_budget_refusal_names_numbers(sample_store):
    spec = base(
        grid={
            "bb_period": {"start": 2, "stop": 400, "step": 1},
            "bb_std": {"start": 0.5, "stop": 3.0, "step": 0.01},
        }
    )
    with pytest.raises(ConfigError, match=r"combinations need an estimated .* GiB.*budget"):
        run_local(spec, data_root=sample_store.data_root, backend="cpu", memory_budget_gb=0.1)
    assert not (sample_store.data_root / "runs").exists()


def test_unknown_symbol_is_clear(sample_store):
    spec = base(data={"symbols": ["DOGEUSDT"], "timeframes": ["1h"]})
    with pytest.raises(Exception, match="DOGEUSDT.*not in the store"):
        run_local(spec, data_root=sample_store.data_root, backend="cpu", memory_budget_gb=2)


def test_stored_spec_mismatch_refused(sample_store):
    res = run_local(base(), data_root=sample_store.data_root, backend="cpu", memory_budget_gb=2)
    m = res.store.read_manifest()
    m["spec_fingerprint"] = "tampered"
    res.store.write_manifest(m)
    with pytest.raises(StoreError, match="differs"):
        run_local(base(), data_root=sample_store.data_root, backend="cpu", memory_budget_gb=2)


def test_rank_ties_and_direction():
    f = pd.DataFrame(
        {
            "combo_id": [0, 1, 2, 3],
            "symbol": "X",
            "timeframe": "1h",
            "bb_period": [30, 20, 10, 40],
            "sharpe": [1.0, 2.0, 2.0, np.nan],
            "max_drawdown": [0.1, 0.2, 0.2, 0.0],
        }
    )
    r = rank(f, ["sharpe", "-max_drawdown"])
    assert list(r["combo_id"]) == [2, 1, 0, 3]  # tie broken by bb_period; NaN last
    r = rank(f, ["-max_drawdown"])
    assert list(r["combo_id"]) == [3, 0, 2, 1]
    assert list(r["rank"]) == [1, 2, 3, 4]


def test_pareto_front():
    f = pd.DataFrame(
        {
            "combo_id": range(6),
            "sharpe": [3, 2, 2, 1, 0.5, 3],
            "max_drawdown": [0.3, 0.1, 0.2, 0.05, 0.05, 0.4],
        }
    )
    p = pareto_front(f)
    assert list(p["combo_id"]) == [0, 1, 3]


def test_export_writes_spec_beside(sample_store, tmp_path):
    res = run_local(base(), data_root=sample_store.data_root, backend="cpu", memory_budget_gb=2)
    out = res.export(tmp_path / "top.csv", "top")
    assert out.is_file() and (tmp_path / "top.spec.toml").is_file()
    back = pd.read_csv(out)
    assert list(back["rank"]) == list(range(1, len(back) + 1))
    res.export(tmp_path / "all.parquet")
    assert len(pd.read_parquet(tmp_path / "all.parquet")) == 8


def test_demo_spec_matches_shipped_toml():
    from pathlib import Path

    from threadx.cli.run import DEMO_SPEC

    shipped = load_spec(Path(__file__).resolve().parents[2] / "configs/sweeps/demo.toml")
    assert spec_from_dict(DEMO_SPEC).fingerprint() == shipped.fingerprint()
    assert shipped.count() >= 1000
