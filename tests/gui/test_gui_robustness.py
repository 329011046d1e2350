"""The Results view's "rank by" selector and Overfitting panel, without a display (the ranking the
driver serves and its view model, the sweep form, and the backend's run controller with a fake
client: no Ray)."""

from __future__ import annotations

import copy
import itertools

import pandas as pd
import pytest

from gui import forms, snapshots
from gui import viewmodels as vm
from gui.overfitting import HIST_LABELS, NO_REPORT, TOP_STATS, overfit_model
from threadx.sweep import shapes
from threadx.sweep.results import rank, rank_aggregate
from threadx.sweep.spec import spec_from_dict

DATASETS = [("BTCUSDT", "15m"), ("BTCUSDT", "1h")]
GRID = {"bb_period": [10, 20, 30], "bb_std": [1.5, 2.5]}


def _frame(drop_last: int = 0) -> pd.DataFrame:
    """Two datasets over GRID; sharpe differs by dataset so median and worst disagree."""
    rows, cid = [], 0
    for d, (sym, tf) in enumerate(DATASETS):
        for p, s in itertools.product(*GRID.values()):
            sharpe = p / 10 + s if d == 0 else 4.0 - p / 10 - (s > 2)
            rows.append(
                {
                    "combo_id": cid,
                    "symbol": sym,
                    "timeframe": tf,
                    "bb_period": p,
                    "bb_std": s,
                    "sharpe": sharpe,
                    "max_drawdown": 0.01 * (cid + 1),
                    "total_return": 0.1,
                }
            )
            cid += 1
    frame = pd.DataFrame(rows)
    return frame.iloc[: len(frame) - drop_last] if drop_last else frame


# ------------------------------------------------------------------------------------ ranking


def _ranking(frame, swept, by, k, mode, datasets) -> vm.RankingModel:
    """The driver's ranking of a results frame, as the Results view shows it."""
    return vm.ranking_model(shapes.ranking(frame, by, k, mode, datasets), swept)


def test_rank_mode_labels_round_trip():
    assert [m for _, m in vm.RANK_MODES] == ["none", "median", "worst"]
    for label, mode in vm.RANK_MODES:
        assert vm.rank_mode_of(label) == mode and vm.rank_mode_label(mode) == label
    assert vm.rank_mode_label("bogus") == "per dataset" and vm.rank_mode_of("?") == "none"


def test_ranking_view_per_dataset_and_across_datasets():
    frame = _frame()
    by = ["sharpe", "-max_drawdown"]
    per = _ranking(frame, list(GRID), by, 4, "none", DATASETS)
    assert per.mode == "none" and len(per.table.rows) == 4
    assert per.table.columns[:6] == (
        "rank",
        "combo_id",
        "symbol",
        "timeframe",
        "bb_period",
        "bb_std",
    )
    assert "each dataset's rows on their own" in per.note
    worst = _ranking(frame, list(GRID), by, 4, "worst", DATASETS)
    want = rank_aggregate(frame, by, "worst", datasets=DATASETS).head(4)
    assert worst.table.keys == tuple(want["combo_id"])
    assert worst.table.columns == (
        "rank",
        "combo_id",
        "bb_period",
        "bb_std",
        "n_datasets",
        "sharpe",
        "max_drawdown",
        "sharpe@BTCUSDT/15m",
        "sharpe@BTCUSDT/1h",
    )
    assert worst.table.column("sharpe") == tuple(want["sharpe"])
    assert worst.note == (
        "top 4 of 6 combinations by the worst case of sharpe, -max_drawdown across 2 dataset(s)"
    )
    median = _ranking(frame, list(GRID), by, 10, "median", DATASETS)
    assert len(median.table.rows) == 6 and median.table.keys != worst.table.keys[:6]
    assert set(median.table.column("n_datasets")) == {2}


def test_ranking_view_partial_run_and_empty():
    part = _ranking(_frame(drop_last=2), list(GRID), ["sharpe"], 10, "worst", DATASETS)
    assert len(part.table.rows) == 4 and "2 not on every dataset yet, left out" in part.note
    empty = _ranking(None, list(GRID), ["sharpe"], 10, "median", DATASETS)
    assert empty.table.empty and empty.note == vm.NO_DATA


