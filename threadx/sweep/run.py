"""The run lifecycle, one for every way a sweep runs.

1. :func:`open_store` creates the run folder or verifies the stored one (same spec), and clears
   it for a fresh run;
2. a :class:`~threadx.sweep.controller.SweepController` steps the tasks that are not done yet
   through an executor and records one part per task (resume = skip the parts on disk);
3. :func:`finish_run` finalises a completed run: walk-forward first, then the overfitting report.

:func:`run_local` is that lifecycle with the :class:`InProcessExecutor` (this process, no Ray);
the SweepDriver's :class:`~threadx.sweep.service.SweepService` is the same lifecycle with the
Ray executor of ``actors/pool.py``, stepped from the driver's loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from threadx.core.errors import StoreError
from threadx.core.log import get_logger
from threadx.core.utc import now_iso
from threadx.data.store import OHLCVStore
from threadx.sweep.controller import SweepController, ThreadExecutor
from threadx.sweep.dataset import Dataset
from threadx.sweep.execute import PreparedDataset, prepare_dataset, run_task
from threadx.sweep.plan import SweepPlan, Task, check_memory, load_datasets, plan_sweep
from threadx.sweep.results import RunStore, pareto_front, rank_results, results_frame
from threadx.sweep.spec import SweepSpec, spec_to_toml
from threadx.sweep.states import RunState

log = get_logger(__name__)

ProgressFn = Callable[[dict[str, Any]], None]


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class SweepResult:
    """A finished (or partially finished) run, read from its folder (or, right after
    :func:`run_local`, from the results still in memory: the same rows)."""

    run_dir: Path
    spec: SweepSpec
    manifest: dict[str, Any]
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    def to_frame(self) -> pd.DataFrame:
        """One row per combination: ids, symbol, timeframe, task_id, every parameter and metric."""
        if self._frame is None:
            self._frame = self.store.load()
        return self._frame

    def ranked(
        self, by: list[str] | None = None, aggregate: str | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """Ranked rows (the best ``limit`` when given); ``aggregate`` (default: the spec's
        ``[rank] aggregate``) ``"median"`` or ``"worst"`` ranks each parameter combination
        across the datasets instead."""
        how = aggregate or self.spec.rank.aggregate
        return rank_results(
            self.to_frame(), by or self.spec.rank.by, how, self.spec.datasets(), limit=limit
        )

    def top(self, k: int | None = None, aggregate: str | None = None) -> pd.DataFrame:
        return self.ranked(aggregate=aggregate, limit=k or self.spec.rank.top_k)

    def pareto(self) -> pd.DataFrame:
        return pareto_front(self.to_frame())

    def export(self, path: Path, what: str = "all", aggregate: str | None = None) -> Path:
        from threadx.sweep.overfit import load_report
        from threadx.sweep.results import export

        make = {
            "all": lambda: self.ranked(aggregate=aggregate),
            "top": lambda: self.top(aggregate=aggregate),
            "pareto": self.pareto,
        }
        frame = make[what]()
        report = load_report(self.run_dir)  # None for an unfinished run
        return export(frame, path, self.store.spec_path.read_text(), report=report)


def open_run(run_dir: Path) -> SweepResult:
    from threadx.sweep.spec import load_spec

    store = RunStore(run_dir)
    return SweepResult(store.dir, load_spec(store.spec_path), store.read_manifest())


# -- 1. the run folder --------------------------------------------------------------------------
def open_store(
    plan: SweepPlan, runs_dir: Path, backend: str, *, fresh: bool = False, **manifest: Any
) -> RunStore:
    """The run's folder, created with its spec and manifest, or the stored one verified (the
    same spec fingerprint, else :class:`StoreError`: results are never mixed). ``fresh`` drops
    the stored parts. ``manifest`` adds keys (status, estimated bytes)."""
    store = RunStore(Path(runs_dir) / plan.run_id)
    if store.exists():
        if store.read_manifest().get("spec_fingerprint") != plan.spec.fingerprint():
            raise StoreError(
                f"run {plan.run_id}: stored spec differs from this spec; refusing to mix results"
            )
        if fresh:
            store.clear_results()
    store.create(spec_to_toml(plan.spec), {**plan.manifest(backend), **manifest})
    return store


# -- 2. executing tasks in this process ---------------------------------------------------------
class InProcessExecutor(ThreadExecutor):
    """The controller's executor in this process: one worker (the device ``backend``) whose
    tasks run one after the other on a background thread, on their dataset prepared once per
    run (:func:`~threadx.sweep.execute.prepare_dataset`). The kernel releases the GIL, so while
    it runs task k + 1 the controller records task k (Arrow -> Parquet, fsync): with two tasks
    in flight the host-side work of a part overlaps the next part's kernel."""

    def __init__(
        self, plan: SweepPlan, backend: str = "cpu", *, prepare_first: bool = False
    ) -> None:
        super().__init__(backend)
        self.plan = plan
        self.prepared: dict[int, PreparedDataset] = {}
        self.prepare_s = 0.0  # time spent preparing datasets (indicators, bits, P)
        if prepare_first and plan.tasks:
            # the first dataset's grid is prepared on the kernel thread while the caller opens
            # the run folder (file writes and fsyncs): the first task then finds it ready
            self.pool.submit(self.dataset, plan.tasks[0].dataset_index)

    def dataset(self, index: int) -> PreparedDataset:
        prep = self.prepared.get(index)
        if prep is None:
            t0 = time.perf_counter()
            # one dataset at a time: a finished dataset's grid is released before the next
            self.prepared.clear()
            prep = prepare_dataset(self.plan.spec, self.plan.datasets[index])
            self.prepared[index] = prep
            self.prepare_s += time.perf_counter() - t0
        return prep

    def _run(self, task: Task) -> pa.Table:
        return run_task(self.dataset(task.dataset_index), task, self.backend, self.backend)

    def submit(self, _worker_id: str, task: Task) -> Future:
        return self.pool.submit(self._run, task)


