"""An in-process executor for :class:`threadx.sweep.service.SweepService` tests (no Ray): one
worker that runs each task with the real kernel when its result is asked for; and a service that
uses it."""

from __future__ import annotations

from typing import Any

from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample
from threadx.sweep.controller import WorkerInfo
from threadx.sweep.execute import execute_task
from threadx.sweep.plan import load_datasets
from threadx.sweep.service import SweepService


class InlineExecutor:
    def __init__(self, plan: Any) -> None:
        self.plan, self.pending = plan, {}

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo("w0", "cpu")]

    def submit(self, _worker_id: str, task: Any) -> object:
        fut = object()
        self.pending[fut] = task
        return fut

    def wait(self, futures: list[Any], _timeout: float) -> list[Any]:
        return list(futures)

    def result(self, fut: object) -> Any:
        task = self.pending.pop(fut)
        return execute_task(self.plan.datasets[task.dataset_index], self.plan.spec, task)

    def replace_worker(self, _worker_id: str) -> None:
        return None

    def cancel(self, fut: object) -> None:
        self.pending.pop(fut, None)


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
