"""`threadx cluster up|down|status`: a local Ray head with secure defaults.

The head binds its dashboard to ``cluster.dashboard_host`` (127.0.0.1 by default) and runs with
token authentication (``RAY_AUTH_MODE=token``: Ray writes the token to ``~/.ray/auth_token`` and
every client of the same user on this machine picks it up; the token is never printed or
logged). GPUs are detected per device index and advertised as ``threadx_gpu_<label>`` resources.
Ray is only imported inside functions: the library stays importable without starting anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from threadx.config import ThreadXConfig
from threadx.devices import detect_gpus, devices_from_resources, node_resources
from threadx.errors import ThreadXError
from threadx.log import get_logger

log = get_logger(__name__)
CURRENT_CLUSTER_FILE = Path("/tmp/ray/ray_current_cluster")
TOKEN_FILE = Path("~/.ray/auth_token")


def ray_executable() -> str:
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


class ClusterUnreachable(ThreadXError):
    """A cluster address that does not answer."""


def reachable(address: str, timeout: float = 3.0) -> bool:
    """True when ``host:port`` accepts a TCP connection within ``timeout`` seconds."""
    import socket

    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout):
            return True
    except (OSError, ValueError):
        return False


def running_cluster_address() -> str | None:
    """GCS address of a Ray head running on this machine, or None."""
    if not CURRENT_CLUSTER_FILE.exists():
        return None
    address = CURRENT_CLUSTER_FILE.read_text().strip()
    return address if address and reachable(address) else None


def use_token_if_present() -> None:
    """Clusters started by `threadx cluster up` require the token: a client that has one sends
    it (sets ``RAY_AUTH_MODE=token`` unless the user chose a mode). Ray reads the mode when it is
    imported, so this does nothing once Ray is imported (a late change would make a new local
    cluster and its client disagree); the CLI calls it first thing."""
    if "RAY_AUTH_MODE" in os.environ or "ray" in sys.modules:
        return
    if os.environ.get("RAY_AUTH_TOKEN") or TOKEN_FILE.expanduser().exists():
        os.environ["RAY_AUTH_MODE"] = "token"


def _auth_env() -> dict[str, str]:
    return {**os.environ, "RAY_AUTH_MODE": "token"}


def ensure_token() -> None:
    """Create the user's Ray auth token (``~/.ray/auth_token``) if missing; never print it."""
    if TOKEN_FILE.expanduser().exists() or os.environ.get("RAY_AUTH_TOKEN"):
        return
    proc = subprocess.run([ray_executable(), "get-auth-token", "--generate"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    if proc.returncode != 0 or not TOKEN_FILE.expanduser().exists():
        raise ThreadXError("could not create a Ray auth token (`ray get-auth-token --generate` "
                           f"exit {proc.returncode})")  # fmt: skip


def cluster_up(cfg: ThreadXConfig, port: int = 6379, num_cpus: int | None = None,
               num_gpus: int | None = None, resources: dict[str, float] | None = None,
               start_driver: bool = True) -> dict[str, Any]:  # fmt: skip
    """Start a local head; refuse when one is running; leave nothing half-started on failure."""
    existing = running_cluster_address()
    if existing:
        raise ThreadXError(
            f"a Ray cluster is already running on this machine at {existing}; "
            "join it (`--address`) or stop it with `threadx cluster down`"
        )
    ensure_token()
    gpus = detect_gpus()
    res = {**node_resources(gpus), **(resources or {})}
    cmd = [ray_executable(), "start", "--head", f"--port={port}",
           f"--dashboard-host={cfg.cluster.dashboard_host}",
           f"--dashboard-port={cfg.cluster.dashboard_port}", "--include-dashboard=true",
           "--disable-usage-stats", f"--resources={json.dumps(res)}"]  # fmt: skip
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        cmd.append(f"--num-gpus={num_gpus}")
    proc = subprocess.run(cmd, env=_auth_env(), capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        subprocess.run([ray_executable(), "stop", "--force"], capture_output=True, timeout=120)
        tail = " ".join(proc.stderr.strip().splitlines()[-3:])
        raise ThreadXError(f"`ray start` failed (exit {proc.returncode}): {tail}")
    address = running_cluster_address() or f"127.0.0.1:{port}"
    info = {"address": address, "dashboard": f"http://{cfg.cluster.dashboard_host}:"
            f"{cfg.cluster.dashboard_port}", "auth": "token", "resources": res,
            "gpus": [g.name for g in gpus]}  # fmt: skip
    if start_driver:
        try:
            info["data_root"] = _start_driver(cfg, address)
        except Exception:
            cluster_down()
            raise
    log.info("cluster up at %s (dashboard %s)", address, info["dashboard"])
    return info


def _start_driver(cfg: ThreadXConfig, address: str) -> str:
    """Create the cluster's SweepDriver with this config (its data root) in a short client."""
    code = ("import sys, pickle, ray; from actors.driver import get_or_create_driver;"
            "cfg = pickle.loads(sys.stdin.buffer.read());"
            f"ray.init(address={address!r}, namespace=cfg.cluster.namespace, "
            "logging_level='ERROR', log_to_driver=False);"
            "d = get_or_create_driver(cfg); print(ray.get(d.data_root.remote()))")  # fmt: skip
    import pickle

    proc = subprocess.run([sys.executable, "-c", code], input=pickle.dumps(cfg),
                          capture_output=True, env=_auth_env(), timeout=180)  # fmt: skip
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
        raise ThreadXError(f"cluster started but the sweep driver did not: {tail}")
    return proc.stdout.decode().strip().splitlines()[-1]


def cluster_down() -> dict[str, Any]:
    """Stop the Ray processes of this machine (`ray stop`)."""
    was = running_cluster_address()
    proc = subprocess.run([ray_executable(), "stop"], capture_output=True, text=True,
                          timeout=180)  # fmt: skip
    return {"stopped": was, "ok": proc.returncode == 0}


def cluster_status(address: str | None = None) -> dict[str, Any]:
    """Nodes, resources, GPUs by label and security settings of a running cluster."""
    address = address or running_cluster_address()
    if not address:
        raise ThreadXError("no Ray cluster is running on this machine; start one with "
                           "`threadx cluster up` or pass --address")  # fmt: skip
    if not reachable(address.removeprefix("ray://")):
        raise ClusterUnreachable(f"cluster address {address!r} is unreachable")
    code = ("import json, ray; ray.init(address=" + repr(address) + ", logging_level='ERROR', "
            "log_to_driver=False);"
            "print(json.dumps({'nodes': [{'id': n['NodeID'], 'address': "
            "n.get('NodeManagerAddress'), 'alive': n.get('Alive'), 'resources': "
            "n.get('Resources', {})} for n in ray.nodes()], 'total': ray.cluster_resources(),"
            " 'available': ray.available_resources()}))")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=_auth_env())  # fmt: skip
    if proc.returncode != 0:
        raise ThreadXError(f"could not query cluster {address}: "
                           f"{' '.join(proc.stderr.strip().splitlines()[-2:])}")  # fmt: skip
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    info["address"] = address
    info["gpus"] = devices_from_resources(info["total"])
    info["auth_token_present"] = TOKEN_FILE.expanduser().exists()
    info["auth_required"] = _auth_required(address)
    return info


def _auth_required(address: str) -> bool:
    """True when a client without a token is refused (tried in a subprocess, token disabled)."""
    code = ("import ray; ray.init(address=" + repr(address) + ", logging_level='ERROR', "
            "log_to_driver=False); print('connected')")  # fmt: skip
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=30, env=env)  # fmt: skip
    except subprocess.TimeoutExpired:
        return True
    return "connected" not in proc.stdout
