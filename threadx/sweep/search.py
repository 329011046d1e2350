"""Search beyond the grid: a batch of trials per chunk, through the fused kernel.

A sampling ``[search]`` (:class:`~threadx.sweep.spec.SearchSpec`) plans ``trials`` result rows
per dataset in tasks of ``batch`` (:func:`threadx.sweep.plan.plan_sweep`); a task is a batch of
trials, its rows get the combo ids ``dataset x trials + ordinal`` and its part is written like a
grid chunk's, so the ranking, the Pareto front and the overfitting report read search runs
unchanged (the report counts every evaluated trial: DSR deflates by them).

* ``random`` / ``sobol``: the points are :meth:`SearchSpace.draw`'s, fixed by the seed before the
  run starts (the same on every dataset, and on every walk-forward fold's train window); batches
  are independent (two in flight per worker).
* ``tpe`` / ``nsga2``: Optuna's samplers through ask/tell (:mod:`threadx.sweep.study`), one study
  per dataset (per walk-forward fold: ``symbol/timeframe/foldN``) in the run folder's journal;
  batch ``k + 1`` is asked after batch ``k`` is stored and told (one batch in flight in the
  whole run). A suggestion already evaluated is told its stored values and not evaluated again;
  ``trials`` counts distinct evaluated combinations.

``[search] halving`` (:mod:`threadx.sweep.halving`): a batch's evaluation runs its stages one
after the other (:func:`evaluate_batch`, here and on a Ray worker), each on a prefix of the bars;
the part holds a row per (trial, stage). The sampler counts the trials (any stage), tracks the
best and tells a study the full-length rows only.

The sampler (:class:`SearchSampler`) lives where the controller runs; the evaluation is anyone's
``submit_points(worker_id, task, codes)``: :class:`PointsExecutor` in this process, the Ray
workers under the SweepDriver (the task carries its coded points). :class:`SampledExecutor`
joins the two into the controller's :class:`~threadx.sweep.controller.Executor`: it asks the
sampler when the controller submits a task, and the controller, after writing each part, calls
:meth:`SampledExecutor.recorded` (the tell). Resume = the parts on disk and the study: every
trial is a row exactly once (under halving: every (trial, stage)).
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future
from typing import Any

import numpy as np
import pyarrow as pa

from threadx.strategy.pack import IndicatorFn, compute_indicator
from threadx.sweep.controller import ThreadExecutor
from threadx.sweep.dataset import Dataset
from threadx.sweep.execute import PreparedDataset, prepare_columns, run_task
from threadx.sweep.halving import STAGE_COLUMN, run_stages
from threadx.sweep.plan import SweepPlan, Task
from threadx.sweep.results import RunStore, full_length, trial_count
from threadx.sweep.space import SearchSpace
from threadx.sweep.spec import SweepSpec


# -- evaluation (anywhere: this process or a worker) ----------------------------------------------
class IndicatorMemo:
    """One dataset's indicator rows at a time, each computed once: a search's batches ask for
    the same rows again and again (under halving, on each stage's prefix of the bars)."""

    def __init__(self) -> None:
        self.key: Any = None
        self.arrays: dict[tuple, np.ndarray] = {}

    def function(self, key: Any, dataset: Dataset) -> IndicatorFn:
        """The indicator function of ``dataset`` (``key`` names it; another key clears; a
        prefix of the dataset's bars is told apart by its length)."""
        if key != self.key:
            self.arrays.clear()
            self.key = key
        ohlc = (dataset.open, dataset.high, dataset.low, dataset.close)
        n = dataset.n_bars

        def indicator(name: str, args: tuple) -> np.ndarray:
            if (n, name, args) not in self.arrays:
                self.arrays[(n, name, args)] = compute_indicator(name, args, *ohlc)
            return self.arrays[(n, name, args)]

        return indicator


def prepare_points(
    space: SearchSpace, dataset: Dataset, blocks: int, codes: np.ndarray, indicator_fn: IndicatorFn
) -> PreparedDataset:
    """A batch's coded points (rows of :meth:`SearchSpace.draw` / a study's asks) on
    ``dataset``, ready for the kernel."""
    return prepare_columns(space.columns(codes), dataset, blocks, indicator_fn)


def run_points(prep: PreparedDataset, task: Task, backend: str, device: str) -> pa.Table:
    """The part of ``task`` from its prepared points: rows ``0..n`` of ``prep`` with the combo
    ids ``task.combo_offset + task.start + i`` (a short batch keeps its first id)."""
    sub = Task(task.task_id, task.dataset_index, 0, prep.n_combos, task.combo_offset + task.start)
    return run_task(prep, sub, backend, device)


def evaluate_batch(
    spec: SweepSpec,
    space: SearchSpace,
    dataset: Dataset,
    memo: tuple[IndicatorMemo, Any],
    task: Task,
    codes: np.ndarray,
    backend: str,
    device: str,
    timings: dict[str, float] | None = None,
) -> pa.Table:
    """The part of a search's batch ``task`` (its coded points ``codes`` on ``dataset``): one
    kernel call, or under ``[search] halving`` one per stage on a prefix of the bars
    (:func:`threadx.sweep.halving.run_stages`). The one evaluation of a batch, in this process
    (:class:`PointsExecutor`) and on a Ray worker (``BacktestWorker.run_points``). ``memo``:
    the indicator memo and the dataset's key in it; ``timings`` gets ``prepare_s`` (indicators,
    packing) and ``kernel_s`` added."""
    times = timings if timings is not None else {}

    def on_bars(points: np.ndarray, bars: int) -> pa.Table:
        t0 = time.perf_counter()
        ds = dataset if bars == dataset.n_bars else dataset.head(bars)
        fn = memo[0].function(memo[1], ds)
        prep = prepare_points(space, ds, spec.report.blocks, points, fn)
        t1 = time.perf_counter()
        part = run_points(prep, task, backend, device)
        times["prepare_s"] = times.get("prepare_s", 0.0) + t1 - t0
        times["kernel_s"] = times.get("kernel_s", 0.0) + time.perf_counter() - t1
        return part

    halving = spec.search.halving
    if halving is None:
        return on_bars(codes, dataset.n_bars)
    first = task.combo_offset + task.start
    return run_stages(codes, dataset.n_bars, halving, spec.rank.by[0], first, on_bars)


class PointsExecutor(ThreadExecutor):
    """Evaluation in this process (one worker, the kernel on a background thread, like
    :class:`threadx.sweep.run.InProcessExecutor`): ``submit_points`` runs a batch's points; the
    part carries its timings (:func:`with_timings`), as a Ray worker's does."""

    def __init__(self, plan: SweepPlan, backend: str) -> None:
        super().__init__(backend)
        self.plan = plan
        self.space = SearchSpace.from_spec(plan.spec)
        self.memo = IndicatorMemo()

    def submit_points(self, _worker_id: str, task: Task, codes: np.ndarray) -> Future:
        return self.pool.submit(self.evaluate, task, codes)

    def evaluate(self, task: Task, codes: np.ndarray) -> pa.Table:
        ds = self.plan.datasets[task.dataset_index]
        memo = (self.memo, task.dataset_index)
        spec, b, times = self.plan.spec, self.backend, {}
        part = evaluate_batch(spec, self.space, ds, memo, task, codes, b, b, times)
        return with_timings(part, times)


def search_status(
    method: str, evaluated: int | None, budget: int | None, metric: str | None, best: Any
) -> dict[str, Any]:
    """The status keys of a search run: method, trials evaluated / budget, the best so far (a
    finite value of ``metric``, else None); from the live sampler or a run's manifest."""
    ok = metric and isinstance(best, int | float) and math.isfinite(best)
    return {
        "search": method,
        "evaluated": evaluated,
        "budget": budget,
        "best": {"metric": metric, "value": best} if ok else None,
    }


# -- the sampler (where the controller runs) ------------------------------------------------------
class SearchSampler:
    """A run's points: the seeded draw (random/sobol) or the Optuna studies (tpe/nsga2); the
    trials evaluated and the best so far."""

    def __init__(self, plan: SweepPlan, store: RunStore) -> None:
        se = plan.spec.search
        self.plan, self.store = plan, store
        self.space = SearchSpace.from_spec(plan.spec)
        self.method = se.method
        self.inflight = 1 if se.learns else 2  # per worker
        self.max_running = 1 if se.learns else None  # in the whole run
        self.ask_s = 0.0  # drawing the points, or Optuna's asks (window and record included)
        self.tell_s = 0.0  # Optuna's tells
        self.evaluated = 0
        by = plan.spec.rank.by[0]
        self.best_metric, self._lower = by.lstrip("+-"), by.startswith("-")
        self.best: float | None = None
        self.best_curve: list[tuple[int, float]] = []  # (trials evaluated, best so far)
        self.ask_curve: list[tuple[int, float]] = []
        self.points: np.ndarray | None = None
        self.study: Any = None
        t0 = time.perf_counter()
        if se.learns:
            from threadx.sweep.study import BatchStudy

            self.study = BatchStudy(plan, store, self.space)
        else:
            # the seeded draw, grouped so that a batch shares its indicator rows and crossings
            self.points = self.space.batch_order(self.space.draw(se.method, se.seed, se.trials))
        self.ask_s += time.perf_counter() - t0
        self._restore_best()

    def ask(self, task: Task) -> np.ndarray:
        """The coded points of ``task`` (int32, one row per trial)."""
        t0 = time.perf_counter()
        if self.study is None:
            codes = self.points[task.start : task.stop]
            self.ask_s += time.perf_counter() - t0
            return codes
        asks = self.study.asks
        codes = self.study.ask(task)
        dt = time.perf_counter() - t0
        self.ask_s += dt
        # (trials evaluated, seconds per ask of this batch): how the sampler's cost grows
        self.ask_curve.append((self.evaluated, dt / max(1, self.study.asks - asks)))
        return codes

    def recorded(self, task: Task, part: pa.Table) -> None:
        """After the controller stored ``task``'s part: tell the sampler its full-length rows
        (under halving, the trials left out at an earlier stage are absent: pruned), count the
        trials evaluated (at any stage), track the best (on the full data)."""
        full = full_length(part)
        if self.study is not None:
            t0 = time.perf_counter()
            self.study.tell(task, full)
            self.tell_s += time.perf_counter() - t0
        self.evaluated += trial_count(part)
        self._track(full)

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

        cols = [self.best_metric]
        if self.plan.spec.search.halving is not None:
            cols += ["combo_id", STAGE_COLUMN]
        for tid in sorted(done):
            part = pq.read_table(self.store.part_path(tid), columns=cols)
            self.evaluated += trial_count(part)
            self._track(full_length(part))

    def progress_extra(self) -> dict[str, Any]:
        """The status keys of a search (:func:`search_status`)."""
        return search_status(
            self.method, self.evaluated, self.plan.total, self.best_metric, self.best
        )

    def manifest_extra(self, **timings: float) -> dict[str, Any]:
        """``search_stats`` for the manifest (``timings``: the evaluator's, when it has them)."""
        study = self.study
        counts = (
            {"asks": study.asks, "duplicates": study.duplicates, "window": study.window_trials}
            if study
            else {}
        )
        return {
            "search_stats": {
                "evaluated": self.evaluated,
                "sample_s": self.ask_s + self.tell_s,
                "ask_s": self.ask_s,
                "tell_s": self.tell_s,
                **timings,
                "best": self.best,
                "best_metric": self.best_metric,
                "best_curve": self.best_curve[-2000:],
                "ask_curve": self.ask_curve[:1000] + self.ask_curve[1000:][-1000:],
                **counts,
            }
        }


TIMINGS_KEY = b"threadx:timings"


def with_timings(part: pa.Table, timings: dict[str, float]) -> pa.Table:
    """``part`` carrying its evaluation's ``timings`` (``prepare_s``, ``kernel_s``; from this
    process or a Ray worker) to :class:`SampledExecutor`, which takes them off before the part
    is stored."""
    meta = dict(part.schema.metadata or {})
    meta[TIMINGS_KEY] = json.dumps(timings).encode()
    return part.replace_schema_metadata(meta)


def take_timings(part: pa.Table) -> tuple[pa.Table, dict[str, float]]:
    """``part`` without the timings :func:`with_timings` put on it, and those timings."""
    meta = dict(part.schema.metadata or {}) if isinstance(part, pa.Table) else {}
    raw = meta.pop(TIMINGS_KEY, None)
    if raw is None:
        return part, {}
    return part.replace_schema_metadata(meta or None), json.loads(raw)


class SampledExecutor:
    """The controller's executor for a sampling run: :meth:`submit` asks the sampler for the
    task's points and hands them to ``inner.submit_points``; :meth:`result` takes off and adds up
    the timings each part carries; everything else of the
    :class:`~threadx.sweep.controller.Executor` protocol (workers, wait, replace, cancel, close)
    is ``inner``'s."""

    def __init__(self, inner: Any, sampler: SearchSampler) -> None:
        self.inner, self.sampler = inner, sampler
        self.inflight, self.max_running = sampler.inflight, sampler.max_running
        self.asked: dict[int, np.ndarray] = {}  # points of the tasks not recorded yet
        # the evaluators' seconds (indicators and packing; the kernel calls), summed over parts
        self.timings: dict[str, float] = {"prepare_s": 0.0, "kernel_s": 0.0}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def prepare_s(self) -> float:
        return self.timings["prepare_s"]

    def submit(self, worker_id: str, task: Task) -> Any:
        """A task submitted again (its worker was lost) carries the points it was asked for."""
        codes = self.asked.get(task.task_id)
        if codes is None:
            codes = self.asked[task.task_id] = self.sampler.ask(task)
        return self.inner.submit_points(worker_id, task, codes)

    def result(self, future: Any) -> Any:
        """The part of a finished batch; the timings its evaluator sent with it are added up."""
        part, timings = take_timings(self.inner.result(future))
        for k, v in timings.items():
            self.timings[k] = self.timings.get(k, 0.0) + v
        return part

    def recorded(self, task: Task, part: pa.Table) -> None:
        self.asked.pop(task.task_id, None)
        self.sampler.recorded(task, part)

    def progress_extra(self) -> dict[str, Any]:
        return self.sampler.progress_extra()

    def manifest_extra(self) -> dict[str, Any]:
        return self.sampler.manifest_extra(**self.timings)


def search_executor(plan: SweepPlan, backend: str, store: RunStore) -> SampledExecutor:
    """A sampling run in this process: the sampler and the kernel's thread here."""
    return SampledExecutor(PointsExecutor(plan, backend), SearchSampler(plan, store))
