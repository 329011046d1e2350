"""SweepDriver actor: named and detached in the ``threadx`` namespace.

A thin shell over :class:`threadx.sweep.service.SweepService`: a background thread steps the
service (single-threaded controller), the methods below answer clients (CLI, GUI, Ray jobs) at any
time. Its only source of truth is the run folder, so a restarted driver rebuilds from disk
(unfinished runs become ``interrupted``; ``resume(run_id)`` continues them).

Answers are typed (:mod:`threadx.sweep.states`: ``RunStatus``, ``RunSummary``, ``ClusterInfo``;
:mod:`threadx.sweep.shapes`: ``Ranking``, ``Heatmap``, ``Pareto``) and already shaped for what a
client draws. Clients call these methods through :class:`actors.client.ThreadXClient` only.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

import ray

from actors.data_store import NAME as DATA_STORE_NAME
from actors.data_store import DatasetRequest, DataStore
from actors.pool import RayExecutor, WorkerPool

if TYPE_CHECKING:
    import pandas as pd

    from threadx.sweep.shapes import Heatmap, Pareto, Ranking
    from threadx.sweep.spec import SweepSpec
    from threadx.sweep.states import ClusterInfo, RunStatus, RunSummary

NAME = "sweep_driver"
IDLE_RELEASE_S = 30.0


@ray.remote(num_cpus=0, max_concurrency=16)
class SweepDriver:
    def __init__(self, cfg: Any) -> None:
        from threadx.core.log import setup_logging
        from threadx.sweep.service import SweepService

        self.cfg = cfg
        setup_logging(cfg, console_level=None)  # driver logs reach the same rotating file
        ns = cfg.cluster.namespace
        # the store's files live on this machine: keep the data store (and cache) beside us
        self.data_store = DataStore.options(
            name=DATA_STORE_NAME,
            namespace=ns,
            lifetime="detached",
            get_if_exists=True,
            scheduling_strategy=on_this_node(),
        ).remote(str(cfg.data_root))
        self.cache = _indicator_cache(ns)
        self.pool = WorkerPool(cfg.devices, backend="auto", cache=self.cache, namespace=ns)
        self.service = SweepService(
            cfg.data_root,
            self._load_data,
            self._make_executor,
            weights=self._weights,
            schedule=cfg.devices.schedule,
            memory_budget_gb=cfg.sweep.memory_budget_gb,
            gpu=self._has_cuda_workers,
            worker_info=self.pool.describe,
        )
        self._stop = threading.Event()
        self._idle_since: float | None = None
        self._thread = threading.Thread(target=self._loop, name="sweep-driver", daemon=True)
        self._thread.start()

    # -- service plumbing ------------------------------------------------------------------
    def _load_data(self, spec: Any) -> tuple[list[Any], list[Any]]:
        refs = [
            self.data_store.get_dataset.remote(DatasetRequest.of(spec, sym, tf))
            for sym, tf in spec.datasets()
        ]
        return ray.get(refs), refs

    def _make_executor(self, plan: Any, refs: list[Any]) -> RayExecutor:
        return RayExecutor(self.pool, plan, refs)

    def _has_cuda_workers(self) -> bool:
        """GPU slots exist and CUDA is usable there (fake GPUs in tests run the CPU kernel)."""
        from threadx.devices import devices_from_resources

        if not devices_from_resources(ray.cluster_resources()):
            return False
        self.pool.ensure()
        return any(w.get("backend") == "gpu" for w in self.pool.describe())

    def _weights(self, labels: list[str]) -> dict[str, float]:
        """Configured weights, else 0.75/0.25 for a 5090 + 2060, else measured throughputs."""
        from threadx.devices import resolve_weights

        if labels == ["cpu"]:
            return {"cpu": 1.0}
        return resolve_weights(labels, self.cfg.devices.weights, self._calibrate)

    def _calibrate(self, label: str) -> float:
        """One second of kernel work on one worker of ``label``, measured there."""
        handle = next(self.pool.handle(w.worker_id) for w in self.pool.infos() if w.device == label)
        return ray.get(handle.calibrate.remote(1.0))

    def _loop(self) -> None:
        while not self._stop.is_set():
            busy = self.service.step(0.05)
            if busy:
                self._idle_since = None
                continue
            now = time.monotonic()
            self._idle_since = self._idle_since or now
            if self.pool.workers and now - self._idle_since > IDLE_RELEASE_S:
                with self.service.lock:
                    self.pool.shutdown()
            time.sleep(0.05)

    # -- API -------------------------------------------------------------------------------
    def ping(self) -> str:
        return "ok"

    def data_root(self) -> str:
        return str(self.cfg.data_root)

    def submit(self, spec: Any, pause_after: int | None = None) -> str:
        return self.service.submit(spec, pause_after)

    def status(self, run_id: str) -> RunStatus:
        return self.service.status(run_id)

    def wait_status(
        self, run_id: str, since: dict[str, Any] | None = None, timeout: float = 0.5
    ) -> RunStatus:
        """The run's status once it differs from ``since`` (or after ``timeout`` s)."""
        return self.service.wait_status(run_id, since, timeout)

    def pause(self, run_id: str) -> bool:
        return self.service.pause(run_id)

    def resume(self, run_id: str) -> bool:
        return self.service.resume(run_id)

    def cancel(self, run_id: str) -> bool:
        return self.service.cancel(run_id)

    def list_runs(self) -> list[RunSummary]:
        return self.service.list_runs()

    def recovered(self) -> list[str]:
        return list(self.service.recovered)

    def results(self, run_id: str) -> pd.DataFrame:
        return self.service.results(run_id)

    def top(self, run_id: str, k: int | None = None) -> pd.DataFrame:
        return self.service.top(run_id, k)

    def ranking(self, run_id: str, mode: str | None = None, k: int | None = None) -> Ranking:
        return self.service.ranking(run_id, mode, k)

    def heatmap(
        self, run_id: str, metric: str, x: str | None = None, y: str | None = None
    ) -> Heatmap:
        return self.service.heatmap(run_id, metric, x, y)

    def pareto(self, run_id: str) -> Pareto:
        return self.service.pareto(run_id)

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored overfitting report, or None."""
        return self.service.report(run_id)

    def search(self, run_id: str) -> dict[str, Any] | None:
        """A search run's settings, ``search_stats`` (best-so-far curve) and wall time, or None."""
        return self.service.search(run_id)

    def walk_forward(self, run_id: str) -> dict[str, Any] | None:
        """The run's walk-forward report with its stitched OOS equity as lists, or None."""
        return self.service.walk_forward(run_id)

    def spec(self, run_id: str) -> SweepSpec:
        return self.service.spec(run_id)

    def drilldown(self, run_id: str, combo_id: int) -> dict[str, Any]:
        """Trades, equity and bars with bands of one combination (reference simulation)."""
        from threadx.sweep.drilldown import drilldown

        spec = self.service.spec(run_id)
        row = self.service.results(run_id).set_index("combo_id").loc[int(combo_id)]
        request = DatasetRequest.of(spec, row["symbol"], row["timeframe"])
        ds = ray.get(self.data_store.get_dataset.remote(request))
        if spec.walk_forward is not None and "fold" in row.index:  # a fold's train window
            from threadx.sweep.folds import fold_train_dataset

            ds = fold_train_dataset(spec, ds, int(row["fold"]))
        return drilldown(ds, row)

    def workers(self) -> list[dict[str, Any]]:
        return self.pool.describe()

    def cluster_info(self, embedded: bool = False) -> ClusterInfo:
        """Nodes, resources (total and available) and worker slots of the cluster."""
        from threadx.sweep.states import cluster_info

        return cluster_info(
            ray.nodes(),
            ray.cluster_resources(),
            ray.available_resources(),
            self.pool.describe(),
            embedded,
        )

    def release_workers(self) -> int:
        with self.service.lock:
            n = len(self.pool.workers)
            if self.service.active is None and not self.service.queue:
                self.pool.shutdown()
                return n
        return 0

    def cache_stats(self) -> dict[str, Any]:
        return ray.get(self.cache.stats.remote())

    def shutdown(self) -> None:
        self._stop.set()
        self.pool.shutdown()


def _indicator_cache(namespace: str) -> Any:
    from actors.indicator_cache import IndicatorCache

    return IndicatorCache.options(
        name="indicator_cache",
        namespace=namespace,
        lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=on_this_node(),
    ).remote()


def on_this_node() -> Any:
    """Pin an actor to the calling process's node (the data root is a local path)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def get_or_create_driver(cfg: Any) -> Any:
    """The cluster's driver (created with ``cfg`` if none exists yet)."""
    return SweepDriver.options(
        name=NAME,
        namespace=cfg.cluster.namespace,
        lifetime="detached",
        get_if_exists=True,
        scheduling_strategy=on_this_node(),
    ).remote(cfg)
