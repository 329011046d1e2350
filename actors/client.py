"""The one client module: CLI verbs, Ray jobs and the GUI reach the cluster through this.

``ThreadXClient(cfg).connect()`` joins the configured cluster (``cluster.address`` or
``--address``), else a local cluster already running on this machine, else starts an embedded
local one (dashboard off, bound to 127.0.0.1). Named actors live in the ``threadx`` namespace.

Every request of the SweepDriver and the DataStore actors is a typed method here: ``status``
returns a :class:`~threadx.sweep.states.RunStatus`, ``ranking`` / ``heatmap`` / ``pareto`` the
shapes of :mod:`threadx.sweep.shapes`, ``cluster_info`` a
:class:`~threadx.sweep.states.ClusterInfo`, and so on. A request is written once, as its
non-blocking form (``status_async(run_id)``, ...) returning an object ref, for a caller with its
own loop (the GUI): :meth:`ThreadXClient.ready` says which refs are ready,
:meth:`ThreadXClient.resolve` gets their values (already typed: the driver answers with these
types). The blocking form (``status(run_id)``) is derived from it by :func:`_blocking`. The
DataStore's imports and ingests take the fields of :class:`~actors.data_store.ImportRequest` /
:class:`~actors.data_store.IngestRequest` / :class:`~actors.data_store.IngestManyRequest`,
the one list of their arguments.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from functools import partialmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import ray

from actors.access import ClusterUnreachable, reachable
from actors.access import running_cluster_address as running_local_cluster
from actors.data_store import NAME as DATA_STORE_NAME
from actors.data_store import ImportRequest, IngestManyRequest, IngestRequest
from actors.driver import get_or_create_driver
from threadx.core.errors import ThreadXError
from threadx.core.log import get_logger
from threadx.sweep.states import ClusterInfo, RunStatus, RunSummary

if TYPE_CHECKING:
    import pandas as pd

    from threadx.sweep.shapes import Heatmap, Pareto, Ranking
    from threadx.sweep.spec import SweepSpec

log = get_logger(__name__)
Ref = ray.ObjectRef
RUN_CONTROLS = ("pause", "resume", "cancel")
P = ParamSpec("P")
T = TypeVar("T")
R = TypeVar("R")


def _blocking(
    request: Callable[Concatenate[ThreadXClient, P], Ref[T]],
    convert: Callable[[T], R] | None = None,
) -> Callable[Concatenate[ThreadXClient, P], R]:
    """The blocking twin of the ``*_async`` method ``request``: its answer (through ``convert``
    where the client normalises it), under the request's name without ``_async`` and its
    docstring."""

    def blocking(self: ThreadXClient, *args: P.args, **kwargs: P.kwargs) -> R:
        answer = self.resolve(request(self, *args, **kwargs))
        return answer if convert is None else convert(answer)

    blocking.__name__ = request.__name__.removesuffix("_async")
    blocking.__qualname__ = request.__qualname__.removesuffix("_async")
    blocking.__doc__ = request.__doc__
    return blocking


def _store_request(
    method: str, request: Callable[P, Any]
) -> Callable[Concatenate[ThreadXClient, P], Ref[dict[str, Any]]]:
    """``<method>_async(...)``: the DataStore's ``method`` asked with a ``request`` dataclass
    built from the call's arguments (the dataclass is their one list); the answer is a report
    dict."""

    def ask(self: ThreadXClient, *args: P.args, **kwargs: P.kwargs) -> Ref[dict[str, Any]]:
        return getattr(self.data_store, method).remote(request(*args, **kwargs))

    ask.__name__ = f"{method}_async"
    ask.__qualname__ = f"ThreadXClient.{method}_async"
    ask.__doc__ = (
        f"The DataStore's ``{method}`` with the arguments of :class:`{request.__name__}`; "
        "its report as a dict."
    )
    return ask


def _run_summaries(rows: Sequence[Any]) -> list[RunSummary]:
    return [RunSummary.from_dict(r) for r in rows]


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
        self._store: Any = None

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
        """The SweepDriver actor (created with this client's config if none exists yet)."""
        if self._driver is None:
            self._driver = get_or_create_driver(self.cfg)
            ray.get(self._driver.ping.remote())
        return self._driver

    @property
    def data_store(self) -> Any:
        """The DataStore actor (the driver creates it)."""
        if self._store is None:
            self.driver  # noqa: B018 - the driver creates the data store
            self._store = ray.get_actor(DATA_STORE_NAME, namespace=self.cfg.cluster.namespace)
        return self._store

    def _remote(self, method: str, *args: Any) -> Ref:
        return getattr(self.driver, method).remote(*args)

    # -- non-blocking requests -------------------------------------------------------------
    def ready(self, refs: Sequence[Ref], timeout: float) -> set[Ref]:
        """The refs of ``refs`` whose answers are in, waiting up to ``timeout`` s for one."""
        if not refs:
            return set()
        ray.wait(list(refs), num_returns=1, timeout=timeout)
        return set(ray.wait(list(refs), num_returns=len(refs), timeout=0)[0])

    def resolve(self, refs: Ref | Sequence[Ref], timeout: float | None = None) -> Any:
        """The answer of one ref (or the list of answers of several), as the ``*_async``
        methods' blocking twins return them; the remote error is raised."""
        return ray.get(refs if isinstance(refs, Ref) else list(refs), timeout=timeout)

    # -- driver ----------------------------------------------------------------------------
    def ping(self) -> str:
        """Creates the driver (and the data store) when needed; ``"ok"``."""
        return self.resolve(self._remote("ping"))

    def data_root_async(self) -> Ref[str]:
        """The driver's data root (the one that counts for runs)."""
        return self._remote("data_root")

    data_root = _blocking(data_root_async, Path)

    # -- sweeps ----------------------------------------------------------------------------
    def submit_async(self, spec: Any, pause_after: int | None = None) -> Ref[str]:
        """Queue a run (a SweepSpec, a spec dict or TOML text); its run id. ``pause_after``:
        pause once that many tasks are done."""
        return self._remote("submit", spec, pause_after)

    submit = _blocking(submit_async)

    def status_async(self, run_id: str) -> Ref[RunStatus]:
        """The run's status: progress, throughput, ETA, devices, errors, its current top K."""
        return self._remote("status", run_id)

    status = _blocking(status_async, RunStatus.from_dict)

    def wait(
        self,
        run_id: str,
        on_status: Callable[[RunStatus], None] | None = None,
        poll_s: float = 0.5,
        timeout: float | None = None,
    ) -> RunStatus:
        """Wait until the run reaches a terminal state; returns the final status. The driver
        answers as soon as the run moves (``wait_status``), so the end is seen when it happens;
        ``on_status`` is called at most every ``poll_s`` seconds, and with the final status."""
        t0 = time.monotonic()
        st: RunStatus | None = None
        shown = -math.inf
        while True:
            since = None if st is None else st.moved_from()
            st = RunStatus.from_dict(
                self.resolve(self._remote("wait_status", run_id, since, poll_s))
            )
            now = time.monotonic()
            final = st.terminal
            if on_status is not None and (final or now - shown >= poll_s):
                on_status(st)
                shown = now
            if final:
                return st
            if timeout is not None and now - t0 > timeout:
                raise ThreadXError(f"run {run_id}: still {st.state} after {timeout:.0f} s")

    def control_async(self, action: str, run_id: str) -> Ref[bool]:
        """Pause, resume or cancel the run by name (a CLI verb, a button); whether it was done.
        ``resume`` un-pauses the run, or re-queues a cancelled / interrupted / failed one from
        disk. ``pause_async(run_id)`` and the others are this with the action given."""
        if action not in RUN_CONTROLS:
            raise ValueError(f"run control must be pause, resume or cancel, got {action!r}")
        return self._remote(action, run_id)

    control = _blocking(control_async, bool)
    pause_async = partialmethod(control_async, "pause")
    pause = partialmethod(control, "pause")
    resume_async = partialmethod(control_async, "resume")
    resume = partialmethod(control, "resume")
    cancel_async = partialmethod(control_async, "cancel")
    cancel = partialmethod(control, "cancel")

    def list_runs_async(self) -> Ref[list[RunSummary]]:
        """Every run folder of the driver's data root, newest first (live states)."""
        return self._remote("list_runs")

    list_runs = _blocking(list_runs_async, _run_summaries)

    def recovered_async(self) -> Ref[list[str]]:
        """Runs the driver found unfinished when it started (now ``interrupted``)."""
        return self._remote("recovered")

    recovered = _blocking(recovered_async, list)

    def spec_async(self, run_id: str) -> Ref[SweepSpec]:
        """The run's spec."""
        return self._remote("spec", run_id)

    spec = _blocking(spec_async)

    # -- results ---------------------------------------------------------------------------
    def results_async(self, run_id: str) -> Ref[pd.DataFrame]:
        """Every result row of the run (one per combination and dataset), by combo_id."""
        return self._remote("results", run_id)

    results = _blocking(results_async)

    def top_async(self, run_id: str, k: int | None = None) -> Ref[pd.DataFrame]:
        """The run's top ``k`` by its ``[rank]`` (across datasets when it asks for that)."""
        return self._remote("top", run_id, k)

    top = _blocking(top_async)

    def ranking_async(
        self, run_id: str, mode: str | None = None, k: int | None = None
    ) -> Ref[Ranking]:
        """The run's top ``k`` ranked per dataset (``mode="none"``) or across datasets
        (``"median"``, ``"worst"``); defaults: the run's ``[rank]``."""
        return self._remote("ranking", run_id, mode, k)

    ranking = _blocking(ranking_async)

    def heatmap_async(
        self, run_id: str, metric: str, x: str | None = None, y: str | None = None
    ) -> Ref[Heatmap]:
        """``metric`` as a matrix over the swept dimensions ``x`` and ``y`` (a line without
        ``y``), the other dimensions at the best row's values."""
        return self._remote("heatmap", run_id, metric, x, y)

    heatmap = _blocking(heatmap_async)

    def pareto_async(self, run_id: str) -> Ref[Pareto]:
        """Every result as a (max drawdown, Sharpe) cloud and the Pareto front."""
        return self._remote("pareto", run_id)

    pareto = _blocking(pareto_async)

    def report_async(self, run_id: str) -> Ref[dict[str, Any] | None]:
        """The run's stored overfitting report (``report.json``), or None when there is none."""
        return self._remote("report", run_id)

    report = _blocking(report_async)

    def search_async(self, run_id: str) -> Ref[dict[str, Any] | None]:
        """A search run's ``search`` (method, trials, batch, seed, space), ``search_stats``
        (evaluated, best-so-far curve, ask/tell and kernel seconds; live while it runs, else the
        manifest's; None before any) and ``wall_s``; None for a grid run."""
        return self._remote("search", run_id)

    search = _blocking(search_async)

    def walk_forward_async(self, run_id: str) -> Ref[dict[str, Any] | None]:
        """The run's walk-forward report (``walk_forward.json``), each dataset with its stitched
        out-of-sample equity as lists (``oos_equity``); None for a non-walk-forward run."""
        return self._remote("walk_forward", run_id)

    walk_forward = _blocking(walk_forward_async)

    def drilldown_async(self, run_id: str, combo_id: int) -> Ref[dict[str, Any]]:
        """Trades, equity and bars with bands of one combination (reference simulation)."""
        return self._remote("drilldown", run_id, int(combo_id))

    drilldown = _blocking(drilldown_async)

    # -- workers and cluster ---------------------------------------------------------------
    def workers_async(self) -> Ref[list[dict[str, Any]]]:
        """The driver's worker slots (``worker_id``, ``device``, ``node``, ``tasks_done``...)."""
        return self._remote("workers")

    workers = _blocking(workers_async, list)

    def release_workers_async(self) -> Ref[int]:
        """Stop the idle worker slots (none while a run is active); how many were stopped."""
        return self._remote("release_workers")

    release_workers = _blocking(release_workers_async, int)

    def cache_stats_async(self) -> Ref[dict[str, Any]]:
        """Hits and misses of the indicator cache."""
        return self._remote("cache_stats")

    cache_stats = _blocking(cache_stats_async)

    def cluster_info_async(self) -> Ref[ClusterInfo]:
        """Nodes, resources (total and available) and worker slots, for views and `cluster
        status`."""
        return self._remote("cluster_info", self.embedded)

    def cluster_info(self, timeout: float | None = None) -> ClusterInfo:
        """The blocking twin of :meth:`cluster_info_async` (waits up to ``timeout`` s)."""
        return ClusterInfo.from_dict(self.resolve(self.cluster_info_async(), timeout))

    def shutdown_driver_async(self) -> Ref[None]:
        """Stop the driver's loop and its worker slots (the actor itself stays)."""
        return self._remote("shutdown")

    shutdown_driver = _blocking(shutdown_driver_async)

    # -- data store ------------------------------------------------------------------------
    def catalog_async(self, timeframes: bool = False) -> Ref[pd.DataFrame]:
        """The store's catalog frame (exchange, symbol, first, last, rows, gaps, files) of the 1m
        data; ``timeframes``: also a row per coarser imported timeframe, with the columns
        ``timeframe`` and ``source`` (``OHLCVStore.list_frame``)."""
        return self.data_store.catalog.remote(timeframes)

    # a file or folder of bars imported; the missing 1m bars of a symbol downloaded (its
    # progress: ingest_progress_async)
    import_path_async = _store_request("import_path", ImportRequest)
    ingest_async = _store_request("ingest", IngestRequest)
    # several symbols at once under one weight budget (per-symbol progress as above)
    ingest_many_async = _store_request("ingest_many", IngestManyRequest)

    def ingest_progress_async(self, symbol: str) -> Ref[dict[str, Any] | None]:
        """How far the ingest of ``symbol`` is (None before it starts)."""
        return self.data_store.ingest_progress.remote(symbol)

    def resample_async(
        self, symbol: str, timeframe: str, exchange: str | None = None
    ) -> Ref[pd.DataFrame]:
        """The stored 1m bars of ``symbol`` resampled to ``timeframe`` (a frame)."""
        return self.data_store.resample.remote(symbol, timeframe, exchange)

    def gaps_async(self, symbol: str, exchange: str | None = None) -> Ref[dict[str, Any]]:
        """The gap report of ``symbol`` (summary, missing minutes, runs of gaps)."""
        return self.data_store.gaps.remote(symbol, exchange)
