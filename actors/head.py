"""`threadx cluster up|down|status`: a local Ray head with secure defaults.

What Ray 2.60 does, and what ThreadX does about it (read from Ray's source and checked on a
running head):

* **Token auth.** A ``ray start --head`` enables token auth only with ``RAY_AUTH_MODE=token``
  (or, with the mode unset, when a token already exists); it never creates the token itself. So
  :func:`cluster_up` creates ``~/.ray/auth_token`` (mode 0600, 256 random bits, the format of
  ``ray get-auth-token --generate``; ``RAY_AUTH_TOKEN`` / ``RAY_AUTH_TOKEN_PATH`` are honoured)
  and starts the head with ``RAY_AUTH_MODE=token``, then *verifies* it: a gRPC call to the GCS
  without a token must be refused (``UNAUTHENTICATED``), else the head is stopped again.
  Clients that pass an explicit address never switch token mode on by themselves, so they need
  ``RAY_AUTH_MODE=token`` too (the CLI sets it at start when a token exists, see
  :func:`use_token_if_present`; ``ray job submit`` needs it in the environment). The dashboard's
  HTTP API answers 401 without the token. The token is never printed or logged by ThreadX.
* **Bind addresses.** The dashboard binds to ``cluster.dashboard_host`` (127.0.0.1 by default).
  Ray's gRPC servers (GCS, raylet, object manager, agents) listen on all interfaces whatever
  the node IP; ``--node-ip-address 127.0.0.1`` is silently replaced by the routable IP on Linux
  (``services.resolve_ip_for_localhost``), so ThreadX does not pass it. Token auth and a firewall
  / private network are what protect those ports.
* **Stopping.** ``ray stop`` kills every Ray process of the user on the machine (other clusters,
  tests, notebooks). :func:`cluster_up` records the head's Ray session name and address in
  ``<ray temp dir>/threadx_cluster.json`` (no secrets); :func:`cluster_down` stops only the
  processes whose command line names that session (or, for Ray's client server, its address) and
  their descendants (the workers), raylet first and GCS last as ``ray stop`` does, terminate
  then kill through psutil: no POSIX process groups or signals, so it works on Windows too.
  ``cluster down --all`` is plain ``ray stop``.
* **Temp dir.** Ray's temp dir (``$RAY_TMPDIR/ray``, else ``$TMPDIR/ray``, else ``/tmp/ray``)
  holds the sessions, the ``ray_current_cluster`` address file that ``ray.init()`` without an
  address joins, and ThreadX's state file. A separate ``RAY_TMPDIR`` gives a separate cluster.

GPUs are detected per device index and advertised as ``threadx_gpu_<label>`` resources; the head
runs with ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so CUDA device numbers equal NVML indices. Ray is
only imported in subprocesses: the library stays importable without starting anything.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actors.access import (
    ADDRESS_FILE,
    ClusterUnreachable,
    auth_required,
    ensure_token,
    has_token,
    ray_env,
    ray_executable,
    ray_temp_dir,
    reachable,
    running_cluster_address,
)
from threadx.core.config import ThreadXConfig
from threadx.core.errors import ConfigError, ThreadXError
from threadx.core.log import get_logger
from threadx.devices import detect_gpus, devices_from_resources, node_resources

if TYPE_CHECKING:
    from threadx.sweep.states import ClusterInfo

log = get_logger(__name__)

STATUS_TIMEOUT_S = 60
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
STATE_FILE = "threadx_cluster.json"
STOP_GRACE_S = 15.0
_RESERVED_RESOURCES = {"CPU", "GPU", "memory", "object_store_memory"}
START_TIMEOUT_S = 180

_DESCRIBE = r"""
import json, sys
import ray
from threadx.sweep.states import cluster_info
ctx = ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
info = cluster_info(ray.nodes(), ray.cluster_resources(), ray.available_resources())
print(json.dumps({"cluster": info.to_dict(), "dashboard_url": ctx.dashboard_url,
                  "ray_version": ray.__version__}))
ray.shutdown()
"""


@dataclass(frozen=True)
class ClusterStatus:
    """What ``threadx cluster status`` says of a cluster: its description (the one shape of it,
    :class:`~threadx.sweep.states.ClusterInfo`), then how it is reached and guarded."""

    address: str  # the GCS host:port
    cluster: ClusterInfo
    gpus: dict[str, int]  # GPUs by label (the ``threadx_gpu_<label>`` resources)
    auth_required: bool  # verified: a client without the token is refused
    auth_token_present: bool  # this machine has a token
    dashboard: str | None  # its URL as Ray publishes it
    dashboard_host: str | None
    dashboard_loopback: bool
    ray_version: str | None
    started_here: bool  # the head `threadx cluster up` started on this machine

    __hash__ = None  # type: ignore[assignment] - holds dicts

    def to_dict(self) -> dict[str, Any]:
        """As ``cluster status --json`` prints it: the address, the cluster's description
        (nodes, total, available, ...) flattened in, then the other fields."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        return {"address": d.pop("address"), **d.pop("cluster").to_dict(), **d}


