"""The steppable sweep controller (GUIDE.md #9): single-threaded, no Ray inside.

Each :meth:`SweepController.step` submits tasks until every live worker has ``inflight`` tasks in
flight, waits for at least one to finish, records finished ones (one results part each, written by
the controller only), and returns whether work remains. The executor is injected: the Ray driver
passes one over worker actors, tests pass fakes — so every scheduling and fault-tolerance rule
here is unit-testable.

Scheduling:

* ``weighted``: tasks are pre-assigned to devices so each device receives its configured share of
  *combinations* (greedy lowest-load-per-weight; within one task of exact). A device's workers pull
  only from its queue; if a device has no live worker left, its queue is handed to the others.
* ``adaptive``: one shared queue; whoever is free pulls the next task, so faster devices do more.
* ``max_running``: a cap on the tasks in flight in the whole run (``inflight`` is per worker): 1
  for a search whose next batch depends on the last one told (:mod:`threadx.sweep.search`).

Faults: a task whose worker died goes back to the front of its queue and the executor is asked to
replace the worker. Parts are keyed by task id and written atomically, so a task that completes
twice (Ray's at-least-once retries) still yields exactly one part.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from threadx.core.log import get_logger
from threadx.sweep.execute import device_counts
from threadx.sweep.plan import SweepPlan, Task
from threadx.sweep.results import RunStore
from threadx.sweep.states import RunState

log = get_logger(__name__)


class WorkerLost(Exception):
    """The worker running a task died; the task must be retried elsewhere."""


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    device: str  # device slot label, e.g. "5090", "2060", "cpu"


class Executor(Protocol):
    def workers(self) -> list[WorkerInfo]: ...

    def submit(self, worker_id: str, task: Task) -> Any: ...

    def wait(self, futures: list[Any], timeout: float) -> list[Any]: ...

    def result(self, future: Any) -> Any: ...  # the task's results part (Arrow table or frame)

    def replace_worker(self, worker_id: str) -> WorkerInfo | None: ...

    def cancel(self, future: Any) -> None: ...


class ThreadExecutor:
    """The shared part of the in-process executors (one worker called ``local``, the kernel on
    one background thread): a subclass submits work to ``self.pool``."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadx-kernel")

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo("local", self.backend)]

    def wait(self, futures: list[Any], timeout: float) -> list[Any]:
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        return [f for f in futures if f in done]  # in submission order

    def result(self, fut: Future) -> Any:
        return fut.result()

    def replace_worker(self, _worker_id: str) -> WorkerInfo | None:
        return None  # the one local worker is never lost

    def cancel(self, fut: Future) -> None:
        fut.cancel()

    def close(self) -> None:
        """Wait for the task still running (if any) and stop the thread."""
        self.pool.shutdown(wait=True, cancel_futures=True)


def assign_weighted(tasks: Iterable[Task], weights: dict[str, float]) -> dict[str, list[Task]]:
    """Greedy split of tasks over devices so that combinations follow the weights: each task goes
    to the device with the lowest ``(assigned + size) / weight``. Deviation <= one task."""
    load = {d: 0 for d in weights}
    out: dict[str, list[Task]] = {d: [] for d in weights}
    order = sorted(weights)
    for t in tasks:
        dev = min(order, key=lambda d: ((load[d] + t.size) / weights[d], d))
        out[dev].append(t)
        load[dev] += t.size
    return out


@dataclass
class Progress:
    total_tasks: int
    total_combos: int
    done_tasks: int = 0
    done_combos: int = 0
    bar_steps: int = 0
    started: float = field(default_factory=time.monotonic)
    per_device: dict[str, int] = field(default_factory=dict)  # combos done per device
    errors: list[str] = field(default_factory=list)
    retries: int = 0

    def snapshot(self, state: str) -> dict[str, Any]:
        el = time.monotonic() - self.started
        frac = self.done_combos / self.total_combos if self.total_combos else 1.0
        rate = self.bar_steps / el if el > 0 else 0.0
        eta = el * (1 - frac) / frac if 0 < frac < 1 else (0.0 if frac >= 1 else None)
        total = sum(self.per_device.values())
        shares = {d: n / total for d, n in self.per_device.items()} if total else {}
        return {
            "state": state,
            "done_tasks": self.done_tasks,
            "total_tasks": self.total_tasks,
            "done": self.done_combos,
            "total": self.total_combos,
            "fraction": frac,
            "elapsed_s": el,
            "bar_steps_per_s": rate,
            "eta_s": eta,
            "per_device": dict(self.per_device),
            "shares": shares,
            "errors": list(self.errors[-20:]),
            "retries": self.retries,
        }


