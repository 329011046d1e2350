"""Two-node local cluster (ray.cluster_utils.Cluster): one sweep on both nodes; a node removed."""

from __future__ import annotations

import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from tests.ray_helpers import local_results, make_cfg, spec_4000, wait_state  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(400)]
NODE = {"num_cpus": 1, "object_store_memory": 150 * 2**20}


@pytest.fixture
def two_nodes(tmp_path):
    from ray.cluster_utils import Cluster

    from actors.client import ThreadXClient

    cluster = Cluster(initialize_head=True, head_node_args=dict(NODE))
    worker = cluster.add_node(**NODE)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="threadx", logging_level="ERROR")
    client = ThreadXClient(make_cfg(tmp_path / "data"), address="").connect()
    yield cluster, worker, client
    ray.shutdown()
    cluster.shutdown()


def test_sweep_uses_both_nodes_and_matches(two_nodes):
    _, _, client = two_nodes
    spec = spec_4000("1h", chunk=100, name="multi")
    rid = client.submit(spec)
    assert client.wait(rid, timeout=300)["state"] == "completed"
    nodes = {w["node"] for w in client.workers()}
    assert len(nodes) == 2, client.workers()
    frame = client.results(rid)
    pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local_results(client.cfg, spec))


def test_node_removed_mid_sweep(two_nodes):
    cluster, worker, client = two_nodes
    spec = spec_4000("15m", chunk=100, name="chaos-node")
    rid = client.submit(spec, 8)
    wait_state(client, rid, ("paused",), timeout=300)
    assert len({w["node"] for w in client.workers()}) == 2
    cluster.remove_node(worker)
    client.resume(rid)
    st = client.wait(rid, timeout=300)
    assert st["state"] == "completed", st
    frame = client.results(rid)
    assert sorted(frame["combo_id"]) == list(range(4000))
    pd.testing.assert_frame_equal(frame.drop(columns=["device"]), local_results(client.cfg, spec))
    client.release_workers()
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        if ray.available_resources().get("CPU") == ray.cluster_resources().get("CPU"):
            break
        time.sleep(0.5)
    assert ray.available_resources().get("CPU") == ray.cluster_resources().get("CPU") == 1
