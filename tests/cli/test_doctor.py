"""`threadx doctor`: the JSON report against its schema, the checks, --strict exit codes."""

from __future__ import annotations

import argparse
import copy
import json
import random
import socket

import jsonschema
import pytest

from threadx.cli import doctor
from threadx.cli.args import Context
from threadx.cli.doctor import register
from threadx.core.config import config_from_dict

NO_CLUSTER = {"status": "none", "address": None, "dashboard": {"url": None, "listen": []}}


def _cfg(tmp_path, dashboard_host="127.0.0.1"):
    data = {
        "paths": {"data_root": str(tmp_path / "data"), "allow_absolute_paths": True},
        "cluster": {"dashboard_host": dashboard_host},
    }
    return config_from_dict(data, "<test>", tmp_path)


def _cli(argv: list[str], cfg) -> int:
    parser = argparse.ArgumentParser(prog="threadx")
    register(parser.add_subparsers(dest="verb", required=True))
    args = parser.parse_args(argv)
    return args.func(Context(cfg), args)


@pytest.fixture(scope="module")
def base_report(tmp_path_factory):
    """One real report of this machine (short benchmark), no cluster."""
    cfg = _cfg(tmp_path_factory.mktemp("doctor"))
    return doctor.collect(cfg, bench_seconds=0.3, cluster_probe=lambda address: dict(NO_CLUSTER))


def _with(report: dict, cluster: dict | None = None, **config) -> dict:
    out = copy.deepcopy(report)
    if cluster is not None:
        out["cluster"] = cluster
    out["config"].update(config)
    out["checks"] = doctor.evaluate(out)
    out["problems"] = sum(c["status"] == "fail" for c in out["checks"])
    return out


def _status(report: dict, name: str) -> str:
    return next(c["status"] for c in report["checks"] if c["name"] == name)


def test_report_matches_schema_and_measures_the_cpu(base_report):
    jsonschema.validate(base_report, doctor.SCHEMA)
    assert base_report["cpu"]["logical"] >= 1 and base_report["memory"]["total_bytes"] > 0
    assert base_report["packages"]["numpy"] and base_report["packages"]["ray"]
    cpu = base_report["benchmark"]["cpu"]
    assert cpu["backend"] == "cpu" and cpu["bar_steps_per_s"] > 0
    assert (cpu["bars"], cpu["combos"], cpu["seconds"]) == (20_000, 256, 0.3)
    # GPU facts are consistent with what NVML and numba-cuda say about this machine
    usable = base_report["cuda"]["numba_cuda"]["usable"]
    assert (base_report["benchmark"]["gpu"] is not None) == usable
    if not usable:
        assert base_report["cuda"]["numba_cuda"]["reason"]
    assert base_report["problems"] == 0, base_report["checks"]


def test_schema_rejects_a_broken_report(base_report):
    broken = copy.deepcopy(base_report)
    broken["checks"][0]["status"] = "bad"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, doctor.SCHEMA)
    del broken["cluster"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, doctor.SCHEMA)


CLUSTERS = {
    "secure two nodes": (
        {
            "status": "ok",
            "address": "10.0.0.1:6379",
            "nodes": 2,
            "alive_nodes": 2,
            "auth_required": True,
            "dashboard": {"url": "127.0.0.1:8265", "listen": ["127.0.0.1"]},
        },
        "ok",
        "ok",
    ),
    "two nodes without auth": (
        {
            "status": "ok",
            "address": "10.0.0.1:6379",
            "nodes": 2,
            "alive_nodes": 2,
            "auth_required": False,
            "dashboard": {"url": "127.0.0.1:8265", "listen": ["127.0.0.1"]},
        },
        "fail",
        "ok",
    ),
    "one node without auth": (
        {
            "status": "ok",
            "address": "127.0.0.1:6379",
            "nodes": 1,
            "alive_nodes": 1,
            "auth_required": False,
            "dashboard": {"url": "127.0.0.1:8265", "listen": ["127.0.0.1"]},
        },
        "warn",
        "ok",
    ),
    "dashboard on 0.0.0.0": (
        {
            "status": "ok",
            "address": "127.0.0.1:6379",
            "nodes": 1,
            "alive_nodes": 1,
            "auth_required": True,
            "dashboard": {"url": "10.0.0.1:8265", "listen": ["0.0.0.0"]},
        },
        "ok",
        "fail",
    ),
    "dashboard on a LAN address": (
        {
            "status": "ok",
            "address": "10.0.0.1:6379",
            "nodes": 1,
            "alive_nodes": 1,
            "auth_required": True,
            "dashboard": {"url": "10.0.0.1:8265", "listen": []},
        },
        "ok",
        "warn",
    ),
}