# -- 3. finishing -------------------------------------------------------------------------------
def finish_run(plan: SweepPlan, store: RunStore, frame: pd.DataFrame | None = None) -> None:
    """Finalise a completed run: the walk-forward report (test windows, reference simulation),
    then the overfitting report (``report.json``; logged, never raised). ``frame``: the run's
    results when the caller holds them already (else they are read from the parts)."""
    if store.read_manifest().get("status") != RunState.COMPLETED:
        return
    if plan.folds:
        from threadx.sweep.walkforward import write_walk_forward

        write_walk_forward(plan, store)
    if store.read_manifest().get("status") == RunState.COMPLETED:
        from threadx.sweep.overfit import finish_report

        finish_report(store.dir, frame=frame)


# -- the local run ------------------------------------------------------------------------------
def run_local(
    spec: SweepSpec,
    data_root: Path | str | None = None,
    backend: str = "auto",
    resume: bool = True,
    *,
    memory_budget_gb: float | None = None,
    progress: ProgressFn | None = None,
    max_tasks: int | None = None,
    datasets: list[Dataset] | None = None,
) -> SweepResult:
    """Run a sweep in this process (no Ray). ``resume=False`` recomputes every task.
    ``datasets``: the spec's datasets when the caller loaded them already (``load_datasets``).

    ``max_tasks`` stops after that many new tasks (the run stays resumable, ``interrupted``) --
    used to test interruption. Results land in ``{data_root}/runs/{run_id}``.
    """
    from threadx.core.config import load_config
    from threadx.kernels import prefer_sleeping_threads, resolve_backend

    prefer_sleeping_threads()
    cfg = load_config() if data_root is None or memory_budget_gb is None else None
    root = Path(data_root) if data_root is not None else cfg.data_root
    budget = memory_budget_gb if memory_budget_gb is not None else cfg.sweep.memory_budget_gb
    resolved = resolve_backend(spec.backend if backend == "auto" else backend)
    if datasets is None:
        datasets = load_datasets(spec, OHLCVStore(root))
    need = check_memory(spec, datasets, budget)
    plan = plan_sweep(spec, datasets, gpu=resolved == "gpu")
    if spec.search.sampling:
        return _search_in_process(plan, root, resolved, resume, need, progress, max_tasks)
    executor = InProcessExecutor(plan, resolved, prepare_first=True)
    try:
        store = _open_running(plan, root, resolved, resume, need)
        return _run_in_process(plan, store, executor, progress, max_tasks)
    finally:
        executor.close()


