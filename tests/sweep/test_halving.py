"""Successive halving on data length (``[search] halving``): the stages, the kept share, the rows
of every (trial, stage), the full-length rows the ranking and the report read, resume."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.helpers import interrupt_then_resume
from tests.sweep.search_helpers import GRID, search_dict
from threadx.core.errors import ConfigError
from threadx.sample import ensure_sample
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.halving import (
    HalvingSpec,
    best_share,
    cost_share,
    kept,
    plan_stages,
    stage_bars,
    stage_counts,
    stage_fractions,
)
from threadx.sweep.results import (
    RunStore,
    full_length,
    group_trials,
    results_frame,
    trial_count,
)

REPO = Path(__file__).resolve().parents[2]
HALF = {"start": 0.25, "keep": 0.5}  # stages on 1/4, 1/2 and all of the bars


def spec_dict(method="random", trials=120, batch=40, seed=0, halving=HALF, **over):
    search = {"method": method, "trials": trials, "batch": batch, "seed": seed}
    if halving is not None:
        search["halving"] = halving
    return search_dict(f"h-{method}", search, **over)


def spec(*args, **kw):
    return spec_from_dict(spec_dict(*args, **kw))


@pytest.fixture
def root(store):
    ensure_sample(store)
    return store.data_root


def every_stage(res) -> pd.DataFrame:
    return RunStore(res.run_dir).load(every_stage=True)


# -- the stage arithmetic ----------------------------------------------------------------------
def test_stage_fractions_counts_and_bars():
    assert stage_fractions(0.25, 0.25) == (0.25, 1.0)
    assert stage_fractions(0.25, 0.5) == (0.25, 0.5, 1.0)
    assert stage_fractions(0.1, 0.5) == pytest.approx((0.1, 0.2, 0.4, 0.8, 1.0))
    assert stage_fractions(0.3, 0.5) == pytest.approx((0.3, 0.6, 1.0))
    assert stage_fractions(0.5, 0.25) == (0.5, 1.0)  # min(1, 0.5 / 0.25)
    assert stage_fractions(0.1, 0.1)[-1] == 1.0 and len(stage_fractions(0.1, 0.1)) == 2
    assert HalvingSpec(start=0.25, keep=0.25).fractions() == (0.25, 1.0)
    # ceil(keep x n) without float drift (0.1 x 30 is 3.0000000000000004 in floats)
    assert kept(30, 0.1) == 3 and kept(31, 0.1) == 4 and kept(1, 0.01) == 1 and kept(0, 0.5) == 0
    assert stage_counts(40, 0.5, 3) == [40, 20, 10]
    assert stage_counts(45, 0.25, 4) == [45, 12, 3, 1]
    assert stage_bars(504, (0.25, 0.5, 1.0)) == [126, 252, 504]
    assert stage_bars(3, (0.1, 1.0)) == [2, 3]  # never fewer than the kernel's 2 bars
    # a dataset's stages over its batches (the last one short): trials per stage
    rows = plan_stages(130, 40, HalvingSpec(**HALF), bars=[504])
    assert [(r["stage"], r["trials"], r["bars"]) for r in rows] == [
        (0, 130, [126]),
        (1, 20 * 3 + 5, [252]),
        (2, 10 * 3 + 3, [504]),
    ]
    cost = cost_share(2000, 500, HalvingSpec(start=0.25, keep=0.25))
    assert cost == pytest.approx((2000 * 0.25 + 500) / 2000)


def test_best_share_ranks_by_the_metric_non_finite_last():
    v = np.array([1.0, np.nan, 5.0, -np.inf, 3.0, 5.0, np.inf])
    assert best_share(v, 2, lower=False).tolist() == [2, 5]  # ties: the earlier first
    assert best_share(v, 3, lower=False).tolist() == [2, 4, 5]
    assert best_share(v, 2, lower=True).tolist() == [0, 4]
    assert best_share(v, 6, lower=False).tolist() == [0, 1, 2, 3, 4, 5]  # non-finite last
    assert best_share(np.array([np.nan, 2.0]), 1, lower=True).tolist() == [1]


# -- the spec ---------------------------------------------------------------------------------
def test_halving_spec_errors_name_key_and_rule():
    bad = {
        "search.halving.start": ({"start": 0, "keep": 0.5}, "in (0, 1), got 0"),
        "search.halving.start'": ({"start": 1.5, "keep": 0.5}, "in (0, 1), got 1.5"),
        "search.halving.start''": ({"start": "0.2", "keep": 0.5}, "a number in (0, 1)"),
        "search.halving.keep": ({"start": 0.5, "keep": 1}, "in (0, 1), got 1"),
        "search.halving.keep'": ({"start": 0.5}, "Field required"),
        "search.halving.stop": ({"start": 0.5, "keep": 0.5, "stop": 1}, "unknown key"),
        "search.halving.start'''": ({"start": 0.001, "keep": 0.9}, "more than 16 stages"),
    }
    for key, (halving, rule) in bad.items():
        with pytest.raises(ConfigError, match=re.escape(rule)) as err:
            spec(halving=halving)
        assert f"key '{key.rstrip(chr(39))}'" in str(err.value), str(err.value)
        assert "\n" not in str(err.value)
    grid = spec_dict(halving=HALF)
    grid["search"] = {"method": "grid", "halving": HALF}
    with pytest.raises(ConfigError, match="key 'search.halving'.*method 'grid'"):
        spec_from_dict(grid)
    two = spec_dict(rank={"by": ["sharpe"], "aggregate": "median"})
    two["data"]["timeframes"] = ["1h", "4h"]
    with pytest.raises(ConfigError, match="key 'rank.aggregate'.*halving keeps"):
        spec_from_dict(two)
    spec_from_dict({**two, "search": {**two["search"], "halving": None}})  # fine without it


def test_halving_changes_the_run_id_and_only_then():
    d = {
        "name": "t",
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["1h"]},
        "grid": {"bb_period": [10, 20], "bb_std": [1.5, 2.5], "atr_multiplier": [1.0, 2.0]},
        "search": {"method": "random", "trials": 4},
    }
    # the fingerprint of this search spec without halving (automatic batch, as since 9044285)
    pinned = "577fe228450441b14a7d07e14d8753fbcf7d77ffe7372263a283d0f4c823fd65"
    assert spec_from_dict(d).fingerprint() == pinned
    halved = {**d, "search": {**d["search"], "halving": {"start": 0.5, "keep": 0.5}}}
    other = {**d, "search": {**d["search"], "halving": {"start": 0.5, "keep": 0.25}}}
    fps = {spec_from_dict(x).fingerprint() for x in (d, halved, other)}
    assert len(fps) == 3


def test_the_toml_example_is_a_valid_spec():
    text = (REPO / "configs" / "sweeps" / "search.toml").read_text()
    assert "# halving = { start = 0.25, keep = 0.25 }" in text
    data = tomllib.loads(text.replace("# halving = ", "halving = "))
    s = spec_from_dict(data)
    assert s.search.halving == HalvingSpec(start=0.25, keep=0.25)
    assert "halving" in s.normalized()["search"]


# -- runs -------------------------------------------------------------------------------------
def _prefix_grid(root, s, bars: int) -> pd.DataFrame:
    """The whole grid evaluated directly on the dataset's first ``bars`` bars (its own
    indicators), through the grid path (no search, no halving)."""
    from threadx.data.store import OHLCVStore
    from threadx.sweep.execute import execute_task
    from threadx.sweep.plan import Task, load_datasets

    (ds,) = load_datasets(s, OHLCVStore(root))
    prefix = ds if bars == ds.n_bars else ds.window(int(ds.times_ns[0]), int(ds.times_ns[bars]))
    assert prefix.n_bars == bars
    grid = spec_from_dict({**spec_dict(halving=None), "search": {}})
    n = grid.combos_per_dataset()
    return execute_task(prefix, grid, Task(0, 0, 0, n, 0)).to_pandas()


def test_stages_keep_the_best_share_evaluated_on_prefixes(root):
    s = spec("random", trials=120, batch=40, seed=7)
    res = run_local(s, data_root=root, backend="cpu", memory_budget_gb=2)
    allrows = every_stage(res)
    assert allrows["stage"].dtype == np.int8
    # every (trial, stage) once; every trial at stage 0; 40 -> 20 -> 10 per batch
    assert not allrows.duplicated(["combo_id", "stage"]).any()
    assert sorted(allrows.loc[allrows["stage"] == 0, "combo_id"]) == list(range(120))
    sizes = allrows.groupby(["task_id", "stage"]).size().unstack()
    assert sizes.to_numpy().tolist() == [[40, 20, 10]] * 3
    bars = [st["bars"][0] for st in res.manifest["search"]["halving"]["stages"]]
    assert bars == [126, 252, 504]
    params = list(GRID)
    for s_i, b in enumerate(bars):
        rows = allrows[allrows["stage"] == s_i]
        # the stage's metrics are those of its trials evaluated directly on the first b bars
        direct = _prefix_grid(root, s, b)
        merged = rows.merge(direct, on=params, suffixes=("", "_direct"))
        assert len(merged) == len(rows)
        for metric in ("sharpe", "final_equity", "n_trades", "max_drawdown", "block_03"):
            np.testing.assert_array_equal(merged[metric], merged[f"{metric}_direct"])
        if s_i + 1 == len(bars):
            break
        # the next stage's trials: per batch, the best ceil(keep x n) by sharpe (NaN last)
        nxt = set(allrows.loc[allrows["stage"] == s_i + 1, "combo_id"])
        want = set()
        for _, batch in rows.groupby("task_id"):
            k = math.ceil(0.5 * len(batch))
            order = batch.sort_values(["sharpe", "combo_id"], ascending=[False, True])
            want |= set(order["combo_id"].head(k))
        assert nxt == want
        # the discriminating case: a short prefix ranks trials differently from all the bars
        full = allrows[allrows["stage"] == 2].set_index("combo_id")["sharpe"]
        part = rows.set_index("combo_id")["sharpe"].reindex(full.index)
        assert not np.allclose(part.to_numpy(), full.to_numpy())


def test_ranking_report_and_pareto_see_only_full_length_rows(root):
    from threadx.sweep.overfit import load_report
    from threadx.sweep.results import rank

    s = spec("random", trials=120, batch=40, seed=7)
    res = run_local(s, data_root=root, backend="cpu", memory_budget_gb=2)
    allrows = every_stage(res)
    full = allrows[allrows["stage"] == 2].reset_index(drop=True)
    frame = res.to_frame()
    assert len(frame) == 30 and (frame["stage"] == 2).all()
    pd.testing.assert_frame_equal(frame, full, check_like=False)
    assert frame.attrs["trials"] == 120
    # an early stage's best differs from the full-length best: the ranking must not see it
    early = allrows[allrows["stage"] == 0].sort_values("sharpe", ascending=False)
    assert early["sharpe"].iloc[0] > full["sharpe"].max()
    top = res.top(5)
    pd.testing.assert_frame_equal(top, rank(full, s.rank.by, limit=5))
    assert set(res.pareto()["combo_id"]) <= set(full["combo_id"])
    rep = load_report(res.run_dir)
    assert rep["n_trials"] == 120  # DSR counts every trial evaluated
    (g,) = rep["groups"]
    assert g["n_trials"] == 30  # PBO and the variance: the full-length rows
    assert {r["combo_id"] for r in g["top"]} <= set(full["combo_id"])
    assert g["top"][0]["combo_id"] == int(top["combo_id"].iloc[0])
    # the same frame read from the parts (not from memory): the same rows and count
    again = RunStore(res.run_dir).load()
    pd.testing.assert_frame_equal(again, frame)
    assert again.attrs["trials"] == 120
    stats = res.manifest["search_stats"]
    assert stats["evaluated"] == 120 and stats["best"] == pytest.approx(full["sharpe"].max())
    assert res.manifest["bar_steps"] == 3 * (40 * 126 + 20 * 252 + 10 * 504)


def test_full_length_and_trial_count_of_parts():
    import pyarrow as pa

    t = pa.table({"combo_id": [5, 6, 7, 5, 7], "stage": pa.array([0, 0, 0, 1, 1], pa.int8())})
    assert full_length(t).column("combo_id").to_pylist() == [5, 7]
    assert trial_count(t) == 3
    assert full_length(t.to_pandas())["combo_id"].tolist() == [5, 7]
    plain = pa.table({"combo_id": [1, 2]})
    assert full_length(plain) is plain and trial_count(plain) == 2
    frame = results_frame([t, pa.table({"combo_id": [8, 9], "stage": pa.array([0, 1], pa.int8())})])
    assert frame["combo_id"].tolist() == [5, 7, 9] and frame.attrs["trials"] == 5
    every = results_frame([t], every_stage=True)
    assert every[["combo_id", "stage"]].to_numpy().tolist() == [
        [5, 0],
        [5, 1],
        [6, 0],
        [7, 0],
        [7, 1],
    ]
    assert "trials" not in results_frame([plain]).attrs

    # trials per (symbol, timeframe, fold): the report's groups (a fold's DSR counts its own)
    def part(fold, ids, stages):
        n = len(ids)
        return pa.table(
            {"symbol": ["BTCUSDT"] * n, "timeframe": ["1h"] * n, "fold": [fold] * n,
             "combo_id": ids, "stage": pa.array(stages, pa.int8())}
        )  # fmt: skip

    parts = [part(0, [1, 2, 3, 1], [0, 0, 0, 1]), part(0, [4, 4], [0, 1]), part(1, [9, 9], [0, 1])]
    frame = results_frame(parts)
    assert frame.attrs["trials"] == 5
    assert frame.attrs["group_trials"] == {("BTCUSDT", "1h", 0): 4, ("BTCUSDT", "1h", 1): 1}
    assert group_trials([part(0, [1], [0]).drop(["fold"])]) == {("BTCUSDT", "1h", None): 1}


def test_interrupted_halving_resumes_every_trial_and_stage_exactly_once(root):
    s = spec("sobol", trials=150, batch=30, seed=3)
    _, full, seen = interrupt_then_resume(s, root)
    assert [p["done_tasks"] for p in seen] == [3, 4, 5]  # only the missing batches ran
    assert [p["evaluated"] for p in seen] == [90, 120, 150]  # trials, not rows
    allrows = every_stage(full)
    assert not allrows.duplicated(["combo_id", "stage"]).any()
    assert allrows.groupby("stage").size().tolist() == [150, 5 * 15, 5 * 8]
    clean = run_local(s, data_root=root, backend="cpu", resume=False)
    pd.testing.assert_frame_equal(allrows, every_stage(clean))
    pd.testing.assert_frame_equal(full.to_frame(), clean.to_frame())


def test_service_halving_equals_run_local(store):
    """Through the SweepService (the driver's logic, an inline executor): the rows of every
    stage as run_local's; the live top K of full-length rows; trials evaluated / budget."""
    from tests.inline_executor import inline_service

    s = spec("random", trials=90, batch=30, seed=3)
    svc = inline_service(store)
    rid = svc.submit(s)
    while svc.step(0.01):
        st = svc.status(rid)
        assert st.evaluated in (None, st.done_tasks * 30)
        full = svc.results(rid)
        if len(full):
            assert (full["stage"] == 2).all()
            assert {r["combo_id"] for r in st.top} <= set(full["combo_id"])
    st = svc.status(rid)
    assert st.state == "completed" and st.evaluated == 90 and st.budget == 90
    assert sum(st.per_device.values()) == 90  # trials per device, not a row per stage
    via = RunStore(store.data_root / "runs" / rid).load(every_stage=True)
    loc = run_local(s, data_root=store.data_root, backend="cpu", resume=False)
    pd.testing.assert_frame_equal(
        via.drop(columns="device"), every_stage(loc).drop(columns="device")
    )
    top = svc.top(rid)
    assert (top["stage"] == 2).all() and len(top) == 5
    assert st.best["value"] == pytest.approx(loc.to_frame()["sharpe"].max())


@pytest.mark.parametrize("method", ["tpe", "nsga2"])
def test_optuna_halving_tells_full_length_rows(root, method):
    s = spec(method, trials=60, batch=20, seed=1)
    res = run_local(s, data_root=root, backend="cpu", memory_budget_gb=2)
    allrows = every_stage(res)
    assert not allrows.duplicated(["combo_id", "stage"]).any()
    for _, batch in allrows.groupby("task_id"):  # a batch may come up short (repeats)
        counts = batch.groupby("stage").size().tolist()
        assert counts == stage_counts(counts[0], 0.5, 3)
    frame = res.to_frame()
    assert (frame["stage"] == 2).all() and len(frame) == (allrows["stage"] == 2).sum()
    assert res.manifest["search_stats"]["evaluated"] == allrows["combo_id"].nunique()
    # the study knows every full-length trial with its full-length values, none left running
    from tests.sweep.test_search import _check_study

    _check_study(res, frame)
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(res.run_dir / "study.journal"))
    )
    trials = optuna.load_study(study_name="BTCUSDT/1h", storage=storage).get_trials()
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == allrows["combo_id"].nunique() - len(frame)  # cut at an early stage


def test_memory_estimate_counts_a_row_per_trial_and_stage():
    bars = {("BTCUSDT", "1h"): 2000}
    plain, halved = spec(halving=None), spec()  # 120 trials: 120 + 60 + 30 rows under HALF
    per_row = (halved.estimate_memory_bytes(bars) - plain.estimate_memory_bytes(bars)) / 90
    more = spec(trials=240)  # 240 + 120 + 60 rows
    assert per_row > 0
    assert more.estimate_memory_bytes(bars) - halved.estimate_memory_bytes(bars) == pytest.approx(
        210 * per_row, abs=8
    )