@pytest.mark.parametrize("case", sorted(CLUSTERS))
def test_cluster_checks(base_report, case):
    cluster, auth, dash = CLUSTERS[case]
    report = _with(base_report, {**cluster})
    jsonschema.validate(report, doctor.SCHEMA)
    assert (_status(report, "cluster.auth"), _status(report, "cluster.dashboard")) == (auth, dash)
    assert report["problems"] == [auth, dash].count("fail")


def test_unreachable_cluster_and_insecure_config_fail(base_report):
    report = _with(
        base_report,
        {
            "status": "error",
            "address": "10.9.9.9:6379",
            "error": "unreachable",
            "dashboard": {"url": None, "listen": []},
        },
    )
    assert _status(report, "cluster") == "fail"
    report = _with(base_report, dashboard_host="0.0.0.0")
    assert _status(report, "config.dashboard_host") == "fail" and report["problems"] == 1


def _free_port() -> int:
    """A free port below the ephemeral range, so that Ray's own random ports cannot take it."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 30_000)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 20000..30000")


def test_cli_json_and_strict_exit_codes(tmp_path, monkeypatch, capsys):
    port = _free_port()  # nothing listens there: an unreachable cluster address
    out = tmp_path / "doctor.json"
    cfg = _cfg(tmp_path)
    monkeypatch.setattr("actors.access.running_cluster_address", lambda: None)  # ignore others'
    monkeypatch.setattr(
        doctor,
        "benchmark",
        lambda backend, seconds, **kw: {
            "backend": backend,
            "bars": 10,
            "combos": 1,
            "seconds": seconds,
            "bar_steps_per_s": 10.0,
        },
    )  # the benchmark itself is tested above
    assert _cli(["doctor", "--json", str(out), "--bench-seconds", "0.1"], cfg) == 0
    report = json.loads(out.read_text())
    jsonschema.validate(report, doctor.SCHEMA)
    argv = ["doctor", "--address", f"127.0.0.1:{port}", "--bench-seconds", "0"]
    assert _cli(argv, cfg) == 0  # a problem, but not --strict
    assert _cli([*argv, "--strict", "--json", str(out)], cfg) == 1
    report = json.loads(out.read_text())
    assert report["cluster"]["status"] == "error" and report["problems"] == 1
    assert "unreachable" in report["cluster"]["error"]
    assert "[fail] cluster" in capsys.readouterr().out
    assert _cli(["doctor", "--strict", "--bench-seconds", "0"], _cfg(tmp_path, "0.0.0.0")) == 1


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_real_two_node_cluster_without_auth_and_open_dashboard(tmp_path, monkeypatch):
    """A real local two-node Ray cluster, no token auth, dashboard bound to 0.0.0.0."""
    from ray.cluster_utils import Cluster

    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    node = {"num_cpus": 1, "object_store_memory": 100 * 2**20}
    head = {
        **node,
        "include_dashboard": True,
        "dashboard_host": "0.0.0.0",
        "dashboard_port": _free_port(),
    }
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        out = tmp_path / "doctor.json"
        argv = [
            "doctor",
            "--address",
            cluster.address,
            "--strict",
            "--bench-seconds",
            "0",
            "--json",
            str(out),
        ]
        assert _cli(argv, _cfg(tmp_path)) == 1
    finally:
        cluster.shutdown()
    report = json.loads(out.read_text())
    jsonschema.validate(report, doctor.SCHEMA)
    c = report["cluster"]
    assert (c["status"], c["alive_nodes"], c["auth_required"]) == ("ok", 2, False)
    assert c["resources"]["CPU"] == 2 and "0.0.0.0" in c["dashboard"]["listen"]
    assert _status(report, "cluster.auth") == _status(report, "cluster.dashboard") == "fail"
    assert report["problems"] == 2
