"""Planning: a spec and its loaded datasets -> tasks (row ranges of each dataset's grid), run id.

A sweep is planned into *tasks*: contiguous row ranges of one dataset's grid (a dataset is one
(symbol, timeframe), or a walk-forward fold's train slice of one). Grid rows are ordered with
indicator parameters outermost. The run id hashes the spec, the data and the chunking, so any
change gives a new run and a resumed run continues exactly the same tasks.

Planning imports no execution and no reporting: it is pure bookkeeping over the spec.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from threadx import __version__
from threadx.core.errors import ConfigError
from threadx.core.hashing import sha256_json
from threadx.core.utc import now_iso
from threadx.data.store import OHLCVStore
from threadx.sweep.dataset import Dataset, load_dataset
from threadx.sweep.halving import batch_bar_steps, plan_stages
from threadx.sweep.spec import SweepSpec

RESULTS_VERSION = 2  # bump when kernel semantics change: old runs then get new ids
# 2: skewness, kurtosis and block return sums after the metrics
TARGET_BAR_STEPS_PER_TASK = 2e8
# a task is at least this much kernel work (about 0.25 s on two cores), or the whole grid: every
# task costs a part file (write + fsync) and a kernel launch, so a small grid on many bars is a
# few tasks, not hundreds of tiny ones
MIN_BAR_STEPS_PER_TASK = 1e8


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
    """Combinations per task. CPU: about TARGET_BAR_STEPS_PER_TASK of work, at least 16 tasks
    per dataset when the grid allows it (every worker of a small cluster gets several), but never
    less than MIN_BAR_STEPS_PER_TASK of work (no run of hundreds of tiny parts). GPU: large
    launches (up to GPU_TASK_COMBOS threads), since occupancy needs >100k threads. The size is
    then evened out over the tasks it gives (1,134 by at most 1,000 -> two tasks of 567, not
    1,000 + 134), so that no task is a small remainder."""
    if gpu:
        size = max(1, min(per_dataset, GPU_TASK_COMBOS))
    else:
        bars = max(n_bars, 1)
        by_work = int(TARGET_BAR_STEPS_PER_TASK // bars)
        by_count = math.ceil(per_dataset / 16)
        floor = int(MIN_BAR_STEPS_PER_TASK // bars)
        size = max(1, min(per_dataset, max(min(by_work, by_count, 65_536), floor, 16)))
    tasks = math.ceil(max(per_dataset, 1) / size)
    return max(1, math.ceil(per_dataset / tasks))


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
        """Result rows of the run: the grid, or the search's budget, per dataset."""
        return self.spec.rows_per_dataset() * len(self.datasets)

    @property
    def bar_steps(self) -> int:
        """The kernel's bar-steps of the run (a halving search's: its stages' prefixes)."""
        if self.spec.search.halving is not None:
            return sum(self.task_bar_steps(t) for t in self.tasks)
        per = self.spec.rows_per_dataset()
        return sum(d.n_bars * per for d in self.datasets)

    def task_bar_steps(self, task: Task) -> int:
        n_bars = self.datasets[task.dataset_index].n_bars
        return batch_bar_steps(task.size, n_bars, self.spec.search.halving)

    def manifest(self, backend: str) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.spec.name,
            "status": "created",
            "created": now_iso(),
            "threadx_version": __version__,
            "results_version": RESULTS_VERSION,
            "spec_fingerprint": self.spec.fingerprint(),
            "backend": backend,
            "total_combos": self.total,
            "chunk_size": self.chunk_size,
            "n_tasks": len(self.tasks),
            "bar_steps": self.bar_steps,
            "datasets": [d.describe() for d in self.sources or self.datasets],
            **({"walk_forward": [f.describe() for f in self.folds]} if self.folds else {}),
            **({"search": self.search_info()} if self.spec.search.sampling else {}),
        }

    def search_info(self) -> dict[str, Any]:
        """The manifest's (and a walk-forward report's) ``search``: how each dataset is searched."""
        se = self.spec.search
        out = {
            "method": se.method,
            "trials": se.trials,
            "batch": self.chunk_size,
            "seed": se.seed,
            "space": self.spec.combos_per_dataset(),
        }
        if se.halving is not None:  # per stage: its share, bars per dataset, trials per dataset
            bars = [d.n_bars for d in self.datasets]
            stages = plan_stages(se.trials, self.chunk_size, se.halving, bars)
            out["halving"] = {"start": se.halving.start, "keep": se.halving.keep, "stages": stages}
        return out


def plan_sweep(spec: SweepSpec, datasets: list[Dataset], gpu: bool = False) -> SweepPlan:
    """Cut the sweep into tasks; ``gpu`` (workers run the GPU kernel) selects big tasks. With
    ``[walk_forward]`` the tasks cover (dataset x fold x chunk of the grid) on train slices. With
    a sampling ``[search]`` a task is a batch of trials: rows ``start:stop`` of the dataset's
    ``trials`` (its combo ids), ``batch`` per task, whatever the backend; with both, every
    fold's train slice is a dataset of ``trials`` rows, searched on its own."""
    sources, folds = tuple(datasets), ()
    if spec.walk_forward is not None:
        from threadx.sweep.folds import fold_datasets

        folds, datasets = fold_datasets(spec, datasets)
    per = spec.rows_per_dataset()
    n_bars = max(d.n_bars for d in datasets)
    chunk = spec.chunk_size or auto_chunk_size(n_bars, per, gpu)
    if spec.search.sampling:
        chunk = min(spec.search.batch_size(chunk), per)
    tasks, tid = [], 0
    for di in range(len(datasets)):
        for start in range(0, per, chunk):
            tasks.append(Task(tid, di, start, min(start + chunk, per), di * per))
            tid += 1
    ident = {
        "spec": spec.fingerprint(),
        "data": [d.fingerprint() for d in sources],
        "chunk_size": chunk,
        "results_version": RESULTS_VERSION,
    }
    if spec.search.sampling and not spec.search.learns:  # random/sobol: the draw, batch order
        ident["draw_order"] = "grouped"
    digest = sha256_json(ident, compact=False)  # json's default separators: ids stay as they are
    return SweepPlan(
        spec,
        tuple(datasets),
        chunk,
        tuple(tasks),
        f"{spec.name}-{digest[:12]}",
        sources if folds else (),
        tuple(folds),
    )


def load_datasets(spec: SweepSpec, store: OHLCVStore) -> list[Dataset]:
    d = spec.data
    return [
        load_dataset(
            store, sym, tf, exchange=d.exchange, start=d.start, end=d.end, allow_gaps=d.allow_gaps
        )
        for sym, tf in spec.datasets()
    ]


def check_memory(spec: SweepSpec, datasets: list[Dataset], budget_gb: float) -> int:
    need = spec.estimate_memory_bytes({(d.symbol, d.timeframe): d.n_bars for d in datasets})
    if need > budget_gb * 2**30:
        raise ConfigError(
            f"sweep '{spec.name}': {spec.count():,} combinations need an estimated "
            f"{need / 2**30:.2f} GiB, above the memory budget of {budget_gb:.2f} GiB "
            "(sweep.memory_budget_gb); shrink the grid or raise the budget"
        )
    return need
