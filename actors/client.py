"""The one client module: CLI verbs, Ray jobs and the GUI reach the cluster through this.

``ThreadXClient(cfg).connect()`` joins the configured cluster (``cluster.address`` or
``--address``), else a local cluster already running on this machine, else starts an embedded
local one (dashboard off, bound to 127.0.0.1). Named actors live in the ``threadx`` namespace.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from typing import Any

import ray

from actors.access import ClusterUnreachable, reachable
from actors.access import running_cluster_address as running_local_cluster
from actors.data_store import NAME as DATA_STORE_NAME
from actors.driver import get_or_create_driver
from threadx.errors import ThreadXError
from threadx.log import get_logger

log = get_logger(__name__)
TERMINAL = ("completed", "cancelled", "failed", "interrupted")


def _check_reachable(address: str) -> None:
    """Fail within seconds, with a clear message, when ``address`` (host:port) does not answer."""
    if address in ("auto", "local"):
        return
    if not reachable(address.removeprefix("ray://")):
        raise ClusterUnreachable(
            f"cluster address {address!r} is unreachable; start one with `threadx cluster up` "
            "or fix cluster.address / --address"
        )


class ThreadXClient:
    def __init__(self, cfg: Any, address: str | None = None) -> None:
        self.cfg = cfg
        self.address = address if address is not None else cfg.cluster.address
        self.embedded = False
        self._driver: Any = None

    # -- connection ------------------------------------------------------------------------
    def connect(self) -> ThreadXClient:
        ns = self.cfg.cluster.namespace
        quiet = {"logging_level": "ERROR", "log_to_driver": False}
        if ray.is_initialized():
            return self
        # inside a Ray job RAY_ADDRESS names the job's cluster; else a head started here
        address = self.address or os.environ.get("RAY_ADDRESS") or running_local_cluster()
        if address:
            _check_reachable(address)
            try:
                ray.init(address=address, namespace=ns, **quiet)
            except ConnectionError as err:
                raise ClusterUnreachable(
                    f"could not join the Ray cluster at {address}: {err} "
                    "(token auth: is ~/.ray/auth_token the cluster's?)"
                ) from None
        else:
            self.embedded = True
            ray.init(namespace=ns, include_dashboard=False, num_cpus=os.cpu_count(), **quiet)
        log.info("connected to Ray (%s)", "embedded" if self.embedded else address)
        return self

    def close(self) -> None:
        if ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> ThreadXClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- actors ----------------------------------------------------------------------------
    @property
    def driver(self) -> Any:
        if self._driver is None:
            self._driver = get_or_create_driver(self.cfg)
            ray.get(self._driver.ping.remote())
        return self._driver

    @property
    def data_store(self) -> Any:
        self.driver  # noqa: B018 - the driver creates the data store
        return ray.get_actor(DATA_STORE_NAME, namespace=self.cfg.cluster.namespace)

    def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        return ray.get(getattr(self.driver, method).remote(*args), timeout=timeout)

    # -- sweeps ----------------------------------------------------------------------------
    def submit(self, spec: Any, pause_after: int | None = None) -> str:
        return self.call("submit", spec, pause_after)

    def status(self, run_id: str) -> dict[str, Any]:
        return self.call("status", run_id)

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored overfitting report (``report.json``), or None when there is none."""
        return self.call("report", run_id)

    def walk_forward(self, run_id: str) -> dict[str, Any] | None:
        """The run's walk-forward report (``walk_forward.json``), each dataset with its stitched
        out-of-sample equity as lists (``oos_equity``); None for a non-walk-forward run."""
        return self.call("walk_forward", run_id)

    def wait(
        self,
        run_id: str,
        on_status: Callable[[dict[str, Any]], None] | None = None,
        poll_s: float = 0.5,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Wait until the run reaches a terminal state; returns the final status. The driver
        answers as soon as the run moves (``wait_status``), so the end is seen when it happens;
        ``on_status`` is called at most every ``poll_s`` seconds, and with the final status."""
        t0 = time.monotonic()
        st: dict[str, Any] | None = None
        shown = -math.inf
        while True:
            st = self.call("wait_status", run_id, _moved_from(st), poll_s)
            now = time.monotonic()
            final = st["state"] in TERMINAL
            if on_status is not None and (final or now - shown >= poll_s):
                on_status(st)
                shown = now
            if final:
                return st
            if timeout is not None and now - t0 > timeout:
                raise ThreadXError(f"run {run_id}: still {st['state']} after {timeout:.0f} s")

    def cluster_info(self) -> dict[str, Any]:
        """Nodes, resources (total and available) and workers, for views and `cluster status`."""
        nodes = [
            {
                "node_id": n["NodeID"],
                "address": n.get("NodeManagerAddress"),
                "alive": n.get("Alive"),
                "resources": n.get("Resources", {}),
            }
            for n in ray.nodes()
        ]
        info = {
            "nodes": nodes,
            "total": ray.cluster_resources(),
            "available": ray.available_resources(),
            "embedded": self.embedded,
        }
        with contextlib.suppress(Exception):
            info["workers"] = self.call("workers", timeout=10)
        return info


def _moved_from(st: dict[str, Any] | None) -> dict[str, Any] | None:
    """What ``wait_status`` compares against (the whole status need not travel back)."""
    return None if st is None else {"state": st["state"], "done_tasks": st.get("done_tasks")}
