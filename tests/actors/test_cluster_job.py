"""`threadx cluster up|status|down` and a real `ray job submit` of the demo spec."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")
from tests.ray_helpers import BIN, REPO, cluster_cli_env, free_port  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(600)]


def run(*args: str, env: dict, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO
    )


@pytest.fixture
def cluster(tmp_path):
    from threadx.data.store import OHLCVStore
    from threadx.sample import ensure_sample

    data = tmp_path / "data"
    ensure_sample(OHLCVStore(data))
    import tempfile

    # a Ray temp dir of its own: nobody's bare ray.init() joins this test cluster by accident
    ray_tmp = tempfile.mkdtemp(prefix="rtx", dir="/tmp")
    env, dash = cluster_cli_env(
        tmp_path / "proj" / "configs" / "threadx.toml",
        data,
        RAY_USAGE_STATS_ENABLED="0",
        RAY_TMPDIR=ray_tmp,
    )
    gcs = free_port()
    up = run(
        str(BIN / "threadx"),
        "cluster",
        "up",
        "--port",
        str(gcs),
        "--num-cpus",
        "2",
        "--client-port",
        str(free_port()),
        env=env,
    )
    assert up.returncode == 0, up.stderr
    try:
        yield env, data, dash, up.stdout
    finally:
        run(str(BIN / "threadx"), "cluster", "down", env=env)


def test_cluster_status_second_up_and_job_submit(cluster):
    env, data, dash, up_out = cluster
    assert f"127.0.0.1:{dash}" in up_out and "auth token on" in up_out
    token = Path(env.get("HOME", "~")).expanduser() / ".ray" / "auth_token"
    assert token.exists() and token.read_text().strip() not in up_out  # never printed
    st = run(str(BIN / "threadx"), "cluster", "status", "--json", env=env)
    assert st.returncode == 0, st.stderr
    info = json.loads(st.stdout)
    assert len(info["nodes"]) == 1 and info["auth_required"] is True
    again = run(str(BIN / "threadx"), "cluster", "up", env=env)
    assert again.returncode == 2 and "already running" in again.stderr
    assert again.stderr.count("\n") == 1  # one line
    for _ in range(30):  # the node's job agent registers a few seconds after `ray start`
        job = run(
            str(BIN / "ray"),
            "job",
            "submit",
            "--address",
            f"http://127.0.0.1:{dash}",
            "--working-dir",
            ".",
            "--",
            "threadx",
            "sweep",
            "run",
            "configs/sweeps/demo.toml",
            env={**env, "RAY_AUTH_MODE": "token"},
            timeout=500,
        )
        if "No available agent" not in job.stderr:
            break
        time.sleep(2)
    assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
    assert "succeeded" in (job.stdout + job.stderr).lower()
    runs = list((data / "runs").glob("demo-*/manifest.json"))
    assert len(runs) == 1
    man = json.loads(runs[0].read_text())
    assert man["status"] == "completed" and man["total_combos"] == 2304
    assert len(list(runs[0].parent.glob("results/part-*.parquet"))) == man["n_tasks"]


def test_unreachable_address_is_clear(tmp_path):
    env = {**os.environ, "THREADX_DATA_ROOT": str(tmp_path)}
    st = run(
        str(BIN / "threadx"), "cluster", "status", "--address", "127.0.0.1:1", env=env, timeout=60
    )
    assert st.returncode == 2 and "unreachable" in st.stderr


def test_sweep_submit_status_cancel_resume_via_cli(cluster, tmp_path):
    env, data, _, _ = cluster
    spec = tmp_path / "small.toml"
    spec.write_text(
        "name = 'cli'\n[data]\nsymbols = ['BTCUSDT']\ntimeframes = ['1h']\n"
        "[grid]\nbb_period = { start = 5, stop = 60, step = 1 }\n"
        "bb_std = [1.5, 2.0, 2.5]\n"
    )
    sub = run(str(BIN / "threadx"), "sweep", "submit", str(spec), env=env)
    assert sub.returncode == 0, sub.stderr
    rid = sub.stdout.strip().splitlines()[-1]
    assert rid.startswith("cli-")
    st = run(str(BIN / "threadx"), "sweep", "status", rid, "--wait", env=env)
    assert st.returncode == 0 and "completed" in st.stdout + st.stderr
    cancel = run(str(BIN / "threadx"), "sweep", "cancel", rid, env=env)
    assert cancel.returncode == 0 and "nothing to do" in cancel.stdout
    ls = run(str(BIN / "threadx"), "sweep", "list", env=env)
    assert rid in ls.stdout and "completed" in ls.stdout
    show = run(str(BIN / "threadx"), "sweep", "show", rid, "--top", "3", env=env)
    assert show.returncode == 0 and "rank" in show.stdout
    bad = run(str(BIN / "threadx"), "sweep", "status", "nope-123", env=env)
    assert bad.returncode == 2 and "nope-123" in bad.stderr
