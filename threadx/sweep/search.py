"""Search beyond the grid: a batch of trials per chunk, through the fused kernel, in this process.

A sampling ``[search]`` (:class:`~threadx.sweep.spec.SearchSpec`) plans ``trials`` result rows
per dataset in tasks of ``batch`` (:func:`threadx.sweep.plan.plan_sweep`); a task is a batch of
trials, its rows get the combo ids ``dataset x trials + ordinal`` and its part is written like a
grid chunk's, so the ranking, the Pareto front and the overfitting report read search runs
unchanged (the report counts every evaluated trial: DSR deflates by them).

* ``random`` / ``sobol``: the points are :meth:`SearchSpace.draw`'s, fixed by the seed before the
  run starts (the same on every dataset); batches are independent (two in flight, as grids).
* ``tpe`` / ``nsga2``: Optuna's samplers through ask/tell (:mod:`threadx.sweep.study`), one study
  per dataset in the run folder's journal; batch ``k + 1`` is asked after batch ``k`` is stored
  and told (one in flight). A suggestion already evaluated is told its stored values and not
  evaluated again; ``trials`` counts distinct evaluated combinations.

The executor follows :class:`threadx.sweep.controller.Executor`: the controller submits tasks,
writes each part, then calls :meth:`SearchExecutor.recorded` (the tell). Resume = the parts on
disk and the study: every trial is a row exactly once.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import pyarrow as pa

from threadx.strategy.pack import compute_indicator
from threadx.sweep.controller import ThreadExecutor
from threadx.sweep.execute import prepare_columns, run_task
from threadx.sweep.plan import SweepPlan, Task
from threadx.sweep.results import RunStore
from threadx.sweep.space import SearchSpace

OPTUNA_METHODS = ("tpe", "nsga2")


class SearchExecutor(ThreadExecutor):
    """The controller's executor for a sampling run in this process (one worker, the kernel on
    a background thread, like :class:`threadx.sweep.run.InProcessExecutor`)."""

    def __init__(self, plan: SweepPlan, backend: str, store: RunStore) -> None:
        super().__init__(backend)
        se = plan.spec.search
        self.plan, self.store = plan, store
        self.space = SearchSpace.from_spec(plan.spec)
        self.method = se.method
        self.inflight = 1 if se.method in OPTUNA_METHODS else 2
        self.prepare_s = 0.0  # indicators and packing (per batch)
        self.kernel_s = 0.0
        self.sample_s = 0.0  # drawing points, or Optuna's ask/tell
        self.evaluated = 0
        by = plan.spec.rank.by[0]
        self.best_metric, self._lower = by.lstrip("+-"), by.startswith("-")
        self.best: float | None = None
        self.best_curve: list[tuple[int, float]] = []  # (trials evaluated, best so far)
        self._memo: dict[tuple, np.ndarray] = {}
        self._memo_dataset: int | None = None
        self.points: np.ndarray | None = None
        self.study: Any = None
        t0 = time.perf_counter()
        if se.method in OPTUNA_METHODS:
            from threadx.sweep.study import BatchStudy

            self.study = BatchStudy(plan, store, self.space)
        else:
            self.points = self.space.draw(se.method, se.seed, se.trials)
        self.sample_s += time.perf_counter() - t0
        self._restore_best()

    # -- the Executor protocol --------------------------------------------------------------
    def submit(self, _worker_id: str, task: Task) -> Future:
        t0 = time.perf_counter()
        if self.study is not None:
            codes = self.study.ask(task)
        else:
            codes = self.points[task.start : task.stop]
        self.sample_s += time.perf_counter() - t0
        return self.pool.submit(self.evaluate, task, codes)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(self, task: Task, codes: np.ndarray) -> pa.Table:
        """The part of ``task``: its points through the fused kernel, rows ``task.start +
        0..len(codes)`` of its dataset (combo ids ``task.combo_offset + task.start + i``)."""
        t0 = time.perf_counter()
        ds = self.plan.datasets[task.dataset_index]
        if self._memo_dataset != task.dataset_index:  # one dataset's indicators at a time
            self._memo.clear()
            self._memo_dataset = task.dataset_index
        ohlc = (ds.open, ds.high, ds.low, ds.close)

        def indicator(name: str, args: tuple) -> np.ndarray:
            key = (name, args)
            if key not in self._memo:
                self._memo[key] = compute_indicator(name, args, *ohlc)
            return self._memo[key]

        cols = self.space.columns(codes)
        prep = prepare_columns(cols, ds, self.plan.spec.report.blocks, indicator)
        t1 = time.perf_counter()
        sub = Task(task.task_id, task.dataset_index, 0, len(codes), task.combo_offset + task.start)
        part = run_task(prep, sub, self.backend, self.backend)
        self.prepare_s += t1 - t0
        self.kernel_s += time.perf_counter() - t1
        return part

    def recorded(self, task: Task, part: pa.Table) -> None:
        """After the controller stored ``task``'s part: tell the sampler, track the best."""
        if self.study is not None:
            t0 = time.perf_counter()
            self.study.tell(task, part)
            self.sample_s += time.perf_counter() - t0
        self.evaluated += part.num_rows
        self._track(part)

    def _track(self, part: pa.Table) -> None:
        if part.num_rows == 0:
            return
        v = part.column(self.best_metric).to_numpy(zero_copy_only=False).astype(np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            cand = float(v.min() if self._lower else v.max())
            if self.best is None or (cand < self.best if self._lower else cand > self.best):
                self.best = cand
        if self.best is not None:
            self.best_curve.append((self.evaluated, self.best))

    def _restore_best(self) -> None:
        """A resumed run's best so far and count, from the parts on disk."""
        done = self.store.done_tasks()
        if not done:
            return
        import pyarrow.parquet as pq

        for tid in sorted(done):
            part = pq.read_table(self.store.part_path(tid), columns=[self.best_metric])
            self.evaluated += part.num_rows
            self._track(part)

    # -- reporting --------------------------------------------------------------------------
    def progress_extra(self) -> dict[str, Any]:
        best = self.best if self.best is not None and math.isfinite(self.best) else None
        return {
            "search": self.method,
            "evaluated": self.evaluated,
            "budget": self.plan.total,
            "best": None if best is None else {"metric": self.best_metric, "value": best},
        }

    def manifest_extra(self) -> dict[str, Any]:
        study = self.study
        counts = {"asks": study.asks, "duplicates": study.duplicates} if study else {}
        return {
            "search_stats": {
                "evaluated": self.evaluated,
                "sample_s": self.sample_s,
                "prepare_s": self.prepare_s,
                "kernel_s": self.kernel_s,
                "best": self.best,
                "best_curve": self.best_curve[-2000:],
                **counts,
            }
        }
