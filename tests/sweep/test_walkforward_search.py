"""Walk-forward with a search (``[walk_forward]`` + a sampling ``[search]``): every fold's train
window gets a search of its own (``trials`` rows, its own Optuna study), the report picks each
fold's best from that fold's rows only and trades it out of sample, resume, the CLI's lines, and
the overfitting report's count of trials."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.helpers import interrupt_then_resume
from tests.sweep.search_helpers import sample_root, search_dict, walk_forward_run
from threadx.core.errors import ConfigError, StoreError
from threadx.strategy.reference import simulate
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.results import RunStore, rank
from threadx.sweep.space import SearchSpace, point_keys
from threadx.sweep.walkforward import (
    EQUITY_FILE,
    REPORT_FILE,
    chosen_params,
    evaluate_fold,
    format_walk_forward,
    load_walk_forward,
    walk_forward_report,
    write_walk_forward,
)

TRIALS = 24
N_FOLDS = 4  # 21 days of 1h bars: train 7d, test 2d, step 4d


def wfs_dict(method="tpe", trials=TRIALS, batch=12, search_over=None, **over):
    search = {"method": method, "trials": trials, "batch": batch, "seed": 1, **(search_over or {})}
    wf = {"train": "7d", "test": "2d", "step": "4d"}
    d = search_dict(f"wfs-{method}", search, report={"blocks": 8}, walk_forward=wf)
    d.update(over)
    return d


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return sample_root(tmp_path_factory, "wfs")


@pytest.fixture(scope="module")
def tpe_run(root):
    return walk_forward_run(root, wfs_dict())


def _fold_study_trials(run_dir, name):
    import optuna

    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal"))
    )
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    study = optuna.load_study(study_name=name, storage=storage)
    done = optuna.trial.TrialState.COMPLETE
    return names, [t for t in study.get_trials(deepcopy=False) if t.state == done]


# -- the spec ---------------------------------------------------------------------------------
def test_the_spec_takes_a_search_with_walk_forward():
    spec = spec_from_dict(wfs_dict())
    assert spec.search.sampling and spec.walk_forward is not None
    assert spec.rows_per_dataset() == TRIALS
    grid = spec_from_dict(wfs_dict(search={}))
    assert grid.fingerprint() != spec.fingerprint()  # a search is another run than the grid
    with pytest.raises(ConfigError, match="exceeds the 1,134"):
        spec_from_dict(wfs_dict(trials=2000))


# -- every fold searched on its own -------------------------------------------------------------
def test_each_fold_gets_its_own_search(tpe_run):
    res, plan, rep = tpe_run
    assert len(plan.folds) == N_FOLDS and len(plan.datasets) == N_FOLDS
    assert res.manifest["status"] == "completed"
    assert res.manifest["search"]["trials"] == TRIALS
    assert res.manifest["total_combos"] == N_FOLDS * TRIALS
    frame = res.to_frame()
    sp = SearchSpace.from_spec(res.spec)
    for slot, f in enumerate(plan.folds):
        mine = frame[frame["fold"] == f.fold]
        # a search of `trials` distinct trials on this train window, ids in its own range
        assert len(mine) == TRIALS, (f.fold, len(mine))
        assert mine["combo_id"].between(slot * TRIALS, (slot + 1) * TRIALS - 1).all()
        keys = point_keys(sp.codes_of(mine))
        assert len(set(keys)) == TRIALS
        # its own study: it knows every row of this fold with this fold's values
        names, trials = _fold_study_trials(res.run_dir, f"BTCUSDT/1h/fold{f.fold}")
        assert names == [f"BTCUSDT/1h/fold{k}" for k in range(N_FOLDS)]
        told = {
            point_keys(np.array([[d.code_of(t.params.get(d.name, d.values[0])) for d in sp.dims]]))[
                0
            ]: t.values[0]
            for t in trials
        }
        assert set(keys) <= set(told)
        for key, sharpe in zip(keys, mine["sharpe"], strict=True):
            assert told[key] == pytest.approx(sharpe, nan_ok=True)
        # the rows are metrics on this fold's train window (the reference agrees)
        ds = plan.sources[0]
        train = ds.window(f.train_start, f.train_end)
        for _, row in mine.head(2).iterrows():
            ref = simulate(
                train.open,
                train.high,
                train.low,
                train.close,
                train.times_ns,
                chosen_params(row, 10_000.0),
                ds.bar_minutes,
            )
            assert ref.metrics["sharpe"] == pytest.approx(row["sharpe"], rel=1e-9, nan_ok=True)
    # TPE adapts to each fold's data: the folds' searches are not one search copied
    pts = [set(point_keys(sp.codes_of(frame[frame["fold"] == k]))) for k in range(N_FOLDS)]
    assert any(pts[0] != p for p in pts[1:])


def test_report_picks_each_folds_best_from_its_own_search(tpe_run):
    res, plan, rep = tpe_run
    frame = res.to_frame()
    assert rep["search"] == {
        "method": "tpe",
        "trials": TRIALS,
        "batch": 12,
        "seed": 1,
        "space": 1134,
    }
    (d,) = rep["datasets"]
    eq = pd.read_parquet(res.run_dir / EQUITY_FILE)
    for f, rec in zip(plan.folds, d["folds"], strict=True):
        mine = frame[frame["fold"] == f.fold]
        best = rank(mine, ["sharpe", "-max_drawdown"]).iloc[0]
        assert rec["trials"] == TRIALS
        assert rec["combo_id"] == best["combo_id"]
        assert rec["in_sample"]["sharpe"] == pytest.approx(best["sharpe"])
        # traded on the test window only, from the previous fold's equity
        oos = evaluate_fold(plan.sources[0], f, best, rec["start_equity"], 8)
        assert np.array_equal(oos.equity, eq.loc[eq["fold"] == f.fold, "equity"].to_numpy())
    text = format_walk_forward(rep)
    assert f"among its own search: tpe (seed 1), {TRIALS} trials per train window" in text
    assert "trials" in text.splitlines()[3]  # the fold table's column


def test_report_refuses_a_skipped_or_mixed_fold(tpe_run, root):
    res, plan, _ = tpe_run
    frame = res.to_frame()
    with pytest.raises(StoreError, match=f"fold 2: 0 of {TRIALS} tpe trials"):
        walk_forward_report(plan, frame[frame["fold"] != 2])
    mixed = frame.copy()
    mixed.loc[mixed["fold"] == 1, "fold"] = 0  # fold 1's trials passed off as fold 0's
    with pytest.raises(StoreError, match="fold 0: train results with combo ids outside"):
        walk_forward_report(plan, mixed)
    # one search's rows in another fold's place: the report sees it too
    swapped = frame.copy()
    swapped.loc[frame["fold"] == 1, "fold"], swapped.loc[frame["fold"] == 2, "fold"] = 2, 1
    with pytest.raises(StoreError, match="outside"):
        walk_forward_report(plan, swapped)


def test_a_missing_task_is_not_a_short_batch(tpe_run, tmp_path):
    """tpe may store a short batch (fewer rows than trials); a task not done at all is an
    incomplete run, whatever the row counts say."""
    import shutil

    res, plan, _ = tpe_run
    run_dir = tmp_path / res.run_id
    shutil.copytree(res.run_dir, run_dir)
    store = RunStore(run_dir)
    store.part_path(plan.tasks[3].task_id).unlink()
    with pytest.raises(StoreError, match="1 of 8 task"):
        write_walk_forward(plan, store)


# -- resume -------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["random", "tpe"])
def test_interrupted_walk_forward_search_resumes(root, method, tmp_path):
    import shutil

    other = tmp_path / "data"
    shutil.copytree(root / "ohlcv", other / "ohlcv")
    spec = spec_from_dict(wfs_dict(method))
    part, full, seen = interrupt_then_resume(spec, other)
    assert [p["done_tasks"] for p in seen] == list(range(3, 2 * N_FOLDS + 1))
    frame = full.to_frame()
    assert frame["combo_id"].is_unique
    sp = SearchSpace.from_spec(spec)
    for k in range(N_FOLDS):
        keys = point_keys(sp.codes_of(frame[frame["fold"] == k]))
        assert len(keys) == len(set(keys)) == TRIALS  # every trial of the fold exactly once
    rep = load_walk_forward(full.run_dir)
    assert [f["trials"] for f in rep["datasets"][0]["folds"]] == [TRIALS] * N_FOLDS
    if method == "random":  # seeded draws: the resumed run is the uninterrupted one
        clean = run_local(spec, data_root=other, backend="cpu", memory_budget_gb=2, resume=False)
        pd.testing.assert_frame_equal(frame, clean.to_frame())
        assert json.loads((clean.run_dir / REPORT_FILE).read_text()) == rep
        # the same draw on every fold, each evaluated on its own train window
        codes = [sp.codes_of(frame[frame["fold"] == k]) for k in range(N_FOLDS)]
        assert all((c == codes[0]).all() for c in codes)
        assert not frame.groupby("fold")["sharpe"].apply(list).map(tuple).duplicated().any()


def test_service_equals_run_local(store, root):
    """Through the SweepService (the driver's logic; fold slices shipped by the executor, the
    sampler beside the controller): the rows and the report of run_local."""
    from tests.inline_executor import inline_service

    spec = spec_from_dict(wfs_dict("random"))
    svc = inline_service(store)
    rid = svc.submit(spec)
    svc.run_until_idle(0.01)
    assert svc.status(rid)["state"] == "completed"
    loc = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2)
    assert rid == loc.run_id
    via = RunStore(store.data_root / "runs" / rid).load()
    pd.testing.assert_frame_equal(via.drop(columns="device"), loc.to_frame().drop(columns="device"))
    got = json.loads((store.data_root / "runs" / rid / REPORT_FILE).read_text())
    assert got == load_walk_forward(loc.run_dir)


# -- the CLI and the overfitting report -----------------------------------------------------------
def test_cli_run_walkforward_and_report(root, tmp_path, capsys):
    import tomli_w

    from threadx.cli import main

    path = tmp_path / "wfs.toml"
    path.write_text(tomli_w.dumps(wfs_dict("sobol", name="wfs-cli")))
    argv = ["--data-root", str(root), "sweep", "run", "--local", str(path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"search: sobol (seed 1), {TRIALS} trials per train window (walk-forward fold)" in out
    assert f"{N_FOLDS} fold(s); a sobol search of {TRIALS} trials on each train window: " in out
    assert f"{N_FOLDS * TRIALS} trials (sobol) of a 1,134-combination grid, a search of " in out
    assert f"among its own search: sobol (seed 1), {TRIALS} trials per train window" in out
    rid = next(line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("run "))
    assert main(["--data-root", str(root), "sweep", "walkforward", rid]) == 0
    assert "among its own search: sobol" in capsys.readouterr().out
    assert main(["--data-root", str(root), "sweep", "report", rid, "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    # one group per fold, each over that fold's trials; every evaluated trial is counted
    assert [(g["fold"], g["n_trials"], g["dsr_trials"]) for g in rep["groups"]] == [
        (k, TRIALS, TRIALS) for k in range(N_FOLDS)
    ]  # each fold's pick is deflated by its own search's trials
    assert rep["n_trials"] == N_FOLDS * TRIALS


def test_halving_fold_is_deflated_by_every_trial_it_started(root):
    """Walk-forward with successive halving: each fold's report group holds its full-length
    rows (PBO, the variance) and deflates its pick by all the trials its search started."""
    from threadx.sweep.overfit import load_report

    d = wfs_dict("random", search_over={"halving": {"start": 0.5, "keep": 0.5}})
    res, _, wf = walk_forward_run(root, d)  # (walk-forward refused halving's share of rows)
    folds = wf["datasets"][0]["folds"]
    assert [f["trials"] for f in folds] == [TRIALS] * N_FOLDS  # trials started, not rows
    full = res.to_frame()
    for f in folds:  # each fold's pick: the best of its full-length rows
        train = full[full["fold"] == f["fold"]]
        assert f["combo_id"] == int(rank(train, ["sharpe", "-max_drawdown"]).iloc[0]["combo_id"])
    rep = load_report(res.run_dir)
    assert [g["fold"] for g in rep["groups"]] == list(range(N_FOLDS))
    for g in rep["groups"]:
        assert g["n_trials"] == TRIALS // 2  # half of each batch of 12 reaches all the bars
        assert g["dsr_trials"] == TRIALS  # every trial the fold's search started
    assert rep["n_trials"] == N_FOLDS * TRIALS
