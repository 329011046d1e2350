"""Walk-forward mode (issue 8): fold geometry, spec rules, the local and driver paths, and the
out-of-sample guarantees (no train bar used, compounding continuity, choice = rank 1)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.sweep.search_helpers import sample_root, walk_forward_run
from threadx.core.errors import ConfigError, DataError
from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample
from threadx.strategy.params import PARAM_NAMES
from threadx.strategy.reference import simulate
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.folds import fold_windows
from threadx.sweep.plan import load_datasets, plan_sweep
from threadx.sweep.results import RunStore, rank
from threadx.sweep.spec import WalkForwardSpec
from threadx.sweep.walkforward import (
    EQUITY_FILE,
    REPORT_FILE,
    TRADES_FILE,
    chosen_params,
    evaluate_fold,
    format_walk_forward,
    load_walk_forward,
)

REPO = Path(__file__).resolve().parents[2]
DAY = 86_400 * 10**9
T0 = pd.Timestamp("2023-03-01", tz="UTC").value


def wf_dict(**over):
    d = {
        "name": "wf",
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
        "grid": {
            "bb_period": [10, 20],
            "bb_std": [1.5, 2.5],
            "atr_multiplier": [1.5, 3.0],
            "direction": ["both", "long"],
        },
        "fixed": {"slippage_bps": 1.0},
        "chunk_size": 5,
        "walk_forward": {"train": "7d", "test": "2d", "step": "2d"},
    }
    d.update(over)
    return d


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return sample_root(tmp_path_factory, "wf")


@pytest.fixture(scope="module")
def wf_run(root):
    return walk_forward_run(root, wf_dict())


# -- fold geometry -------------------------------------------------------------------------------
def test_rolling_and_anchored_windows():
    wf = WalkForwardSpec(train="7d", test="2d", step="2d")
    w = fold_windows(T0, T0 + 21 * DAY, wf)
    assert len(w) == 7
    assert w[0] == (T0, T0 + 7 * DAY, T0 + 9 * DAY)
    assert w[6] == (T0 + 12 * DAY, T0 + 19 * DAY, T0 + 21 * DAY)  # ends exactly at the data end
    anchored = fold_windows(T0, T0 + 21 * DAY, wf.model_copy(update={"mode": "anchored"}))
    assert [a for a, _, _ in anchored] == [T0] * 7
    assert [(b, c) for _, b, c in anchored] == [(b, c) for _, b, c in w]
    # one nanosecond short of the last test window: one fold fewer
    assert len(fold_windows(T0, T0 + 21 * DAY - 1, wf)) == 6
    # step > test: gaps between test windows; step defaults to test
    assert fold_windows(T0, T0 + 21 * DAY, WalkForwardSpec(train="7d", test="2d", step="3d"))[
        1
    ] == (T0 + 3 * DAY, T0 + 10 * DAY, T0 + 12 * DAY)
    assert WalkForwardSpec(train="7d", test="12h").step == "12h"
    assert fold_windows(T0, T0 + 8 * DAY, wf) == []


def test_window_slices_whole_bars(wf_run):
    _, plan, _ = wf_run
    ds = plan.sources[0]
    f = plan.folds[1]
    train = ds.window(f.train_start, f.train_end, fold=1)
    assert train.fold == 1 and train.n_bars == f.train_bars == 7 * 96
    assert (
        train.times_ns[0] == f.train_start and train.times_ns[-1] == f.train_end - 15 * 60 * 10**9
    )
    assert train.fingerprint() != ds.fingerprint()
    # a window edge inside a bar: that bar is out (it would reach past the window)
    half = ds.window(f.train_start + 60 * 10**9, f.train_end - 60 * 10**9)
    assert half.n_bars == f.train_bars - 2


def test_too_short_data_and_gaps_are_clear(root):
    spec = spec_from_dict(
        wf_dict(data={"symbols": ["BTCUSDT"], "timeframes": ["15m"], "end": "2023-03-09"})
    )
    with pytest.raises(DataError, match=r"spans 8.00 days .* train 7d \+ test 2d = 9.00 days"):
        plan_sweep(spec, load_datasets(spec, OHLCVStore(root)))
    ds = load_datasets(spec_from_dict(wf_dict()), OHLCVStore(root))[0]
    keep = (ds.times_ns < T0 + 7 * DAY) | (ds.times_ns >= T0 + 9 * DAY - 15 * 60 * 10**9)
    cut = ds.window(T0, T0 + 30 * DAY)
    gap = dataclasses.replace(
        cut,
        **{
            c: getattr(cut, c)[keep] for c in ("times_ns", "open", "high", "low", "close", "volume")
        },
    )
    with pytest.raises(DataError, match="fold 0: 672 train and 1 test bar"):
        plan_sweep(spec_from_dict(wf_dict()), [gap])


# -- the spec -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("wf", "message"),
    [
        ({"train": "7x", "test": "2d"}, "walk_forward.train': '7x' is not a duration"),
        ({"train": "0d", "test": "2d"}, "walk_forward.train': '0d': a duration must be > 0"),
        ({"train": "7d", "test": "2d", "step": "1d"}, "step '1d' is shorter than test '2d'"),
        ({"train": "7d", "test": "2d", "mode": "expanding"}, "walk_forward.mode"),
        ({"train": "7d", "test": "20m"}, "test = '20m' holds fewer than 2 bars of timeframe 15m"),
        ({"train": "7d", "test": "2d", "folds": 3}, "walk_forward.folds': unknown key"),
        ({"test": "2d"}, "walk_forward.train': Field required"),
    ],
)
def test_spec_errors(wf, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec_from_dict(wf_dict(walk_forward=wf))


def test_spec_rules_and_fingerprint():
    with pytest.raises(ConfigError, match=r"needs \[rank\] aggregate = 'none'"):
        spec_from_dict(wf_dict(rank={"aggregate": "median"}))
    plain = spec_from_dict(wf_dict(walk_forward=None))
    assert "walk_forward" not in plain.normalized()  # other runs keep their ids
    rolling = spec_from_dict(wf_dict())
    anchored = spec_from_dict(
        wf_dict(walk_forward={"train": "7d", "test": "2d", "mode": "anchored"})
    )
    other = spec_from_dict(wf_dict(walk_forward={"train": "6d", "test": "2d"}))
    fps = {s.fingerprint() for s in (plain, rolling, anchored, other)}
    assert len(fps) == 4
    same = spec_from_dict(wf_dict(walk_forward={"train": "168h", "test": "48h", "step": "2d"}))
    assert same.fingerprint() == rolling.fingerprint()  # the same windows, written otherwise
    from threadx.sweep.spec import spec_to_toml

    assert "[walk_forward]" in spec_to_toml(rolling) and "walk_forward" not in spec_to_toml(plain)


def test_shipped_walkforward_config():
    from threadx.sweep import load_spec

    spec = load_spec(REPO / "configs" / "sweeps" / "walkforward.toml")
    wf = spec.walk_forward
    assert (wf.train, wf.test, wf.step, wf.mode) == ("7d", "2d", "2d", "rolling")
    assert spec.data.timeframes == ["15m"] and spec.combos_per_dataset() == 2304


# -- end to end (run_local on the bundled data) ----------------------------------------------------
def test_end_to_end_report(wf_run):
    res, plan, rep = wf_run
    assert res.manifest["status"] == "completed" and len(plan.folds) == 7
    assert res.manifest["total_combos"] == 7 * 16 and len(res.manifest["walk_forward"]) == 7
    frame = res.to_frame()
    assert sorted(frame["fold"].unique()) == list(range(7)) and len(frame) == 7 * 16
    (d,) = rep["datasets"]
    assert [f["fold"] for f in d["folds"]] == list(range(7)) and d["oos_bars"] == 7 * 192
    for name in (REPORT_FILE, EQUITY_FILE, TRADES_FILE):
        assert (res.run_dir / name).exists()
    text = format_walk_forward(rep)
    assert (
        "7 folds" in text and "stitched out-of-sample" in text and "walk-forward efficiency" in text
    )


def test_chosen_params_are_rank_one_of_the_fold(wf_run):
    res, plan, rep = wf_run
    frame = res.to_frame()
    ds = plan.sources[0]
    for f, rec in zip(plan.folds, rep["datasets"][0]["folds"], strict=True):
        best = rank(frame[frame["fold"] == f.fold], ["sharpe", "-max_drawdown"]).iloc[0]
        assert rec["combo_id"] == best["combo_id"]
        assert rec["params"] == {
            k: best[k].item() if hasattr(best[k], "item") else best[k]
            for k in ("bb_period", "bb_std", "atr_multiplier", "direction")
        }
        # the in-sample metrics are the chosen combination's on the train window (kernel = ref.)
        train = ds.window(f.train_start, f.train_end)
        ref = simulate(
            train.open,
            train.high,
            train.low,
            train.close,
            train.times_ns,
            chosen_params(best, 10_000.0),
            ds.bar_minutes,
        )
        assert ref.metrics["sharpe"] == pytest.approx(rec["in_sample"]["sharpe"], rel=1e-9)


def test_oos_never_uses_a_train_bar(wf_run):
    res, plan, rep = wf_run
    eq = pd.read_parquet(res.run_dir / EQUITY_FILE)
    ds = plan.sources[0]
    recs = rep["datasets"][0]["folds"]
    for f in plan.folds:
        t = eq.index[eq["fold"] == f.fold].asi8
        assert len(t) == f.test_bars and t.min() >= f.train_end and t.max() < f.test_end
    # perturb every bar of a fold's train window after its choice: its OOS equity is unchanged
    checked = 0
    for f, rec in zip(plan.folds, recs, strict=True):
        row = res.to_frame().set_index("combo_id").loc[rec["combo_id"]]
        inside = (ds.times_ns >= f.train_start) & (ds.times_ns < f.train_end)
        scale = np.where(inside, 1.37, 1.0)
        bent = dataclasses.replace(
            ds, **{c: getattr(ds, c) * scale for c in ("open", "high", "low", "close")}
        )
        oos = evaluate_fold(bent, f, row, rec["start_equity"])
        stored = eq.loc[eq["fold"] == f.fold, "equity"].to_numpy()
        assert np.array_equal(oos.equity, stored)  # bit-identical
        if rec["out_of_sample"]["n_trades"]:  # control: a changed test bar does change it
            in_test = (ds.times_ns >= f.test_start) & (ds.times_ns < f.test_end)
            moved = dataclasses.replace(ds, close=np.where(in_test, ds.close * 1.01, ds.close))
            assert not np.array_equal(
                evaluate_fold(moved, f, row, rec["start_equity"]).equity, stored
            )
            checked += 1
    assert checked >= 3


def test_stitched_equity_compounds_continuously(wf_run):
    res, _, rep = wf_run
    d = rep["datasets"][0]
    eq = pd.read_parquet(res.run_dir / EQUITY_FILE)
    folds = d["folds"]
    assert folds[0]["start_equity"] == d["initial_capital"] == 10_000.0
    for prev, nxt in zip(folds, folds[1:], strict=False):
        assert nxt["start_equity"] == prev["end_equity"]
        first = eq.loc[eq["fold"] == nxt["fold"], "equity"].iloc[0]
        last = eq.loc[eq["fold"] == prev["fold"], "equity"].iloc[-1]
        assert first == last  # no trade on a test window's first bar: continuous
    s = d["stitched"]
    assert s["final_equity"] == eq["equity"].iloc[-1] == folds[-1]["end_equity"]
    assert s["n_trades"] == sum(f["out_of_sample"]["n_trades"] for f in folds)
    trades = pd.read_csv(res.run_dir / TRADES_FILE)
    assert len(trades) == s["n_trades"]
    assert s["final_equity"] == pytest.approx(10_000.0 + trades["pnl"].sum(), rel=1e-12)
    assert np.all(eq.index.to_series().diff().dropna() > pd.Timedelta(0))  # in time order
    deg = d["degradation"]
    assert deg["n_folds"] == 7 and deg["stitched_oos_sharpe"] == s["sharpe"]
    assert deg["mean_is_sharpe"] == pytest.approx(
        np.mean([f["in_sample"]["sharpe"] for f in folds])
    )


def test_resume_of_an_interrupted_walk_forward(root, wf_run, tmp_path):
    import shutil

    other = tmp_path / "data"
    shutil.copytree(root / "ohlcv", other / "ohlcv")
    spec = spec_from_dict(wf_dict())
    part = run_local(spec, data_root=other, backend="cpu", memory_budget_gb=2, max_tasks=9)
    assert part.manifest["status"] == "interrupted"
    assert not (part.run_dir / REPORT_FILE).exists()
    with pytest.raises(Exception, match="interrupted: its walk-forward report is written when"):
        from threadx.sweep.walkforward import walk_forward_for_run

        walk_forward_for_run(part.run_dir, OHLCVStore(other))
    done = run_local(spec, data_root=other, backend="cpu", memory_budget_gb=2)
    assert done.run_id == wf_run[0].run_id and done.manifest["status"] == "completed"
    a = json.loads((done.run_dir / REPORT_FILE).read_text())
    b = json.loads((wf_run[0].run_dir / REPORT_FILE).read_text())
    assert a == b
    # a completed run that lost its report gets it back from its parts
    (done.run_dir / REPORT_FILE).unlink()
    assert walk_forward_for_run(done.run_dir, OHLCVStore(other)) == b


def test_anchored_run_and_cli(root, capsys):
    from threadx.cli import main

    spec = spec_from_dict(
        wf_dict(name="wfa", walk_forward={"train": "10d", "test": "3d", "mode": "anchored"})
    )
    res = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2)
    d = load_walk_forward(res.run_dir)["datasets"][0]
    assert [f["train_start"] for f in d["folds"]] == ["2023-03-01T00:00:00+00:00"] * 3
    assert [f["train_bars"] for f in d["folds"]] == [960, 1248, 1536]
    assert main(["--data-root", str(root), "sweep", "walkforward", res.run_id]) == 0
    out = capsys.readouterr().out
    assert "walk-forward (anchored: train 10d, test 3d, step 3d)" in out and "3 folds" in out
    assert main(["--data-root", str(root), "sweep", "show", res.run_id]) == 0
    assert "stitched out-of-sample" in capsys.readouterr().out


# -- the driver's service with a fake executor (no Ray), and the real Ray driver ------------------
class ShippingExecutor:
    """Runs tasks in this process like a worker would: with the dataset its handle names, or the
    plan's own slice where the service left the handle empty (RayExecutor puts those)."""

    def __init__(self, plan, handles):
        from threadx.sweep.controller import WorkerInfo

        self.plan, self.handles, self.pending = plan, handles, {}
        self.info = [WorkerInfo("w0", "cpu")]

    def workers(self):
        return self.info

    def submit(self, worker_id, task):
        fut = object()
        self.pending[fut] = task
        return fut

    def wait(self, futures, timeout):
        return list(futures)

    def result(self, fut):
        from threadx.sweep.execute import execute_task

        task = self.pending.pop(fut)
        h = self.handles[task.dataset_index]
        ds = self.plan.datasets[task.dataset_index] if h is None else h
        return execute_task(ds, self.plan.spec, task, "cpu")

    def replace_worker(self, worker_id):
        return None

    def cancel(self, fut):
        self.pending.pop(fut, None)