def _describe(address: str, token: bool, timeout: float = STATUS_TIMEOUT_S) -> dict[str, Any]:
    env = {**ray_env(), "RAY_AUTH_MODE": "token" if token else "disabled"}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _DESCRIBE, address],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise ClusterUnreachable(
            f"the Ray cluster at {address} did not answer within {timeout:g} s"
        ) from None
    if proc.returncode != 0:
        raise ThreadXError(f"could not query the Ray cluster at {address}: {_tail(proc.stderr)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _tail(text: str, lines: int = 3) -> str:
    rows = [_ANSI.sub("", r).strip() for r in text.strip().splitlines() if r.strip()]
    return " | ".join(rows[-lines:]) or "(no output)"


# ----------------------------------------------------------------------------- state


def _state_path(temp_dir: Path) -> Path:
    return temp_dir / STATE_FILE


def read_state(temp_dir: str | Path | None = None) -> dict[str, Any] | None:
    """What :func:`cluster_up` recorded about the head it started here (None if nothing)."""
    try:
        return json.loads(_state_path(ray_temp_dir(temp_dir)).read_text())
    except (OSError, ValueError):
        return None


def _write_state(temp_dir: Path, state: dict[str, Any]) -> None:
    path = _state_path(temp_dir)
    fd, tmp = tempfile.mkstemp(prefix=".threadx_cluster.", dir=temp_dir)
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    Path(tmp).replace(path)


def _head_processes(session: str | None, address: str | None) -> list[Any]:
    """The processes of one head, found without POSIX process groups (so also on Windows): every
    process whose command line names the head's session (GCS, raylet, dashboard, monitors) or is
    a Ray daemon given the head's GCS address (the Ray client server), plus their descendants (the
    agents and workers, which rename themselves). [] when neither is known."""
    import psutil

    if not session and not address:
        return []
    named = re.compile(re.escape(session) + r"(?!\w)") if session else None  # not a longer name
    members = []
    for p in psutil.process_iter():
        try:
            if p.pid == os.getpid():
                continue
            c = " ".join(p.cmdline())
        except psutil.Error:
            continue
        ours = named is not None and named.search(c) is not None
        ours |= bool(address) and f"--address={address}" in c and "ray" in c
        if ours:
            members.append(p)
    procs = {p.pid: p for p in members}
    for p in members:
        try:
            procs.update({c.pid: c for c in p.children(recursive=True)})
        except psutil.Error:
            continue
    return _living(list(procs.values()))


def _name(p: Any) -> str:
    import psutil

    try:
        return p.name()
    except psutil.Error:
        return ""


def _living(procs: list[Any]) -> list[Any]:
    """The processes still running (a zombie waiting for its parent to reap it is not)."""
    import psutil

    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.Error:
            continue
    return out


def _signal_and_wait(procs: list[Any], how: str, timeout: float) -> list[Any]:
    """``how``: "terminate" (SIGTERM; TerminateProcess on Windows) or "kill" (SIGKILL)."""
    import psutil

    for p in _living(procs):
        try:
            getattr(p, how)()
        except psutil.Error:
            continue
    deadline = time.monotonic() + timeout
    while (procs := _living(procs)) and time.monotonic() < deadline:
        psutil.wait_procs(procs, timeout=0.1)  # also reaps our own children
    return procs


def _stop_processes(procs: list[Any], grace_s: float = STOP_GRACE_S) -> list[Any]:
    """Terminate then kill, raylet first and GCS last (as ``ray stop``); the survivors."""
    raylets = [p for p in procs if _name(p) == "raylet"]
    gcs = [p for p in procs if _name(p) == "gcs_server"]
    others = [p for p in procs if p not in raylets and p not in gcs]
    survivors = []
    for bucket in (raylets, others, gcs):
        bucket = _signal_and_wait(bucket, "terminate", grace_s / 3)
        survivors += _signal_and_wait(bucket, "kill", 5.0)
    return survivors


def _stop_head(session: str | None, temp_dir: Path, address: str | None) -> int:
    """Stop one head's processes; drop its state and address files. Processes left alive."""
    survivors = _stop_processes(_head_processes(session, address))
    _state_path(temp_dir).unlink(missing_ok=True)
    addr_file = temp_dir / ADDRESS_FILE
    try:
        if address and addr_file.read_text().strip() == address:
            addr_file.unlink()
    except OSError:
        pass
    return len(survivors)


# ----------------------------------------------------------------------------- up


def _port_free(port: int, host: str = "") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _refuse_if_running(temp_dir: Path, ports: dict[str, tuple[str, int]]) -> None:
    state = read_state(temp_dir)
    if state and _head_processes(state.get("session"), state.get("address")):
        raise ThreadXError(
            f"a ThreadX cluster is already running on this machine at "
            f"{state['address']} (dashboard {state['dashboard']}); use it or "
            "stop it with `threadx cluster down`"
        )
    existing = running_cluster_address(temp_dir)
    if existing:
        raise ThreadXError(
            f"a Ray cluster (started by `ray start`) is already running on this "
            f"machine at {existing}; join it (--address) or stop it"
        )
    for what, (host, port) in ports.items():
        if not _port_free(port, host):
            raise ThreadXError(
                f"port {port} ({what}) is already in use on this machine; "
                "pick another one (cluster up --port / --client-port, "
                "cluster.dashboard_port)"
            )


def _check_resources(extra: dict[str, Any]) -> dict[str, float]:
    if not isinstance(extra, dict):
        raise ConfigError(f"--resources must be a JSON object of name: amount, got {extra!r}")
    out = {}
    for name, amount in extra.items():
        if name in _RESERVED_RESOURCES:
            raise ConfigError(
                f"--resources: '{name}' is set with --num-cpus/--num-gpus "
                "(or by Ray), not as a custom resource"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.:-]+", str(name)):
            raise ConfigError(f"--resources: bad resource name {name!r}")
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise ConfigError(
                f"--resources: amount of '{name}' must be a number >= 0, got {amount!r}"
            )
        out[str(name)] = float(amount)
    return out


def _start_head(cmd: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``ray start``; (exit code, output tail). On POSIX in a new session, so a Ctrl-C in the
    terminal does not reach the daemons (the flag is ignored on Windows)."""
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = -1
        out.seek(0)
        return code, _tail(out.read())


def _session_name(temp_dir: Path) -> str | None:
    latest = temp_dir / "session_latest"
    return latest.resolve().name if latest.exists() else None


def _head_command(
    cfg: ThreadXConfig,
    port: int,
    temp_dir: Path,
    resources: dict[str, float],
    num_cpus: int | None,
    num_gpus: int | None,
    client_port: int | None,
) -> list[str]:
    cmd = [
        ray_executable(),
        "start",
        "--head",
        f"--port={port}",
        f"--temp-dir={temp_dir}",
        f"--dashboard-host={cfg.cluster.dashboard_host}",
        f"--dashboard-port={cfg.cluster.dashboard_port}",
        "--include-dashboard=true",
        "--disable-usage-stats",
        f"--resources={json.dumps(resources)}",
    ]
    if client_port is not None:
        cmd.append(f"--ray-client-server-port={client_port}")
    if num_cpus is not None:
        cmd.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        cmd.append(f"--num-gpus={num_gpus}")
    return cmd


def cluster_up(
    cfg: ThreadXConfig,
    port: int = 6379,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    extra_resources: dict[str, float] | None = None,
    *,
    client_port: int | None = None,
    temp_dir: str | Path | None = None,
    start_driver: bool = True,
) -> dict[str, Any]:
    """Start a Ray head on this machine with token auth (verified) and the dashboard on
    ``cfg.cluster.dashboard_host``; advertise the local GPUs as ``threadx_gpu_<label>``; create
    the SweepDriver with ``cfg`` unless ``start_driver`` is False.

    Refuses when a head is already running here or a port is taken. If anything fails after
    ``ray start`` began, the processes it started (and only those) are stopped again.
    """
    tmp = ray_temp_dir(temp_dir)
    client = 10001 if client_port is None else client_port
    _refuse_if_running(
        tmp,
        {
            "GCS": ("", port),
            "Ray client server": ("", client),
            "dashboard": (cfg.cluster.dashboard_host, cfg.cluster.dashboard_port),
        },
    )
    extra = _check_resources(extra_resources or {})
    tmp.mkdir(parents=True, exist_ok=True)
    ensure_token()
    gpus = detect_gpus()
    resources = {**node_resources(gpus), **extra}
    if num_gpus is None and gpus:
        num_gpus = len(gpus)
    cmd = _head_command(cfg, port, tmp, resources, num_cpus, num_gpus, client_port)
    code, tail = _start_head(cmd, ray_env())
    session = _session_name(tmp)
    address = running_cluster_address(tmp)
    if code != 0 or not address:
        _stop_head(session, tmp, address)
        raise ThreadXError(f"`ray start` failed (exit {code}); stopped what it started: {tail}")
    dashboard = f"http://{cfg.cluster.dashboard_host}:{cfg.cluster.dashboard_port}"
    state = {
        "address": address,
        "port": port,
        "session": session,
        "temp_dir": str(tmp),
        "dashboard": dashboard,
        "started_at": time.time(),
    }
    _write_state(tmp, state)
    info = {
        **state,
        "auth": "token",
        "resources": resources,
        "gpus": [f"{g.index}: {g.name} ({g.label})" for g in gpus],
    }
    try:
        if not auth_required(address):
            raise ThreadXError(
                "Ray started without token authentication (RAY_AUTH_MODE=token "
                "was ignored: Ray too old?); stopped it again"
            )
        info["auth_verified"] = True
        if start_driver:
            info["data_root"] = _start_driver(cfg, address)
    except BaseException:
        _stop_head(session, tmp, address)
        raise
    log.info("cluster up at %s (dashboard %s, token auth verified)", address, dashboard)
    return info


def _start_driver(cfg: ThreadXConfig, address: str) -> str:
    """Create the cluster's SweepDriver with this config (its data root) in a short client."""
    code = (
        "import sys, pickle, ray; from actors.driver import get_or_create_driver;"
        "cfg = pickle.loads(sys.stdin.buffer.read());"
        f"ray.init(address={address!r}, namespace=cfg.cluster.namespace, "
        "logging_level='ERROR', log_to_driver=False);"
        "d = get_or_create_driver(cfg); print(ray.get(d.data_root.remote()))"
    )
    import pickle

    proc = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(cfg),
        capture_output=True,
        env=ray_env(),
        timeout=START_TIMEOUT_S,
    )
    if proc.returncode != 0:
        tail = _tail(proc.stderr.decode(errors="replace"))
        raise ThreadXError(f"cluster started but the sweep driver did not: {tail}")
    return proc.stdout.decode().strip().splitlines()[-1]


# ----------------------------------------------------------------------------- down, status


def cluster_down(temp_dir: str | Path | None = None, *, all_local: bool = False) -> dict[str, Any]:
    """Stop the head that :func:`cluster_up` started here (only its processes and workers).

    ``all_local=True`` runs ``ray stop`` instead: every Ray process of this user on this
    machine, including clusters and tests that are not ours.
    """
    tmp = ray_temp_dir(temp_dir)
    state = read_state(tmp)
    if all_local:
        proc = subprocess.run(
            [ray_executable(), "stop"], capture_output=True, text=True, timeout=120, env=ray_env()
        )
        _state_path(tmp).unlink(missing_ok=True)
        return {
            "stopped": "every Ray process of this user on this machine",
            "ok": proc.returncode == 0,
        }
    if state is None:
        other = running_cluster_address(tmp)
        note = (
            f"; a Ray cluster not started by threadx runs at {other} (stop it with "
            "`threadx cluster down --all`, which stops every Ray process of yours)"
            if other
            else ""
        )
        return {
            "stopped": None,
            "ok": True,
            "note": f"no cluster started by `threadx cluster up` is recorded in {tmp}" + note,
        }
    left = _stop_head(state.get("session"), tmp, state.get("address"))
    log.info("cluster at %s stopped (%d processes left)", state.get("address"), left)
    return {"stopped": state.get("address"), "ok": left == 0, "left": left}


def cluster_status(
    address: str | None = None,
    temp_dir: str | Path | None = None,
    timeout: float = STATUS_TIMEOUT_S,
) -> ClusterStatus:
    """Nodes, resources, GPUs by label, token auth (verified) and dashboard of a cluster.

    ``address`` is a GCS ``host:port``; without it, the head started on this machine. An
    unreachable address fails within seconds (:class:`ClusterUnreachable`).
    """
    state = read_state(temp_dir)
    address = address or (state or {}).get("address") or running_cluster_address(temp_dir)
    if not address:
        raise ThreadXError(
            "no Ray cluster is running on this machine; start one with "
            "`threadx cluster up` or pass --address HOST:PORT"
        )
    if address.startswith("ray://"):
        raise ThreadXError(
            f"{address!r} is a Ray client address; cluster status needs the GCS "
            "address HOST:PORT (port 6379 by default)"
        )
    if not reachable(address):
        raise ClusterUnreachable(
            f"cluster address {address!r} is unreachable (no answer within 3 s)"
        )
    auth = auth_required(address)
    probe = _describe(address, auth, timeout)
    url = probe.get("dashboard_url") or ""
    host = url.rsplit(":", 1)[0].strip("[]") if ":" in url else url
    from threadx.sweep.states import ClusterInfo  # not at import: it loads the sweep package

    cluster = ClusterInfo.from_dict(probe["cluster"])
    return ClusterStatus(
        address=address,
        cluster=cluster,
        gpus=devices_from_resources(cluster.total),
        auth_required=auth,
        auth_token_present=has_token(),
        dashboard=url or None,
        dashboard_host=host or None,
        dashboard_loopback=host in ("127.0.0.1", "localhost", "::1"),
        ray_version=probe.get("ray_version"),
        started_here=bool(state and state.get("address") == address),
    )