def test_sweep_form_carries_the_aggregate():
    spec = spec_from_dict(
        {
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m", "1h"]},
            "grid": {"bb_period": [10, 20]},
            "rank": {"by": ["sharpe"], "aggregate": "worst"},
        }
    )
    form = forms.spec_to_form(spec)
    assert form.aggregate == "worst"
    assert forms.form_to_spec(form).normalized() == spec.normalized()
    assert forms.form_to_spec(forms.SweepForm()).rank.aggregate == "none"


# ------------------------------------------------------------------------------------ overfitting

REPORT = {
    "version": 1,
    "n_trials": 2000,
    "blocks": 16,
    "verdict": "best Sharpe 2.1 is not distinguishable from the best of 2,000 random "
    "strategies: DSR 0.31",
    "groups": [
        {
            "symbol": "BTCUSDT",
            "timeframe": "15m",
            "n_trials": 1000,
            "n_returns": 2016,
            "sr_mean": 0.12,
            "sr_var": 0.25,
            "expected_max_sr": 1.9,
            "pbo": 0.62,
            "pbo_splits": 12870,
            "oos_rank_hist": [900, 1500, 1700, 1600, 1500, 1400, 1300, 1200, 1000, 770],
            "logit_mean": -0.4,
            "logit_median": -0.35,
            "verdict": "overfit: PBO 0.62",
            "top": [
                {
                    "combo_id": 7,
                    "rank": 1,
                    "bb_period": 20,
                    "bb_std": 2.5,
                    "sharpe": 2.1,
                    "sharpe_per_bar": 0.01,
                    "skewness": -0.3,
                    "kurtosis": 5.2,
                    "psr": 0.97,
                    "dsr": 0.31,
                },
                {
                    "combo_id": 3,
                    "rank": 2,
                    "bb_period": 10,
                    "bb_std": 2.5,
                    "sharpe": 1.8,
                    "sharpe_per_bar": 0.009,
                    "skewness": 0.1,
                    "kurtosis": 3.9,
                    "psr": 0.93,
                    "dsr": None,
                },
            ],
        },
        {
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "n_trials": 1000,
            "n_returns": 504,
            "sr_mean": 0.05,
            "sr_var": 0.3,
            "expected_max_sr": 2.2,
            "pbo": None,
            "pbo_splits": 0,
            "oos_rank_hist": [0] * 10,
            "logit_mean": None,
            "logit_median": None,
            "verdict": "too few returns for CSCV",
            "top": [
                {
                    "combo_id": 1007,
                    "rank": 1,
                    "bb_period": 20,
                    "bb_std": 2.5,
                    "sharpe": 1.2,
                    "sharpe_per_bar": 0.02,
                    "skewness": 0.0,
                    "kurtosis": 3.0,
                    "psr": 0.8,
                    "dsr": 0.2,
                }
            ],
        },
    ],
}


def test_overfit_view_from_a_report():
    v = overfit_model(copy.deepcopy(REPORT), "run-1")
    assert v.available and v.run_id == "run-1"
    assert v.verdict == REPORT["verdict"]
    assert v.header == "2,000 trials, 16 time blocks, 2 group(s)"
    assert v.keys == ("BTCUSDT 15m", "BTCUSDT 1h")
    assert v.groups.column("pbo") == (0.62, None)
    assert v.groups.column("best dsr") == (0.31, 0.2)  # the None DSR is not counted
    assert v.groups.text[1][v.groups.columns.index("pbo")] == ""  # missing stays blank
    g = v.group(None)
    assert g.key == "BTCUSDT 15m" and g.verdict == "overfit: PBO 0.62"
    assert g.hist == tuple(REPORT["groups"][0]["oos_rank_hist"]) and g.hist_total == 12870
    assert g.hist_labels == HIST_LABELS and HIST_LABELS[0] == "0.0-0.1"
    assert g.top.columns == ("rank", "combo_id", "bb_period", "bb_std", *TOP_STATS)
    assert g.top.keys == (7, 3)
    assert g.top.rows[0] == (1, 7, 20, 2.5, 2.1, 0.97, 0.31, -0.3, 5.2)
    assert g.top.rows[1][g.top.columns.index("dsr")] is None
    assert "PBO 0.62 over 12870 splits" in g.summary and "expected max 1.9" in g.summary
    h = v.group("BTCUSDT 1h")
    assert "PBO n/a" in h.summary and "logit mean n/a" in h.summary
    assert v.group("nope").key == "BTCUSDT 15m"  # unknown key: the first group


