"""An in-process executor for :class:`threadx.sweep.service.SweepService` tests (no Ray): one
worker that runs each task (a grid chunk, or a search batch's coded points) with the real kernel
when its result is asked for; and a service that uses it."""

from __future__ import annotations

from typing import Any

from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample
from threadx.sweep.controller import WorkerInfo
from threadx.sweep.execute import execute_task
from threadx.sweep.plan import load_datasets
from threadx.sweep.search import IndicatorMemo, evaluate_batch
from threadx.sweep.service import SweepService
from threadx.sweep.space import SearchSpace


class InlineExecutor:
    def __init__(self, plan: Any) -> None:
        self.plan, self.pending, self.points = plan, {}, {}
        self.memo = IndicatorMemo()
        self.peak = 0

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo("w0", "cpu")]

    def submit(self, _worker_id: str, task: Any) -> object:
        fut = object()
        self.pending[fut] = task
        self.peak = max(self.peak, len(self.pending))  # most tasks in flight at once
        return fut

    def wait(self, futures: list[Any], _timeout: float) -> list[Any]:
        return list(futures)

    def submit_points(self, worker_id: str, task: Any, codes: Any) -> object:
        """A search's batch: ``codes`` evaluated on its dataset when the result is asked for."""
        fut = self.submit(worker_id, task)
        self.points[fut] = codes
        return fut

    def result(self, fut: object) -> Any:
        task = self.pending.pop(fut)
        ds = self.plan.datasets[task.dataset_index]
        codes = self.points.pop(fut, None)
        if codes is None:
            return execute_task(ds, self.plan.spec, task)
        space = SearchSpace.from_spec(self.plan.spec)
        memo = (self.memo, task.dataset_index)
        return evaluate_batch(self.plan.spec, space, ds, memo, task, codes, "cpu", "cpu")

    def replace_worker(self, _worker_id: str) -> None:
        return None

    def cancel(self, fut: object) -> None:
        self.pending.pop(fut, None)
        self.points.pop(fut, None)


def inline_service(store: OHLCVStore) -> SweepService:
    """A service over ``store`` (the bundled sample stored in it) whose tasks run inline: each
    loaded dataset is its own handle, a 2 GB memory budget."""
    ensure_sample(store)

    def load(spec: Any) -> tuple[list[Any], list[Any]]:
        ds = load_datasets(spec, store)
        return ds, list(ds)

    return SweepService(
        store.data_root, load, lambda plan, _h: InlineExecutor(plan), memory_budget_gb=2
    )
