"""Worker pool and the Ray executor used by the SweepDriver (not an actor itself).

Slots come from the cluster's resources: every GPU advertised as a custom resource
``threadx_gpu_<label>`` (see :mod:`threadx.devices`) gets k workers (``devices.workers`` per
label, default 1), each requesting 1/k of a GPU plus 1/k of that device's custom resource, which
pins it to the device; without GPUs the pool holds CPU workers, spread over the nodes. Device
weights (the 5090/2060 split) are enforced by the controller's weighted schedule; with the
adaptive schedule every slot pulls work as fast as it finishes, so k:1 slots give a k:1 split on
equal devices. Recorded per combination in the results' ``device`` column.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, TaskCancelledError

from actors.worker import BacktestWorker
from threadx.core.config import DevicesConfig
from threadx.core.log import get_logger
from threadx.devices import RESOURCE_PREFIX, devices_from_resources, slots_per_device
from threadx.sweep.controller import WorkerInfo, WorkerLost
from threadx.sweep.plan import SweepPlan, Task

log = get_logger(__name__)
READY_TIMEOUT_S = 60.0  # first start of the pool (imports, numba cache load)
# when no worker at all is up after READY_TIMEOUT_S (a loaded machine: processes start slowly), the
# pool waits this much longer for the first one before giving up
READY_GRACE_S = 120.0
REPLACE_TIMEOUT_S = 15.0  # a replacement that cannot be placed (node gone) is given up


@dataclass(frozen=True)
class Slot:
    device: str  # "cpu" or a GPU label ("5090")
    num_cpus: float
    num_gpus: float = 0.0
    resources: tuple[tuple[str, float], ...] = ()


def plan_slots(
    resources: dict[str, float],
    cpus_per_worker: int,
    cpu_workers: int,
    workers: dict[str, int] | None = None,
) -> list[Slot]:
    """Worker slots for the current cluster (see the module docstring): ``workers`` gives the
    slots per GPU of a label (``devices.workers``, default 1), each asking for its 1/k share."""
    gpus = devices_from_resources(resources)
    if gpus:
        per = slots_per_device(sorted(gpus), workers or {})
        return [
            Slot(
                label,
                cpus_per_worker,
                1.0 / per[label],
                ((RESOURCE_PREFIX + label, 1.0 / per[label]),),
            )
            for label, count in sorted(gpus.items())
            for _ in range(count * per[label])
        ]
    n = cpu_workers or max(1, int(resources.get("CPU", 1)) // cpus_per_worker)
    return [Slot("cpu", cpus_per_worker) for _ in range(n)]


class WorkerPool:
    """Live worker actors by id; created lazily, replaced on loss, released when idle."""

    def __init__(
        self, devices: DevicesConfig, backend: str, cache: Any = None, namespace: str = "threadx"
    ) -> None:
        self.devices = devices
        self.backend, self.cache, self.namespace = backend, cache, namespace
        self.workers: dict[str, tuple[Any, Slot]] = {}
        self._ids = itertools.count()

    def ensure(self) -> None:
        if self.workers:
            return
        d = self.devices
        slots = plan_slots(ray.cluster_resources(), d.cpus_per_worker, d.cpu_workers, d.workers)
        for slot in slots:
            self._start(slot)
        wids = list(self.workers)
        pending = self._wait_ready(wids, drop_pending=False)
        if len(pending) == len(wids) and pending:
            log.warning(
                "no worker up after %.0f s; waiting up to %.0f s more",
                READY_TIMEOUT_S,
                READY_GRACE_S,
            )
            self._wait_ready(pending, READY_GRACE_S)
        else:
            for wid in pending:
                self.drop(wid)
        if not self.workers:
            raise RuntimeError(
                f"no worker could be started on this cluster within "
                f"{READY_TIMEOUT_S + READY_GRACE_S:.0f} s ({len(wids)} slot(s) asked for)"
            )

    def _start(self, slot: Slot) -> str:
        wid = f"worker-{slot.device}-{next(self._ids)}"
        opts: dict[str, Any] = {
            "num_cpus": slot.num_cpus,
            "name": wid,
            "namespace": self.namespace,
            "scheduling_strategy": "SPREAD",
        }
        if slot.num_gpus:
            opts["num_gpus"] = slot.num_gpus
            opts["resources"] = dict(slot.resources)
            # we select the device ourselves: Ray must not narrow CUDA_VISIBLE_DEVICES
            opts["runtime_env"] = {"env_vars": {"RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES": "1"}}
        backend = self.backend if slot.num_gpus else "cpu"
        handle = BacktestWorker.options(**opts).remote(
            slot.device, backend, int(slot.num_cpus), self.cache
        )
        self.workers[wid] = (handle, slot)
        return wid

    def _wait_ready(
        self, wids: list[str], timeout: float = READY_TIMEOUT_S, drop_pending: bool = True
    ) -> list[str]:
        """Wait for ``wids`` to answer; drop those that died (and, with ``drop_pending``, those
        still silent after ``timeout``). Returns the ids still silent."""
        pings = {self.workers[w][0].info.remote(): w for w in wids if w in self.workers}
        ready, pending = ray.wait(list(pings), num_returns=len(pings), timeout=timeout)
        for ref in ready:
            try:
                ray.get(ref)
            except RayActorError:
                self.drop(pings[ref])
        silent = [pings[ref] for ref in pending]
        if drop_pending:
            for wid in silent:
                self.drop(wid)
        return silent

    def infos(self) -> list[WorkerInfo]:
        # a snapshot: the driver's loop thread may start or release workers meanwhile
        return [WorkerInfo(w, slot.device) for w, (_, slot) in list(self.workers.items())]

    def handle(self, wid: str) -> Any:
        return self.workers[wid][0]

    def drop(self, wid: str) -> None:
        entry = self.workers.pop(wid, None)
        if entry is not None:
            try:
                ray.kill(entry[0], no_restart=True)
            except Exception:  # noqa: BLE001 - already dead
                pass

    def replace(self, wid: str) -> WorkerInfo | None:
        entry = self.workers.get(wid)
        if entry is None:
            return None
        slot = entry[1]
        self.drop(wid)
        new = self._start(slot)
        self._wait_ready([new], REPLACE_TIMEOUT_S)
        if new in self.workers:
            log.warning("worker %s lost; replaced by %s", wid, new)
            return WorkerInfo(new, slot.device)
        log.warning("worker %s lost and no replacement could start (node gone?)", wid)
        return None

    def shutdown(self) -> None:
        for wid in list(self.workers):
            self.drop(wid)

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for wid, (h, slot) in list(self.workers.items()):  # a snapshot (see infos)
            row = {
                "worker_id": wid,
                "device": slot.device,
                "num_cpus": slot.num_cpus,
                "num_gpus": slot.num_gpus,
            }
            try:
                row.update(ray.get(h.info.remote(), timeout=5))
            except (RayActorError, GetTimeoutError) as err:
                row["error"] = type(err).__name__
            out.append(row)
        return out


class RayExecutor:
    """Executor protocol of :mod:`threadx.sweep.controller` over the pool's actors."""

    def __init__(self, pool: WorkerPool, plan: SweepPlan, dataset_refs: list[Any]) -> None:
        # a plan dataset without a ref (a walk-forward fold's train slice) is put here, once
        refs = [
            r if r is not None else ray.put(d)
            for r, d in zip(dataset_refs, plan.datasets, strict=True)
        ]
        self.pool, self.plan, self.refs = pool, plan, refs
        self.spec_json = plan.spec.model_dump_json()
        pool.ensure()

    def workers(self) -> list[WorkerInfo]:
        return self.pool.infos()

    def submit(self, worker_id: str, task: Task) -> Any:
        h = self.pool.handle(worker_id)
        return h.run_task.remote([self.refs[task.dataset_index]], self.spec_json, _args(task))

    def submit_points(self, worker_id: str, task: Task, codes: Any) -> Any:
        """A search's batch: the task carries its coded points (asked by the sampler beside the
        controller, :class:`threadx.sweep.search.SampledExecutor`); the worker evaluates them."""
        h = self.pool.handle(worker_id)
        box = [self.refs[task.dataset_index]]
        return h.run_points.remote(box, self.spec_json, _args(task), codes)

    def wait(self, futures: list[Any], timeout: float) -> list[Any]:
        ready, _ = ray.wait(futures, num_returns=1, timeout=timeout)
        if ready:
            more, _ = ray.wait(futures, num_returns=len(futures), timeout=0)
            ready = list(dict.fromkeys([*ready, *more]))
        return ready

    def result(self, future: Any) -> Any:
        try:
            return ray.get(future)
        except (RayActorError, TaskCancelledError) as err:
            raise WorkerLost(type(err).__name__) from None
        except RayTaskError as err:
            if isinstance(err.cause, RayActorError):
                raise WorkerLost(type(err.cause).__name__) from None
            raise

    def replace_worker(self, worker_id: str) -> WorkerInfo | None:
        return self.pool.replace(worker_id)

    def cancel(self, future: Any) -> None:
        try:
            ray.cancel(future, force=False)
        except Exception:  # noqa: BLE001 - already finished or gone
            pass


def _args(task: Task) -> tuple[int, int, int, int, int]:
    """A task as the worker receives it (``Task(*args)`` there)."""
    return (task.task_id, task.dataset_index, task.start, task.stop, task.combo_offset)
