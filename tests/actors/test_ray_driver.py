"""The actor system on one real local Ray cluster with two fake GPUs (5090 and 2060)."""

from __future__ import annotations

import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from tests.ray_helpers import (  # noqa: E402
    FAKE_GPUS,
    connect_fake_gpus,
    local_results,
    make_cfg,
    spec_4000,
    wait_state,
)
from threadx.core.errors import ThreadXError  # noqa: E402
from threadx.sweep.states import ClusterInfo, RunState, RunStatus  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    c = connect_fake_gpus(make_cfg(tmp_path_factory.mktemp("data")))
    yield c
    ray.shutdown()


def test_weighted_ratio_on_fake_gpus(client):
    spec = spec_4000()
    rid = client.submit(spec)
    st = client.wait(rid, timeout=240)
    assert st.state == "completed", st
    frame = client.results(rid)
    assert sorted(frame["combo_id"]) == list(range(4000))
    n5090 = int((frame["device"] == "5090").sum())
    assert abs(n5090 - 3000) <= 100, n5090  # 3,000 +- one chunk
    assert int((frame["device"] == "2060").sum()) == 4000 - n5090
    assert st.per_device == {"5090": n5090, "2060": 4000 - n5090}
    pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local_results(client.cfg, spec))
    runs = client.list_runs()
    assert any(r.run_id == rid and r.status is RunState.COMPLETED for r in runs)
    import json

    man = json.loads((client.cfg.data_root / "runs" / rid / "manifest.json").read_text())
    assert sorted(w["device"] for w in man["workers"]) == ["2060", "5090"]
    assert man["weights"] == {"2060": 0.25, "5090": 0.75}
    assert man["device_shares"]["5090"] == pytest.approx(n5090 / 4000)
    assert man["wall_s"] > 0 and man["bar_steps_per_s"] > 0
    assert man["peak_rss_bytes"] > 0 and man["worker_peak_rss_bytes"] > 0
    top = client.top(rid, 5)
    assert list(top["rank"]) == [1, 2, 3, 4, 5]
    assert st.top[0]["combo_id"] == top.iloc[0]["combo_id"]


def test_resubmitting_a_finished_run_does_no_work(client):
    rid = client.submit(spec_4000())
    st = client.wait(rid, timeout=60)
    assert st.state == "completed" and st.done == 4000


def test_pause_resume_cancel(client):
    # 1,000 tasks: resume and cancel land while most of them are still to run (with 80 tasks,
    # a fast kernel could finish the run between the two calls)
    spec = spec_4000("15m", chunk=20, name="ctl", multipliers=10)
    rid = client.submit(spec, 4)
    st = wait_state(client, rid, ("paused",))
    assert 4 <= st.done_tasks < st.total_tasks
    assert client.resume(rid)
    assert client.cancel(rid)
    st = client.status(rid)
    assert st.state == "cancelled"
    # a cancelled run can be resumed later and completes exactly
    client.resume(rid)
    st = client.wait(rid, timeout=240)
    assert st.state == "completed"
    frame = client.results(rid)
    assert sorted(frame["combo_id"]) == list(range(20_000))


def test_killed_worker_mid_sweep(client):
    spec = spec_4000("15m", chunk=100, name="chaos-worker")
    rid = client.submit(spec, 6)
    wait_state(client, rid, ("paused",))
    victims = [w for w in client.workers() if w["device"] == "5090"]
    ray.kill(ray.get_actor(victims[0]["worker_id"], namespace="threadx"), no_restart=True)
    client.resume(rid)
    st = client.wait(rid, timeout=240)
    assert st.state == "completed", st
    assert st.retries >= 1
    frame = client.results(rid)
    assert sorted(frame["combo_id"]) == list(range(4000))  # each exactly once
    pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local_results(client.cfg, spec))


def test_driver_killed_then_resumed(client):
    from actors.driver import NAME

    spec = spec_4000("15m", chunk=100, name="chaos-driver")
    rid = client.submit(spec, 5)
    wait_state(client, rid, ("paused",))
    ray.kill(ray.get_actor(NAME, namespace="threadx"), no_restart=True)
    client._driver = None  # a new driver is created from the config and rebuilds from disk
    assert rid in client.recovered()
    assert client.status(rid).state == "interrupted"
    client.resume(rid)
    st = client.wait(rid, timeout=240)
    assert st.state == "completed"
    frame = client.results(rid)
    assert sorted(frame["combo_id"]) == list(range(4000))
    pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local_results(client.cfg, spec))