def _open_running(plan: SweepPlan, root: Path, backend: str, resume: bool, need: int) -> RunStore:
    """The run folder under ``{root}/runs``, running from the moment it is opened (one manifest
    write, not two); ``resume=False`` starts it afresh."""
    return open_store(
        plan,
        root / "runs",
        backend,
        fresh=not resume,
        estimated_bytes=need,
        status=RunState.RUNNING,
        started=now_iso(),
    )


def _search_in_process(
    plan: SweepPlan,
    root: Path,
    backend: str,
    resume: bool,
    need: int,
    progress: ProgressFn | None,
    max_tasks: int | None,
) -> SweepResult:
    """A sampling ``[search]`` (threadx.sweep.search): the same lifecycle, batches of trials
    as tasks; a fresh run also starts a fresh study."""
    from threadx.sweep.search import search_executor
    from threadx.sweep.study import JOURNAL

    store = _open_running(plan, root, backend, resume, need)
    if not resume:
        (store.dir / JOURNAL).unlink(missing_ok=True)
    executor = search_executor(plan, backend, store)
    try:
        return _run_in_process(plan, store, executor, progress, max_tasks)
    finally:
        executor.close()


def _run_in_process(
    plan: SweepPlan,
    store: RunStore,
    executor: Any,
    progress: ProgressFn | None,
    max_tasks: int | None,
) -> SweepResult:
    """``executor``: an :class:`InProcessExecutor`, or a search's executor
    (:class:`threadx.sweep.search.SampledExecutor`: told each stored part, progress and
    manifest extras, its own depth)."""
    parts: dict[int, pa.Table] = {}
    recorded = getattr(executor, "recorded", None)

    def on_part(task: Task, part: pa.Table) -> None:
        parts[task.task_id] = part
        if recorded is not None:
            recorded(task, part)

    extra = getattr(executor, "progress_extra", dict)
    ctl = SweepController(
        plan,
        store,
        executor,
        schedule="adaptive",
        # two in flight: a part is written while the next one's kernel runs; one when the run
        # must stop after exactly max_tasks tasks (or when each batch depends on the last)
        inflight=min(getattr(executor, "inflight", 2), 2 if max_tasks is None else 1),
        max_running=getattr(executor, "max_running", None),
        on_part=on_part,
    )
    already = ctl.progress.done_tasks
    log.info("run %s: %d task(s), %d already done", plan.run_id, len(plan.tasks), already)
    if max_tasks is not None:
        ctl.pause_after = already + max_tasks
    t0 = time.perf_counter()
    more, seen = True, ctl.progress.done_tasks
    while more:
        more = ctl.step()
        if progress is not None and ctl.progress.done_tasks != seen:
            seen = ctl.progress.done_tasks
            progress({**ctl.status(), **extra()})
        if ctl.paused:
            store.update_manifest(status=RunState.INTERRUPTED)
            return open_run(store.dir)
    wall = time.perf_counter() - t0
    steps = ctl.progress.bar_steps
    manifest = {
        **store.read_manifest(),
        "status": RunState.COMPLETED,
        "finished": now_iso(),
        "wall_s": wall,
        "bar_steps_per_s": steps / wall if wall > 0 else None,
        "prepare_s": executor.prepare_s,
        "device_shares": {executor.backend: 1.0},
        "peak_rss_bytes": peak_rss_bytes(),
        **getattr(executor, "manifest_extra", dict)(),
    }
    if len(parts) != len(plan.tasks) or plan.folds:  # resumed, or walk-forward: from disk
        store.write_manifest(manifest)
        finish_run(plan, store)
        return open_run(store.dir)
    # every part was computed here: the results and the manifest are in memory, so the report
    # is computed while the manifest that says "completed" is made durable (fsyncs), and
    # written after it
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="threadx-finish") as io:
        written = io.submit(store.write_manifest, manifest)
        frame = results_frame([parts[t.task_id] for t in plan.tasks])
        parts.clear()
        from threadx.sweep.overfit import finish_report

        finish_report(
            store.dir, frame=frame, manifest=manifest, spec=plan.spec, before_write=written.result
        )
        written.result()  # a failed manifest write is the run's error, never only the report's
    result = SweepResult(store.dir, plan.spec, store.read_manifest())
    result._frame = frame
    return result