def test_overfit_view_without_report_says_so():
    for missing in (None, "garbage", 3):
        v = overfit_model(missing, "run-2")
        assert not v.available and v.verdict == NO_REPORT and v.groups.empty
        assert v.group(None) is None and v.keys == ()
    bare = overfit_model({"version": 1, "groups": []})
    assert bare.available and bare.verdict == NO_REPORT and bare.header.startswith("n/a trials")
    # no top-level verdict: the first group's
    one = copy.deepcopy(REPORT)
    del one["verdict"]
    assert overfit_model(one).verdict == "overfit: PBO 0.62"


def test_overfit_view_folds_classes_and_annual_max():
    rep = copy.deepcopy(REPORT)
    for i, g in enumerate(rep["groups"]):
        g.update(
            {
                "timeframe": "15m",
                "fold": i,
                "expected_max_sr_annual": 30.0 + i,
                "verdict_class": ("survives", "not_enough")[i],
            }
        )
    rep["groups"][1]["pbo_note"] = "one distinct strategy"
    v = overfit_model(rep)
    assert v.keys == ("BTCUSDT 15m fold 0", "BTCUSDT 15m fold 1")
    cols = v.groups.columns
    assert cols[:3] == ("symbol", "timeframe", "fold") and v.groups.column("fold") == (0, 1)
    assert cols[cols.index("expected_max_sr") + 1] == "expected_max_sr_annual"
    assert v.groups.column("expected_max_sr_annual") == (30.0, 31.0)
    assert v.verdict_class == "not_enough"  # the worst group's class
    assert "PBO n/a (one distinct strategy)" in v.group("BTCUSDT 15m fold 1").summary
    assert overfit_model(REPORT).verdict_class is None
    # the trials DSR deflates by, where they are not the group's rows (the sweep's; halving)
    assert "1000 trials, 2016 returns" in v.group("BTCUSDT 15m fold 0").summary
    rep["groups"][0]["dsr_trials"], rep["groups"][1]["dsr_trials"] = 1000, 4000
    v = overfit_model(rep)
    assert "1000 trials, 2016 returns" in v.group("BTCUSDT 15m fold 0").summary
    assert "1000 trials (DSR counts 4,000), 504 returns" in v.group("BTCUSDT 15m fold 1").summary
    # typographic dashes are drawn as ASCII (the default font has no glyph for them)
    rep["verdict"] = rep["groups"][0]["verdict"] = "DSR 0.31, PBO 0.62 \u2014 likely overfit"
    v = overfit_model(rep)
    assert v.verdict == "DSR 0.31, PBO 0.62 - likely overfit" == v.group(None).verdict
    assert v.groups.column("verdict")[0] == v.verdict
    assert "fold" not in overfit_model(REPORT).groups.columns


# ------------------------------------------------------------------------------------ backend


@pytest.fixture
def backend():
    from gui.backend import Backend
    from gui.run_controller import FollowedRun
    from tests.gui.gui_fakes import FakeClient

    b = Backend(cfg=None)
    spec = spec_from_dict(
        {
            "name": "r",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m", "1h"]},
            "grid": {k: list(v) for k, v in GRID.items()},
            "rank": {"by": ["sharpe"], "top_k": 3},
        }
    )
    b.client = FakeClient(_frame(), spec)
    b.run.run = FollowedRun("run-1", spec=spec, final_loaded=True, shown=True)
    return b


def _answers(backend):
    """Run the queued commands and the requests they made (all answered at once)."""
    backend.handle_commands()
    backend.collect(0)
    return backend.drain()