def test_resources_return_to_total(client):
    client.release_workers()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        avail, total = ray.available_resources(), ray.cluster_resources()
        if all(avail.get(k, 0) == v for k, v in total.items() if k in ("CPU", "GPU", *FAKE_GPUS)):
            break
        time.sleep(0.5)
    assert avail.get("CPU") == total["CPU"] and avail.get("GPU") == total["GPU"]


def test_bad_inputs_are_clear(client):
    with pytest.raises(ThreadXError, match="bb_period"):
        client.submit({"name": "bad", "data": {"symbols": ["BTCUSDT"]}, "grid": {"bb_period": [1]}})
    with pytest.raises(ThreadXError, match="not in the store"):
        client.submit({"name": "bad", "data": {"symbols": ["DOGEUSDT"]}})


def test_drilldown_matches_results(client):
    rid = client.submit(spec_4000())
    client.wait(rid, timeout=120)
    best = client.top(rid, 1).iloc[0]
    dd = client.drilldown(rid, int(best["combo_id"]))
    assert dd["mismatches"] == []
    assert len(dd["trades"]) == best["n_trades"]
    assert {"middle", "upper", "lower"} <= set(dd["bars"].columns)


def test_typed_client_answers(client):
    """Every answer is typed; the non-blocking twins give refs that ``ready`` / ``resolve``
    turn into the same values; the driver shapes the results (top K, heatmap, Pareto)."""
    from pathlib import Path

    from threadx.sweep.shapes import Heatmap, Pareto, Ranking
    from threadx.sweep.spec import SweepSpec

    rid = client.submit(spec_4000())
    st = client.wait(rid, timeout=120)
    assert isinstance(st, RunStatus) and st.state is RunState.COMPLETED and st.terminal
    refs = [client.status_async(rid), client.ranking_async(rid, "none", 3)]
    t0 = time.monotonic()
    while len(client.ready(refs, 1.0)) < 2 and time.monotonic() - t0 < 30:
        pass
    again, ranking = client.resolve(refs)
    assert again.state is RunState.COMPLETED and again.done == st.done == 4000
    assert isinstance(ranking, Ranking) and list(ranking.rows["rank"]) == [1, 2, 3]
    assert list(ranking.rows["combo_id"]) == list(client.top(rid, 3)["combo_id"])
    hm = client.heatmap(rid, "sharpe", "bb_period", "bb_std")
    assert isinstance(hm, Heatmap) and hm.kind == "heatmap" and len(hm.values) == 50
    p = client.pareto(rid)
    assert isinstance(p, Pareto) and p.n_results == 4000 and p.front_ids
    assert isinstance(client.spec(rid), SweepSpec) and client.spec(rid).count() == 4000
    assert (
        client.data_root() == Path(client.resolve(client.data_root_async())) == client.cfg.data_root
    )
    info = client.cluster_info()
    assert isinstance(info, ClusterInfo) and not info.embedded and info.total["GPU"] == 2
    assert info.nodes[0].alive and info.nodes[0].gpu_devices == ("2060", "5090")
    assert {w["device"] for w in info.workers} <= {"2060", "5090"}
    assert rid in [r.run_id for r in client.list_runs()]
    with pytest.raises(ValueError, match="pause, resume or cancel"):
        client.control_async("delete", rid)


def test_unreachable_address_fails_fast(tmp_path):
    from actors.client import ClusterUnreachable, _check_reachable

    t0 = time.monotonic()
    with pytest.raises(ClusterUnreachable, match="unreachable"):
        _check_reachable("127.0.0.1:1")
    assert time.monotonic() - t0 < 10


def test_indicator_cache_hit_rate_on_repeated_sweep(client):
    before = client.cache_stats()
    spec = spec_4000(name="cache-again")  # same data and indicators as the first test
    spec["fixed"] = {"fee_bps": 7.0}  # a different run, same indicator parameters
    st = client.wait(client.submit(spec), timeout=240)
    assert st.state == "completed"
    after = client.cache_stats()
    hits, misses = after["hits"] - before["hits"], after["misses"] - before["misses"]
    assert hits + misses > 0
    assert hits / (hits + misses) > 0.9, (hits, misses)
