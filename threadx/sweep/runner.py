"""Planning and running sweeps without Ray (notebooks, tests, and each Ray worker's inner loop).

A sweep is planned into *tasks*: contiguous row ranges of one dataset's grid (a dataset is one
(symbol, timeframe)). Grid rows are ordered with indicator parameters outermost, so a task needs
few distinct indicator rows. :func:`execute_task` is a pure function of (dataset, spec, task): the
Ray workers call it too, so local and distributed runs give identical parts.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from threadx import __version__
from threadx.data.store import OHLCVStore
from threadx.errors import ConfigError, StoreError
from threadx.log import get_logger
from threadx.sweep.dataset import Dataset, load_dataset
from threadx.sweep.results import RunStore, now_iso, pareto_front, rank_results, results_frame
from threadx.sweep.spec import SweepSpec, spec_to_toml

log = get_logger(__name__)
RESULTS_VERSION = 2  # bump when kernel semantics change: old runs then get new ids
# 2: skewness, kurtosis and block return sums after the metrics
TARGET_BAR_STEPS_PER_TASK = 2e8


@dataclass(frozen=True)
class Task:
    task_id: int
    dataset_index: int
    start: int  # first row of the dataset's grid
    stop: int  # one past the last row
    combo_offset: int  # combo_id of the dataset's row 0

    @property
    def size(self) -> int:
        return self.stop - self.start

    def combo_ids(self) -> np.ndarray:
        return self.combo_offset + np.arange(self.start, self.stop, dtype=np.int64)


GPU_TASK_COMBOS = 262_144  # one thread per combination: a launch must fill the GPU


def auto_chunk_size(n_bars: int, per_dataset: int, gpu: bool = False) -> int:
    """Combinations per task. CPU: about TARGET_BAR_STEPS_PER_TASK of work, and at least 16 tasks
    per dataset when the grid allows it, so every worker of a small cluster gets several. GPU:
    large launches (up to GPU_TASK_COMBOS threads), since occupancy needs >100k threads."""
    if gpu:
        return max(1, min(per_dataset, GPU_TASK_COMBOS))
    by_work = int(TARGET_BAR_STEPS_PER_TASK // max(n_bars, 1))
    by_count = math.ceil(per_dataset / 16)
    return max(1, min(by_work, by_count, 65_536, per_dataset), min(16, per_dataset))


@dataclass(frozen=True)
class SweepPlan:
    spec: SweepSpec
    datasets: tuple[Dataset, ...]
    chunk_size: int
    tasks: tuple[Task, ...]
    run_id: str
    # walk-forward: ``datasets`` are the folds' train slices, ``sources`` the loaded datasets
    # and ``folds`` one threadx.sweep.walkforward.Fold per slice; else both empty
    sources: tuple[Dataset, ...] = ()
    folds: tuple[Any, ...] = ()

    @property
    def total(self) -> int:
        return self.spec.combos_per_dataset() * len(self.datasets)

    @property
    def bar_steps(self) -> int:
        per = self.spec.combos_per_dataset()
        return sum(d.n_bars * per for d in self.datasets)

    def task_bar_steps(self, task: Task) -> int:
        return task.size * self.datasets[task.dataset_index].n_bars

    def manifest(self, backend: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "name": self.spec.name, "status": "created",
            "created": now_iso(), "threadx_version": __version__,
            "results_version": RESULTS_VERSION, "spec_fingerprint": self.spec.fingerprint(),
            "backend": backend, "total_combos": self.total, "chunk_size": self.chunk_size,
            "n_tasks": len(self.tasks), "bar_steps": self.bar_steps,
            "datasets": [d.describe() for d in self.sources or self.datasets],
            **({"walk_forward": [f.describe() for f in self.folds]} if self.folds else {}),
        }  # fmt: skip


def plan_sweep(spec: SweepSpec, datasets: list[Dataset], gpu: bool = False) -> SweepPlan:
    """Cut the sweep into tasks; ``gpu`` (workers run the GPU kernel) selects big tasks. With
    ``[walk_forward]`` the tasks cover (dataset x fold x chunk of the grid) on train slices."""
    sources, folds = tuple(datasets), ()
    if spec.walk_forward is not None:
        from threadx.sweep.walkforward import fold_datasets

        folds, datasets = fold_datasets(spec, datasets)
    per = spec.combos_per_dataset()
    n_bars = max(d.n_bars for d in datasets)
    chunk = spec.chunk_size or auto_chunk_size(n_bars, per, gpu)
    tasks, tid = [], 0
    for di in range(len(datasets)):
        for start in range(0, per, chunk):
            tasks.append(Task(tid, di, start, min(start + chunk, per), di * per))
            tid += 1
    ident = {
        "spec": spec.fingerprint(), "data": [d.fingerprint() for d in sources],
        "chunk_size": chunk, "results_version": RESULTS_VERSION,
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
    return SweepPlan(spec, tuple(datasets), chunk, tuple(tasks), f"{spec.name}-{digest[:12]}",
                     sources if folds else (), tuple(folds))  # fmt: skip


def load_datasets(spec: SweepSpec, store: OHLCVStore) -> list[Dataset]:
    d = spec.data
    return [
        load_dataset(store, sym, tf, exchange=d.exchange, start=d.start, end=d.end,
                     allow_gaps=d.allow_gaps)
        for sym, tf in spec.datasets()
    ]  # fmt: skip


def check_memory(spec: SweepSpec, datasets: list[Dataset], budget_gb: float) -> int:
    need = spec.estimate_memory_bytes({(d.symbol, d.timeframe): d.n_bars for d in datasets})
    if need > budget_gb * 2**30:
        raise ConfigError(
            f"sweep '{spec.name}': {spec.count():,} combinations need an estimated "
            f"{need / 2**30:.2f} GiB, above the memory budget of {budget_gb:.2f} GiB "
            "(sweep.memory_budget_gb); shrink the grid or raise the budget"
        )
    return need


def execute_task(
    dataset: Dataset,
    spec: SweepSpec,
    task: Task,
    backend: str = "cpu",
    device: str | None = None,
    indicator_fn: Callable[[str, tuple], Any] | None = None,
) -> pd.DataFrame:
    """Run one task through the fused kernel; returns its results part (one row per combo).
    ``indicator_fn`` supplies precomputed indicator bank rows (the IndicatorCache)."""
    from threadx.kernels import pack, resolve_backend, run_sweep

    resolved = resolve_backend(backend)
    params = spec.param_frame(task.start, task.stop)
    extra = {"indicator_fn": indicator_fn} if indicator_fn is not None else {}
    packed = pack(params, dataset.open, dataset.high, dataset.low, dataset.close, **extra)
    out = run_sweep(packed, int(dataset.times_ns[0]), int(dataset.times_ns[-1]),
                    dataset.bar_minutes, backend=resolved, blocks=spec.report.blocks)  # fmt: skip
    meta = {"combo_ids": task.combo_ids(), "task_id": task.task_id, "symbol": dataset.symbol,
            "timeframe": dataset.timeframe, "device": device or resolved,
            "fold": dataset.fold}  # fmt: skip
    return results_frame(meta, params, out)


@dataclass
class SweepResult:
    """A finished (or partially finished) run, read from its folder."""

    run_dir: Path
    spec: SweepSpec
    manifest: dict[str, Any]

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    @property
    def store(self) -> RunStore:
        return RunStore(self.run_dir)

    def to_frame(self) -> pd.DataFrame:
        """One row per combination: ids, symbol, timeframe, task_id, every parameter and metric."""
        return self.store.load()

    def ranked(self, by: list[str] | None = None, aggregate: str | None = None) -> pd.DataFrame:
        """Ranked rows; ``aggregate`` (default: the spec's ``[rank] aggregate``) ``"median"`` or
        ``"worst"`` ranks each parameter combination across the datasets instead."""
        how = aggregate or self.spec.rank.aggregate
        return rank_results(self.to_frame(), by or self.spec.rank.by, how, self.spec.datasets())

    def top(self, k: int | None = None, aggregate: str | None = None) -> pd.DataFrame:
        return self.ranked(aggregate=aggregate).head(k or self.spec.rank.top_k)

    def pareto(self) -> pd.DataFrame:
        return pareto_front(self.to_frame())

    def export(self, path: Path, what: str = "all", aggregate: str | None = None) -> Path:
        from threadx.sweep.results import export

        make = {"all": lambda: self.ranked(aggregate=aggregate),
                "top": lambda: self.top(aggregate=aggregate), "pareto": self.pareto}  # fmt: skip
        frame = make[what]()
        from threadx.sweep.overfit import load_report

        report = load_report(self.run_dir)  # None for an unfinished run
        return export(frame, path, self.store.spec_path.read_text(), report=report)


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


ProgressFn = Callable[[dict[str, Any]], None]


def open_run(run_dir: Path) -> SweepResult:
    from threadx.sweep.spec import load_spec

    store = RunStore(run_dir)
    return SweepResult(store.dir, load_spec(store.spec_path), store.read_manifest())


def run_local(
    spec: SweepSpec,
    data_root: Path | str | None = None,
    backend: str = "auto",
    resume: bool = True,
    *,
    memory_budget_gb: float | None = None,
    progress: ProgressFn | None = None,
    max_tasks: int | None = None,
) -> SweepResult:
    """Run a sweep in this process (no Ray). ``resume=False`` recomputes every task.

    ``max_tasks`` stops after that many new tasks (the run stays resumable) — used to test
    interruption. Results land in ``{data_root}/runs/{run_id}``.
    """
    from threadx.config import load_config
    from threadx.kernels import resolve_backend

    cfg = load_config() if data_root is None or memory_budget_gb is None else None
    root = Path(data_root) if data_root is not None else cfg.data_root
    budget = memory_budget_gb if memory_budget_gb is not None else cfg.sweep.memory_budget_gb
    resolved = resolve_backend(spec.backend if backend == "auto" else backend)
    datasets = load_datasets(spec, OHLCVStore(root))
    need = check_memory(spec, datasets, budget)
    plan = plan_sweep(spec, datasets, gpu=resolved == "gpu")
    store = RunStore(root / "runs" / plan.run_id)
    if store.exists():
        old = store.read_manifest()
        if old.get("spec_fingerprint") != spec.fingerprint():
            raise StoreError(f"run {plan.run_id}: stored spec differs from this spec; refusing to "
                             "mix results")  # fmt: skip
        if not resume:
            store.clear_results()
    store.create(spec_to_toml(spec), {**plan.manifest(resolved), "estimated_bytes": need})
    done = store.done_tasks()
    todo = [t for t in plan.tasks if t.task_id not in done]
    log.info("run %s: %d task(s), %d already done", plan.run_id, len(plan.tasks), len(done))
    _execute_all(plan, store, todo, resolved, progress, max_tasks, len(done))
    if plan.folds and store.read_manifest().get("status") == "completed":
        from threadx.sweep.walkforward import write_walk_forward

        write_walk_forward(plan, store)
    if store.read_manifest().get("status") == "completed":
        from threadx.sweep.overfit import finish_report

        finish_report(store.dir)  # report.json: PSR/DSR/PBO (logged, never raised)
    return open_run(store.dir)


def _execute_all(
    plan: SweepPlan,
    store: RunStore,
    todo: list[Task],
    backend: str,
    progress: ProgressFn | None,
    max_tasks: int | None,
    already: int,
) -> None:
    t0 = time.perf_counter()
    steps = 0
    store.update_manifest(status="running", started=now_iso())
    ran = 0
    for task in todo:
        if max_tasks is not None and ran >= max_tasks:
            store.update_manifest(status="interrupted")
            return
        part = execute_task(plan.datasets[task.dataset_index], plan.spec, task, backend)
        store.write_part(task.task_id, part)
        ran += 1
        steps += plan.task_bar_steps(task)
        if progress is not None:
            el = time.perf_counter() - t0
            progress(
                {
                    "done_tasks": already + ran,
                    "total_tasks": len(plan.tasks),
                    "elapsed_s": el,
                    "bar_steps_per_s": steps / el if el > 0 else math.nan,
                }
            )
    wall = time.perf_counter() - t0
    store.update_manifest(
        status="completed", finished=now_iso(), wall_s=wall,
        bar_steps_per_s=steps / wall if wall > 0 else None,
        device_shares={backend: 1.0},
        peak_rss_bytes=peak_rss_bytes(),
    )  # fmt: skip