def test_service_ships_fold_slices(root, wf_run, tmp_path):
    import shutil

    from threadx.sweep.service import SweepService

    other = tmp_path / "data"
    shutil.copytree(root / "ohlcv", other / "ohlcv")
    seen = []

    def load(spec):
        ds = load_datasets(spec, OHLCVStore(other))
        return ds, list(ds)  # the "handle" of a loaded dataset is the dataset itself

    def make(plan, handles):
        seen.append(handles)
        return ShippingExecutor(plan, handles)

    svc = SweepService(other, load, make, memory_budget_gb=2)
    rid = svc.submit(wf_dict())
    svc.run_until_idle(0.01)
    assert svc.status(rid)["state"] == "completed"
    assert rid == wf_run[0].run_id and seen[0] == [None] * 7  # every fold slice shipped
    got = json.loads((other / "runs" / rid / REPORT_FILE).read_text())
    assert got == json.loads((wf_run[0].run_dir / REPORT_FILE).read_text())
    assert sorted(RunStore(other / "runs" / rid).load()["fold"].unique()) == list(range(7))
    assert set(PARAM_NAMES) <= set(svc.results(rid).columns)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_through_the_ray_driver(wf_run, tmp_path):
    """The real SweepDriver and BacktestWorkers (one local cluster for this test, shut down at
    its end): fold slices reach the workers by reference and the report equals the local one."""
    ray = pytest.importorskip("ray")
    from actors.client import ThreadXClient
    from threadx.core.config import apply_overrides, load_config

    if ray.is_initialized():
        pytest.skip("a Ray session is already running in this process")
    ensure_sample(OHLCVStore(tmp_path / "data"))
    cfg = apply_overrides(
        load_config(REPO / "configs" / "threadx.toml"), data_root=str(tmp_path / "data")
    )
    ray.init(num_cpus=2, include_dashboard=False, namespace="threadx", logging_level="ERROR")
    try:
        client = ThreadXClient(cfg).connect()
        rid = client.submit(wf_dict())
        st = client.wait(rid, timeout=240)
        assert st["state"] == "completed", st
        frame = client.results(rid)
        assert len(frame) == 7 * 16 and set(frame["device"]) == {"cpu"}
        local = wf_run[0].to_frame().drop(columns=["device"])
        pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local)
        got = json.loads((cfg.data_root / "runs" / rid / REPORT_FILE).read_text())
        assert got == json.loads((wf_run[0].run_dir / REPORT_FILE).read_text())
        # drill-down of a train row runs on its fold's train window
        row = frame[frame["fold"] == 3].iloc[0]
        dd = client.drilldown(rid, int(row["combo_id"]))
        assert dd["mismatches"] == [] and len(dd["bars"]) == 7 * 96
    finally:
        ray.shutdown()
