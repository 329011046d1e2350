"""`threadx cluster up|status|down` on a real Ray head, isolated from everything else.

Every Ray test here runs with its own HOME (the token) and its own RAY_TMPDIR (sessions, the
``ray_current_cluster`` file that a bare ``ray.init()`` joins, ThreadX's state file) and free
ports, so it neither joins nor stops anybody else's Ray; teardown stops only the process group
that ``cluster up`` recorded (``cluster down`` never runs ``ray stop``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from actors import access, head
from tests.ray_helpers import REPO, cluster_cli_env, free_port
from threadx.core.config import apply_overrides, load_config
from threadx.core.errors import ConfigError, ThreadXError


def processes_mentioning(text: str) -> list[int]:
    import psutil

    found = []
    for p in psutil.process_iter():
        try:
            if text in " ".join(p.cmdline()):
                found.append(p.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def isolated(monkeypatch):
    """A fresh HOME and a short RAY_TMPDIR (Unix socket paths must stay < 108 bytes)."""
    home = Path(tempfile.mkdtemp(prefix="txh"))
    raytmp = Path(tempfile.mkdtemp(prefix="txr", dir="/tmp"))
    for var in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("RAY_TMPDIR", str(raytmp))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    try:
        yield home, raytmp / "ray"
    finally:
        state = head.read_state(raytmp / "ray")
        if state:  # a test failed half-way: stop exactly what it started
            head._stop_head(state.get("session"), raytmp / "ray", state.get("address"))
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(raytmp, ignore_errors=True)


@pytest.fixture
def cli_env(isolated, tmp_path):
    home, ray_tmp = isolated
    env, dash = cluster_cli_env(tmp_path / "configs" / "threadx.toml", tmp_path / "data")
    return env, home, ray_tmp, dash


def threadx(*args: str, env: dict, timeout: float = 100) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "threadx.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_up_status_refused_second_up_unreachable_down(cli_env):
    env, home, ray_tmp, dash = cli_env
    gcs, client = free_port(), free_port()
    up = threadx(
        "cluster",
        "up",
        "--port",
        str(gcs),
        "--client-port",
        str(client),
        "--num-cpus",
        "1",
        env=env,
    )
    try:
        assert up.returncode == 0, up.stderr
        assert f"dashboard http://127.0.0.1:{dash}" in up.stdout and "auth token on" in up.stdout
        assert "sweep driver: data root" in up.stdout  # created with this config
        token = home / ".ray" / "auth_token"
        assert token.stat().st_mode & 0o777 == 0o600  # created by cluster up, private
        secret = token.read_text().strip()
        assert len(secret) == 64 and secret not in up.stdout + up.stderr
        state = json.loads((ray_tmp / head.STATE_FILE).read_text())
        assert state["port"] == gcs and secret not in json.dumps(state)
        # our address file lives in our RAY_TMPDIR: a bare ray.init() elsewhere won't join us
        assert (ray_tmp / access.ADDRESS_FILE).read_text().strip() == state["address"]

        st = threadx("cluster", "status", "--json", env=env)
        assert st.returncode == 0, st.stderr
        info = json.loads(st.stdout)
        assert len(info["nodes"]) == 1 and info["nodes"][0]["alive"]
        assert info["auth_required"] is True and info["started_here"] is True
        assert info["dashboard"] == f"127.0.0.1:{dash}" and info["dashboard_loopback"] is True
        assert info["total"]["CPU"] == 1.0 and info["gpus"] == {}
        assert secret not in st.stdout + st.stderr
        text = threadx("cluster", "status", env=env)
        assert "1 node(s)" in text.stdout and "token auth: required" in text.stdout
        assert "(loopback only)" in text.stdout

        again = threadx("cluster", "up", "--port", str(free_port()), env=env)
        assert again.returncode == 2 and again.stderr.count("\n") == 1
        assert "already running" in again.stderr and state["address"] in again.stderr

        t0 = time.monotonic()
        gone = threadx("cluster", "status", "--address", "127.0.0.1:1", env=env, timeout=30)
        assert time.monotonic() - t0 < 20
        assert gone.returncode == 2 and "'127.0.0.1:1' is unreachable" in gone.stderr
        assert gone.stderr.count("\n") == 1
    finally:
        down = threadx("cluster", "down", env=env)
    assert down.returncode == 0 and f"stopped {state['address']}" in down.stdout, down.stderr
    assert processes_mentioning(str(ray_tmp)) == []
    assert not (ray_tmp / head.STATE_FILE).exists()
    assert not (ray_tmp / access.ADDRESS_FILE).exists()
    after = threadx("cluster", "status", env=env)
    assert after.returncode == 2 and "no Ray cluster is running" in after.stderr
    assert "no cluster started by" in threadx("cluster", "down", env=env).stdout


def _cfg(dash: int):
    cfg = load_config(None)
    return apply_overrides(cfg).model_copy(
        update={"cluster": cfg.cluster.model_copy(update={"dashboard_port": dash})}
    )


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_head_without_verified_token_auth_is_stopped_again(isolated, monkeypatch):
    _, ray_tmp = isolated
    monkeypatch.setattr(head, "auth_required", lambda address: False)  # as if Ray ignored it
    with pytest.raises(ThreadXError, match="without token authentication"):
        head.cluster_up(
            _cfg(free_port()),
            port=free_port(),
            num_cpus=1,
            client_port=free_port(),
            start_driver=False,
        )
    assert processes_mentioning(str(ray_tmp)) == []  # nothing left half-started
    assert head.read_state() is None and access.running_cluster_address() is None


def test_busy_port_and_bad_resources_are_refused_before_anything_starts(isolated):
    _, ray_tmp = isolated
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ThreadXError, match=f"port {port} \\(GCS\\) is already in use"):
            head.cluster_up(_cfg(free_port()), port=port, client_port=free_port())
        with pytest.raises(ThreadXError, match=f"port {port} \\(dashboard\\)"):
            head.cluster_up(_cfg(port), port=free_port(), client_port=free_port())
    for bad, message in (
        ({"CPU": 2}, "--num-cpus"),
        ({"ssd": -1}, ">= 0"),
        ({"a b": 1}, "bad resource name"),
        ([1], "JSON object"),
    ):
        with pytest.raises(ConfigError, match=message):
            head.cluster_up(
                _cfg(free_port()), port=free_port(), client_port=free_port(), extra_resources=bad
            )
    assert not ray_tmp.exists() or not any(ray_tmp.iterdir())


def test_stop_head_stops_only_its_session_and_descendants(tmp_path):
    """The head's processes are found by the session name (or, for Ray's client server, the GCS
    address) on their command line, plus descendants: no process groups, as on Windows."""
    tag = f"session_test_{os.getpid()}"
    address = "10.0.0.1:6379"
    code = (
        "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
        "'import time; time.sleep(60)']); time.sleep(60)"
    )
    ours = subprocess.Popen([sys.executable, "-c", code, tag])
    server = subprocess.Popen(  # like `python -m ray.util.client.server --address=...`
        [sys.executable, "-c", "import time; time.sleep(60)", "ray", f"--address={address}"]
    )
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", tag + "_2x"])
    try:
        import psutil

        deadline = time.monotonic() + 10
        while not psutil.Process(ours.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        child = psutil.Process(ours.pid).children()[0]  # its own command line, like a Ray worker
        assert head._head_processes("no_such_session", None) == []  # stale: kill nothing
        assert head._head_processes(None, None) == []
        (tmp_path / access.ADDRESS_FILE).write_text(address)
        assert head._stop_head(tag, tmp_path, address) == 0
        assert ours.wait(timeout=10) is not None and server.wait(timeout=10) is not None
        assert head._living([child]) == []
        assert not (tmp_path / access.ADDRESS_FILE).exists()
        assert other.poll() is None  # another session (its name only starts the same) untouched
    finally:
        for p in (ours, server, other):
            p.kill()
            p.wait()


def test_token_is_private_and_created_once(isolated, monkeypatch):
    home, _ = isolated
    path = access.ensure_token()
    assert path == home / ".ray" / "auth_token" and path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    path.chmod(0o644)
    assert access.ensure_token() == path and path.read_text() == first
    assert path.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(home / "elsewhere" / "tok"))
    assert access.token_path() == home / "elsewhere" / "tok" and not access.has_token()
    assert access.ensure_token() == home / "elsewhere" / "tok" and access.has_token()
