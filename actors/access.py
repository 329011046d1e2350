"""How to reach a Ray head: its address, its token, whether it answers.

The part of the head's lifecycle that clients need too (the CLI, :mod:`actors.client`, the
doctor): where ``ray.init()`` would connect (``ray_current_cluster`` in Ray's temp dir), the token
file and ``RAY_AUTH_MODE`` (:func:`use_token_if_present`, called by the CLI before anything imports
Ray), and whether an address answers and requires the token (a gRPC probe of the GCS). Starting
and stopping a head is :mod:`actors.head`. Ray itself is never imported here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

from threadx.core.errors import ThreadXError
from threadx.core.log import get_logger

log = get_logger(__name__)
TOKEN_FILE = Path("~/.ray/auth_token")  # Ray's default token path (expand it)
ADDRESS_FILE = "ray_current_cluster"


class ClusterUnreachable(ThreadXError):
    """A cluster address that does not answer."""


def ray_executable() -> str:
    """The ``ray`` command of this interpreter's environment (else the one on PATH)."""
    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else (shutil.which("ray") or "ray")


def reachable(address: str, timeout: float = 3.0) -> bool:
    """True when ``host:port`` accepts a TCP connection within ``timeout`` seconds."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            return True
    except (OSError, ValueError):
        return False


def ray_temp_dir(temp_dir: str | Path | None = None) -> Path:
    """Ray's temp dir as Ray computes it: ``temp_dir``, else ``$RAY_TMPDIR/ray``, else
    ``$TMPDIR/ray`` (Linux), else ``/tmp/ray``."""
    if temp_dir:
        return Path(temp_dir)
    base = os.environ.get("RAY_TMPDIR")
    if not base and sys.platform.startswith("linux"):
        base = os.environ.get("TMPDIR")
    return Path(base or "/tmp") / "ray"


def running_cluster_address(temp_dir: str | Path | None = None) -> str | None:
    """GCS address of the Ray head last started on this machine (``ray start`` / ``threadx
    cluster up``) if it answers, else None."""
    path = ray_temp_dir(temp_dir) / ADDRESS_FILE
    try:
        address = path.read_text().strip()
    except OSError:
        return None
    return address if address and reachable(address) else None


# ----------------------------------------------------------------------------- token


def token_path() -> Path:
    """Where Ray reads the token from: ``$RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or TOKEN_FILE).expanduser()


def has_token() -> bool:
    """A token is available to Ray clients of this user (environment or file)."""
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or token_path().exists()


def use_token_if_present() -> None:
    """Clusters started by `threadx cluster up` require the token: a client that has one sends
    it (sets ``RAY_AUTH_MODE=token`` unless the user chose a mode). Ray reads the mode when it is
    imported, so this does nothing once Ray is imported (a late change would make a new local
    cluster and its client disagree); the CLI calls it first thing."""
    if "RAY_AUTH_MODE" in os.environ or "ray" in sys.modules:
        return
    if has_token():
        os.environ["RAY_AUTH_MODE"] = "token"


def ensure_token() -> Path | None:
    """Create the user's Ray token if none is available (0600, never printed); its path, or
    None when it comes from ``RAY_AUTH_TOKEN``. An existing token file readable by others is
    made private (0600)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return None
    path = token_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
            log.warning("made the Ray token file %s private (mode 0600)", path)
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))  # what `ray get-auth-token --generate` writes
        f.flush()
        os.fsync(f.fileno())
    log.info("created a Ray auth token in %s", path)
    return path


def ray_env() -> dict[str, str]:
    """Environment of the head and of our Ray clients: token auth, PCI-bus device order."""
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    return env


# ----------------------------------------------------------------------------- probe


def _read_token() -> str | None:
    """This user's token as Ray finds it (``RAY_AUTH_TOKEN``, else the token file); kept in
    memory only to authenticate the probe, never printed or logged."""
    token = os.environ.get("RAY_AUTH_TOKEN")
    if token:
        return token.strip()
    try:
        return token_path().read_text().strip() or None
    except OSError:
        return None


def _gcs_call(address: str, token: str | None, timeout: float = 5.0) -> str:
    """gRPC status name of ``NodeInfoGcsService.GetClusterId`` on the GCS at ``address``, sent
    with ``token`` (``authorization: Bearer``, as Ray's clients do) or without any: "OK",
    "UNAUTHENTICATED", "UNAVAILABLE", ... (the request message is empty: no Ray import)."""
    import grpc

    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            "/ray.rpc.NodeInfoGcsService/GetClusterId",
            request_serializer=lambda _: b"",
            response_deserializer=lambda raw: raw,
        )
        try:
            call(None, timeout=timeout, metadata=metadata)
        except grpc.RpcError as err:
            return err.code().name
    return "OK"


def auth_required(address: str) -> bool:
    """Whether the cluster at ``address`` refuses clients without a token -- checked by asking
    its GCS anonymously -- and, when it does, accepts this machine's token. Raises for a GCS
    that does not answer, and when this machine has no token or a different one."""
    anonymous = _gcs_call(address, None)
    if anonymous == "OK":
        return False
    if anonymous != "UNAUTHENTICATED":
        raise ClusterUnreachable(
            f"no Ray GCS answers at {address} ({anonymous}); is it the "
            "GCS HOST:PORT (6379 by default)?"
        )
    token = _read_token()
    if token is None:
        raise ThreadXError(
            f"the Ray cluster at {address} requires a token and this machine has "
            f"none: copy the head's {TOKEN_FILE} to {token_path()} or set "
            "RAY_AUTH_TOKEN_PATH"
        )
    if _gcs_call(address, token) != "OK":
        source = "RAY_AUTH_TOKEN" if os.environ.get("RAY_AUTH_TOKEN") else str(token_path())
        raise ThreadXError(
            f"the Ray cluster at {address} rejected this machine's token "
            f"({source}): it is not the head's token"
        )
    return True


# Runs in a subprocess (Ray stays out of the caller): joins the cluster and describes it as one
# JSON line.
