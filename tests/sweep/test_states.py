"""Typed run states, run status and cluster description (:mod:`threadx.sweep.states`), and the
result shapes the driver's service serves (:mod:`threadx.sweep.shapes`): one shape each, built in
one place (no Ray)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import pandas as pd
import pytest

from threadx.sweep import shapes
from threadx.sweep.controller import Progress
from threadx.sweep.results import pareto_front, rank, rank_aggregate
from threadx.sweep.spec import spec_from_dict
from threadx.sweep.states import (
    TERMINAL,
    UNFINISHED,
    ClusterInfo,
    NodeInfo,
    RunState,
    RunStatus,
    RunSummary,
    cluster_info,
)

# ------------------------------------------------------------------------------------ states


def test_run_states_are_strings_in_two_sets():
    assert [s.value for s in RunState] == [
        "created",
        "queued",
        "running",
        "paused",
        "completed",
        "cancelled",
        "failed",
        "interrupted",
    ]
    assert TERMINAL | UNFINISHED == set(RunState) and not TERMINAL & UNFINISHED
    assert "completed" in TERMINAL and "paused" in UNFINISHED and "running" not in TERMINAL
    s = RunState("cancelled")
    assert s == "cancelled" and f"{s}" == "cancelled" and json.dumps(s) == '"cancelled"'
    assert s.terminal and not s.unfinished and RunState.QUEUED.unfinished
    with pytest.raises(ValueError):
        RunState("unknown")


def test_run_status_has_every_key_of_the_progress_snapshot():
    snap = Progress(total_tasks=4, total_combos=40, done_tasks=1, done_combos=10).snapshot(
        "running"
    )
    st = RunStatus.from_dict({**snap, "run_id": "r", "weights": {"cpu": 1.0}, "top": []})
    assert st.state is RunState.RUNNING and st.done == 10 and st.total_tasks == 4
    assert set(snap) <= {f.name for f in dataclasses.fields(RunStatus)}
    wire = st.to_dict()
    assert type(wire["state"]) is str and json.loads(json.dumps(wire)) == wire
    assert RunStatus.from_dict(wire) == st == pickle.loads(pickle.dumps(st))
    assert RunStatus.from_dict(st) is st
    # it reads as the status dict it replaces (st["state"], st.get(...), "done" in st)
    assert st["state"] == "running" and st.get("errors") == [] and "done" in st
    assert st.get("nope") is None and dict(st)["run_id"] == "r"
    assert st.moved_from() == {"state": "running", "done_tasks": 1} and not st.terminal
    with pytest.raises(ValueError, match="unknown run status field"):
        RunStatus.from_dict({"state": "running", "bogus": 1})


def test_run_summary_round_trip():
    row = {"run_id": "r-1", "name": "r", "status": "paused", "total_combos": 12, "created": "t"}
    s = RunSummary.from_dict(row)
    assert s.status is RunState.PAUSED and s["status"] == "paused" and s.finished is None
    assert s.to_dict() == {**row, "finished": None, "bar_steps_per_s": None}
    assert RunSummary.from_dict(s) is s


def test_cluster_info_from_rays_node_list():
    nodes = [
        {
            "NodeID": "n1",
            "NodeManagerAddress": "10.0.0.1",
            "Alive": True,
            "Resources": {"CPU": 8.0, "GPU": 1.0, "threadx_gpu_5090": 1.0, "threadx_gpu_2060": 1.0},
        },
        {"NodeID": "n2", "Alive": False},
    ]
    info = cluster_info(nodes, {"CPU": 8.0}, {"CPU": 2.0}, [{"worker_id": "w"}], embedded=True)
    a, b = info.nodes
    assert (a.node_id, a.address, a.alive, a.cpus, a.gpus) == ("n1", "10.0.0.1", True, 8.0, 1.0)
    assert a.gpu_devices == ("2060", "5090") and (b.alive, b.resources, b.address) == (
        False,
        {},
        None,
    )
    assert info.workers == ({"worker_id": "w"},) and info.embedded
    assert ClusterInfo.from_dict(json.loads(json.dumps(info.to_dict()))) == info
    assert ClusterInfo.from_dict(info) is info and NodeInfo.from_dict(a) is a
    # the shape `cluster status` prints names the node id "id"
    assert NodeInfo.from_dict({"id": "n1", "alive": True}).node_id == "n1"


# ------------------------------------------------------------------------------------ service


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """A completed two-dataset run in a service (inline executor, no Ray)."""
    from tests.inline_executor import inline_service
    from threadx.data.store import OHLCVStore

    spec = spec_from_dict(
        {
            "name": "shapes",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m", "1h"]},
            "grid": {"bb_period": [10, 20, 30], "bb_std": [1.5, 2.5], "atr_multiplier": [1.0, 2.0]},
            "rank": {"by": ["sharpe", "-max_drawdown"], "top_k": 5},
            "chunk_size": 4,
        }
    )
    svc = inline_service(OHLCVStore(tmp_path_factory.mktemp("data")))
    rid = svc.submit(spec)
    svc.step(0.01)
    live = svc.status(rid)
    svc.run_until_idle(0.01)
    return svc, rid, spec, live


def test_service_status_is_typed_live_and_from_disk(service):
    from threadx.sweep.service import SweepService

    svc, rid, spec, live = service
    assert isinstance(live, RunStatus) and live.state is RunState.RUNNING and live.run_id == rid
    assert live.weights == {"cpu": 1.0} and live.done_tasks >= 1
    done = svc.status(rid)
    assert done.state is RunState.COMPLETED and done.done == done.total == 24 and done.terminal
    assert [r["combo_id"] for r in done.top] == list(svc.top(rid)["combo_id"])
    # a new service (a restarted driver) reads the same run from its folder
    fresh = SweepService(svc.runs_dir.parent, lambda s: ([], []), lambda p, h: None)
    disk = fresh.status(rid)
    assert disk.state is RunState.COMPLETED and (disk.done, disk.total) == (24, 24)
    assert disk.per_device == done.per_device and disk.eta_s is None
    assert [r["combo_id"] for r in disk.top] == [r["combo_id"] for r in done.top]
    (row,) = [r for r in fresh.list_runs() if r.run_id == rid]
    assert isinstance(row, RunSummary) and row.status is RunState.COMPLETED and row.name == "shapes"


def test_service_serves_the_shapes_of_its_results(service):
    svc, rid, spec, _ = service
    frame = svc.results(rid)
    by = list(spec.rank.by)
    r = svc.ranking(rid)
    assert (r.mode, r.by, r.n_results, r.n_ranked, r.n_datasets) == ("none", tuple(by), 24, 24, 2)
    pd.testing.assert_frame_equal(r.rows, rank(frame, by).head(5))
    worst = svc.ranking(rid, "worst", 3)
    want = rank_aggregate(frame, by, "worst", datasets=spec.datasets())
    assert worst.n_ranked == len(want) == 12 and worst.partial_excluded == 0
    assert list(worst.rows["combo_id"]) == list(want.head(3)["combo_id"])
    hm = svc.heatmap(rid, "sharpe", "bb_period", "bb_std")
    assert hm == shapes.heatmap(frame, spec.grid_values(), "sharpe", "bb_period", "bb_std", by)
    assert hm.kind == "heatmap" and hm.dims == (
        "timeframe",
        "bb_period",
        "bb_std",
        "atr_multiplier",
    )
    assert [d for d, _ in hm.fixed] == ["timeframe", "atr_multiplier"]
    p = svc.pareto(rid)
    front = pareto_front(frame).sort_values("max_drawdown", kind="mergesort")
    assert p.n_results == 24 and p.front_ids == tuple(front["combo_id"]) and p.step == 1
    # the shapes asked together read the parts once: the same frame until a part is added
    assert svc.frame(rid) is svc.frame(rid)
    with pytest.raises(ValueError, match="rank mode"):
        svc.ranking(rid, "best")


def test_shapes_of_no_results_say_so():
    r = shapes.ranking(None, ["sharpe"], 5, "median", [("A", "1h")])
    assert r.empty and r.n_datasets == 1 and r.rows.empty
    hm = shapes.heatmap(pd.DataFrame(), {"bb_period": [1, 2]}, "max_drawdown", "bb_period")
    assert (hm.kind, hm.reason, hm.lower, hm.dims) == (
        "empty",
        shapes.NO_DATA,
        True,
        ("bb_period",),
    )
    p = shapes.pareto(pd.DataFrame())
    assert p.n_results == 0 and p.cloud == ((), ())
