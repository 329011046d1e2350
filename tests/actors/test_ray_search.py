"""A ``[search]`` through the Ray driver (two CPU workers, real local Ray): the sampler beside
the driver's controller, each batch's coded points sent to a worker; the same trials, parameters
and metrics as ``run_local`` for the same seed."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests.sweep.search_helpers import search_dict

ray = pytest.importorskip("ray")

from tests.ray_helpers import local_results, make_cfg, wait_state  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.timeout(400)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from actors.client import ThreadXClient

    cfg = make_cfg(tmp_path_factory.mktemp("data"), cpu_workers=2, cpus_per_worker=1)
    ray.init(num_cpus=2, include_dashboard=False, namespace="threadx", logging_level="ERROR")
    yield ThreadXClient(cfg).connect()
    ray.shutdown()


def search_spec(method: str) -> dict:  # 1,134 combinations
    search = {"method": method, "trials": 120, "batch": 30, "seed": 7}
    return search_dict(f"ray-{method}", search)


@pytest.mark.parametrize("method", ["random", "sobol", "tpe", "nsga2"])
def test_search_through_the_driver_equals_local(client, method):
    spec = search_spec(method)
    before = {w["worker_id"]: w.get("tasks_done", 0) for w in client.workers()}
    statuses = []
    rid = client.submit(spec)
    st = client.wait(rid, timeout=300, on_status=statuses.append)
    assert st.state == "completed", st
    # progress as for local runs: trials done / budget and the best so far
    assert st.search == method and st.evaluated == 120 and st.budget == 120
    assert st.best["metric"] == "sharpe"
    assert all(s.search == method for s in statuses if s.done_tasks)
    frame = client.results(rid).drop(columns=["device"])
    assert st.best["value"] == pytest.approx(frame["sharpe"].max())
    via = frame.sort_values("combo_id").reset_index(drop=True)
    local = local_results(client.cfg, spec).sort_values("combo_id").reset_index(drop=True)
    assert len(via) == 120 and via["combo_id"].is_unique
    pd.testing.assert_frame_equal(via, local)
    workers = client.workers()
    assert len(workers) == 2 and {w["device"] for w in workers} == {"cpu"}
    did = {w["worker_id"]: w["tasks_done"] - before.get(w["worker_id"], 0) for w in workers}
    assert sum(did.values()) == 4, did  # four batches, each evaluated once
    if method == "random":  # independent batches: both workers evaluate some
        assert min(did.values()) > 0, did
    assert client.spec(rid).search.method == method  # the stored spec is the search's


def test_tpe_keeps_one_batch_in_flight_and_resumes_its_study(client):
    """``tpe`` through the driver: paused after exactly one batch (one in flight, so none ran
    ahead), its study in the run folder's journal; resumed, it still equals the local run."""
    spec = {**search_spec("tpe"), "name": "ray-tpe-resume"}
    rid = client.submit(spec, 1)
    st = wait_state(client, rid, ("paused",), timeout=300)
    assert st.state == "paused" and st.done_tasks == 1 and st.evaluated == 30, st
    assert (client.cfg.data_root / "runs" / rid / "study.journal").exists()
    client.resume(rid)
    st = client.wait(rid, timeout=300)
    assert st.state == "completed" and st.evaluated == 120, st
    via = client.results(rid).drop(columns=["device"]).sort_values("combo_id")
    local = local_results(client.cfg, spec).sort_values("combo_id")
    pd.testing.assert_frame_equal(via.reset_index(drop=True), local.reset_index(drop=True))
    stats = client.search(rid)["search_stats"]  # the workers' seconds came with their parts
    assert stats["kernel_s"] > 0 and stats["prepare_s"] > 0 and stats["ask_s"] > 0, stats
    parts = (client.cfg.data_root / "runs" / rid / "results").glob("part-*.parquet")
    assert not [p for p in parts if b"threadx:timings" in (pq.read_schema(p).metadata or {})]


def test_halving_through_the_driver_equals_local(client):
    """``[search] halving`` through the driver: each worker runs a batch's stages (one
    evaluation); the rows of every (trial, stage) equal ``--local``'s, the results, progress and
    best are the full-length ones."""
    import shutil
    import tempfile
    from pathlib import Path

    from threadx.sweep import run_local, spec_from_dict
    from threadx.sweep.results import RunStore

    spec = search_spec("random")
    spec["name"] = "ray-halving"
    spec["search"]["halving"] = {"start": 0.25, "keep": 0.5}
    rid = client.submit(spec)
    st = client.wait(rid, timeout=300)
    assert st.state == "completed", st
    assert st.search == "random" and st.evaluated == 120 and st.budget == 120
    other = Path(tempfile.mkdtemp(prefix="threadx-local-"))
    shutil.copytree(client.cfg.data_root / "ohlcv", other / "ohlcv")
    local = run_local(spec_from_dict(spec), data_root=other, backend="cpu", memory_budget_gb=4)
    every = RunStore(client.cfg.data_root / "runs" / rid).load(every_stage=True)
    want = RunStore(local.run_dir).load(every_stage=True)
    assert len(every) == 4 * (30 + 15 + 8) and not every.duplicated(["combo_id", "stage"]).any()
    pd.testing.assert_frame_equal(every.drop(columns="device"), want.drop(columns="device"))
    full = client.results(rid).drop(columns="device")
    assert len(full) == 4 * 8 and (full["stage"] == 2).all()
    pd.testing.assert_frame_equal(full, local.to_frame().drop(columns="device"))
    assert st.best["value"] == pytest.approx(full["sharpe"].max())
    assert {r["combo_id"] for r in st.top} <= set(full["combo_id"])