def test_backend_rank_mode_posts_the_table_in_that_mode(backend):
    backend.send("rank_mode", mode="worst")
    (snap,) = _answers(backend)
    assert backend.client.asked == [("ranking", "run-1", "worst")]
    assert isinstance(snap, snapshots.RankingSnap) and snap.run_id == "run-1"
    assert snap.ranking.mode == "worst" and "n_datasets" in snap.ranking.table.columns
    backend.send("rank_mode", mode="none")
    assert _answers(backend)[0].ranking.table.columns[2:4] == ("symbol", "timeframe")
    backend.run.follow("run-2")  # another run: its spec's ranking again, no report yet
    assert backend.run.mode is None
    (snap,) = backend.drain()
    assert isinstance(snap, snapshots.OverfitSnap) and snap.model.verdict == NO_REPORT
    backend.send("rank_mode", mode="median")  # no results of run-2 shown yet: nothing asked
    assert _answers(backend) == [] and len(backend.client.asked) == 2


def test_backend_results_are_the_shapes_the_driver_serves(backend):
    """A results poll asks the driver for the ranked table, the heatmap and the Pareto scatter
    (never the whole frame) and posts them as one ResultsSnap."""
    run = backend.run.run
    run.results_done, run.done, run.state, run.final_loaded = -2, 12, "completed", False
    backend.run.heat = ("sharpe", "bb_period", "bb_std")
    backend.run.poll_results()
    backend.collect(0)
    (snap,) = backend.drain()
    assert [a[0] for a in backend.client.asked] == ["ranking", "heatmap", "pareto"]
    frame = _frame()
    assert isinstance(snap, snapshots.ResultsSnap) and snap.n_results == len(frame) == 12
    assert snap.state == "completed" and run.final_loaded and run.results_done == 12
    assert snap.table.keys == tuple(rank(frame, ["sharpe"]).head(3)["combo_id"])
    assert snap.rank_mode == "none" and snap.dims == ("timeframe", "bb_period", "bb_std")
    hm = snap.heatmap
    assert (hm.kind, hm.x_param, hm.y_param) == ("heatmap", "bb_period", "bb_std")
    assert hm.fixed == (("timeframe", "15m"),) and "timeframe=15m" in hm.note
    assert snap.pareto.note.startswith("12 combinations;")
    assert backend._due["report"] == 0.0 and backend._due["walk_forward"] == 0.0
    backend.run.poll_results()  # nothing new since: not asked again
    assert len(backend.client.asked) == 3
    backend.send("heatmap", metric="max_drawdown", x="bb_std", y=None)
    (snap,) = _answers(backend)
    assert isinstance(snap, snapshots.HeatmapSnap) and snap.heatmap.kind == "line"
    assert backend.client.asked[-1] == ("heatmap", "run-1", "max_drawdown", "bb_std", None)


def test_backend_commands_are_a_table():
    from gui.backend import Backend

    b = Backend(cfg=None)
    assert set(b.commands) >= {"submit", "pause", "rank_mode", "heatmap", "drilldown", "ingest"}
    with pytest.raises(ValueError, match="unknown backend command 'bogus'"):
        b.send("bogus")
    assert list(b.timers) == [
        "status",
        "results",
        "cluster",
        "runs",
        "log",
        "ingest",
        "report",
        "walk_forward",
    ]


def test_backend_report_is_retried_then_shown(backend):
    from gui.run_controller import REPORT_TRIES

    run = backend.run.run
    run.report_tries = 1
    backend.run.on_report(run, None)  # first answer: none yet, say so, ask again later
    (snap,) = backend.drain()
    assert snap.model.verdict == NO_REPORT and not run.report_done
    run.report_tries = 2
    backend.run.on_report(run, None)
    assert backend.drain() == [] and not run.report_done
    run.report_tries = 3
    backend.run.on_report(run, copy.deepcopy(REPORT))
    (snap,) = backend.drain()
    assert snap.model.verdict == REPORT["verdict"] and run.report_done
    run.report_done, run.report_tries = False, REPORT_TRIES
    backend.run.on_report(run, None)
    assert run.report_done  # gives up after REPORT_TRIES asks