class SweepController:
    """Drives one run to completion through an :class:`Executor`."""

    def __init__(
        self,
        plan: SweepPlan,
        store: RunStore,
        executor: Executor,
        *,
        weights: dict[str, float] | None = None,
        schedule: str = "weighted",
        inflight: int = 2,
        max_running: int | None = None,
        on_part: Callable[[Task, Any], None] | None = None,
    ) -> None:
        if schedule not in ("weighted", "adaptive"):
            raise ValueError(f"schedule {schedule!r}: must be 'weighted' or 'adaptive'")
        self.plan, self.store, self.ex = plan, store, executor
        self.schedule, self.inflight = schedule, max(1, inflight)
        # tasks in flight in the whole run (a search whose batch k + 1 depends on batch k: 1)
        self.max_running = max_running
        self.on_part = on_part
        done = store.done_tasks()
        todo = [t for t in plan.tasks if t.task_id not in done]
        self.progress = Progress(len(plan.tasks), plan.total)
        for t in plan.tasks:
            if t.task_id in done:
                self.progress.done_tasks += 1
                self.progress.done_combos += t.size
        devices = sorted({w.device for w in executor.workers()})
        if not devices:
            raise RuntimeError("no workers to run the sweep on")
        w = {d: float((weights or {}).get(d, 1.0)) for d in devices}
        self.weights = w
        if schedule == "weighted":
            self.queues: dict[str, deque[Task]] = {
                d: deque(ts) for d, ts in assign_weighted(todo, w).items()
            }
        else:
            self.queues = {"*": deque(todo)}
        self.running: dict[Any, tuple[str, Task]] = {}  # future -> (worker_id, task)
        self.paused = False
        self.cancelled = False
        self.pause_after: int | None = None  # pause once this many tasks are done

    # -- state -------------------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        return self.progress.done_tasks >= self.progress.total_tasks

    def state(self) -> str:
        if self.finished:
            return RunState.COMPLETED
        if self.cancelled:
            return RunState.CANCELLED
        return RunState.PAUSED if self.paused else RunState.RUNNING

    def status(self) -> dict[str, Any]:
        return self.progress.snapshot(self.state())

    def _queue_for(self, device: str) -> deque[Task]:
        return self.queues["*"] if self.schedule == "adaptive" else self.queues[device]

    # -- one step ----------------------------------------------------------------------------
    def _submit_all(self) -> None:
        if self.paused or self.cancelled:
            return
        self._rehome_orphaned_queues()
        load: dict[str, int] = {}
        for wid, _ in self.running.values():
            load[wid] = load.get(wid, 0) + 1
        for w in self.ex.workers():
            q = (
                self._queue_for(w.device)
                if w.device in self.queues or self.schedule == "adaptive"
                else deque()
            )
            while load.get(w.worker_id, 0) < self.inflight and q and not self._saturated():
                task = q.popleft()
                fut = self.ex.submit(w.worker_id, task)
                self.running[fut] = (w.worker_id, task)
                load[w.worker_id] = load.get(w.worker_id, 0) + 1

    def _saturated(self) -> bool:
        return self.max_running is not None and len(self.running) >= self.max_running

    def _rehome_orphaned_queues(self) -> None:
        """Weighted mode: a device without live workers hands its tasks to the others."""
        if self.schedule != "weighted":
            return
        live = {w.device for w in self.ex.workers()}
        for dev in [d for d in self.queues if d not in live and self.queues[d]]:
            targets = sorted(d for d in live if d in self.queues)
            if not targets:
                return
            moved = assign_weighted(self.queues[dev], {d: self.weights[d] for d in targets})
            for d, ts in moved.items():
                self.queues[d].extend(ts)
            log.warning(
                "device %s has no live worker; %d task(s) re-homed", dev, len(self.queues[dev])
            )
            self.queues[dev].clear()

    def step(self, timeout: float = 1.0) -> bool:
        """Submit, wait, record. Returns True while the run still has work (or is paused)."""
        if self.finished or (self.cancelled and not self.running):
            return False
        self._submit_all()
        if not self.running:
            if not self.paused and not self.cancelled and not self.ex.workers():
                raise RuntimeError(
                    f"run {self.store.run_id}: no live worker left and none could be replaced; "
                    f"{self.progress.total_tasks - self.progress.done_tasks} task(s) remain "
                    "(the run can be resumed)"
                )
            return not self.finished and not self.cancelled
        for fut in self.ex.wait(list(self.running), timeout):
            self._record(fut)
        return not self.finished and not (self.cancelled and not self.running)

    def _record(self, fut: Any) -> None:
        wid, task = self.running.pop(fut)
        try:
            part = self.ex.result(fut)
        except WorkerLost as err:
            self.progress.retries += 1
            self.progress.errors.append(f"task {task.task_id} lost on {wid}: {err}")
            log.warning("task %d lost on worker %s (%s); retrying", task.task_id, wid, err)
            self._requeue(wid, task)
            self.ex.replace_worker(wid)
            return
        self.store.write_part(task.task_id, part)
        p = self.progress
        p.done_tasks += 1
        p.done_combos += task.size
        p.bar_steps += self.plan.task_bar_steps(task)
        for dev, n in device_counts(part).items():
            p.per_device[dev] = p.per_device.get(dev, 0) + n
        if self.on_part is not None:
            self.on_part(task, part)
        if self.pause_after is not None and p.done_tasks >= self.pause_after:
            self.pause_after = None
            self.paused = True

    def _requeue(self, wid: str, task: Task) -> None:
        if self.schedule == "adaptive":
            self.queues["*"].appendleft(task)
            return
        dev = next((w.device for w in self.ex.workers() if w.worker_id == wid), None)
        if dev is None:  # the worker is gone: keep the task with the device it was assigned to
            dev = next((d for d, q in self.queues.items() if task in q), None) or min(self.queues)
        self.queues.setdefault(dev, deque()).appendleft(task)

    def run(self, timeout: float = 1.0, should_stop: Callable[[], bool] | None = None) -> str:
        while self.step(timeout):
            if should_stop is not None and should_stop():
                break
        return self.state()

    # -- control -----------------------------------------------------------------------------
    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def cancel(self) -> None:
        """Stop submitting, cancel what is in flight; finished parts stay on disk."""
        self.cancelled = True
        for fut in list(self.running):
            self.ex.cancel(fut)
        self.running.clear()
