"""BacktestWorker actor: one per device slot; runs kernel tasks and returns compact results.

Stateless and restartable: a task is a pure function of (dataset, spec, task), so Ray's
at-least-once retries and the driver's re-submissions are harmless. Indicator banks come from the
IndicatorCache actor when one is given. The worker caps numba's threads to the CPUs it declared.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import ray

PREPARED_KEEP = 4  # prepared datasets kept per worker (a run's datasets and folds)


@dataclass(frozen=True)
class Placement:
    """Where a worker runs and how, fixed for its life: the first keys of its ``info()``."""

    device: str  # the slot's label: "cpu" or a GPU label ("5090")
    backend: str  # the kernel it runs: "cpu" or "gpu"
    threads: int  # numba threads
    gpu_index: int | None  # the NVML index of its GPU (None on the CPU kernel)
    pid: int
    node: str  # Ray node id


@ray.remote(max_restarts=0, concurrency_groups={"info": 1})
class BacktestWorker:
    def __init__(self, device: str, backend: str, num_threads: int, cache: Any = None) -> None:
        # before CUDA starts: CUDA numbers devices fastest-first, NVML (our labels) by PCI bus
        os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
        from threadx.kernels import prefer_sleeping_threads, resolve_backend

        prefer_sleeping_threads()  # before numba starts its thread pool (set_num_threads below)
        import numba

        # "auto" on a GPU slot: the GPU kernel when CUDA works here, else the CPU kernel
        backend = resolve_backend(backend)
        threads = max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS))
        numba.set_num_threads(threads)
        gpu_index = None
        if backend == "gpu" and device != "cpu":
            from threadx.devices import gpu_index_for_label
            from threadx.kernels.gpu import import_cuda

            gpu_index = gpu_index_for_label(device)  # our device, by NVML index
            if gpu_index is None:
                raise RuntimeError(f"no GPU labelled {device!r} on this node")
            import_cuda().select_device(gpu_index)
        node = ray.get_runtime_context().get_node_id()
        self.placement = Placement(device, backend, threads, gpu_index, os.getpid(), node)
        self.cache = cache
        self.tasks_done = 0
        self.prepared: dict[tuple[str, str], Any] = {}  # (dataset ref, spec) -> prepared grid
        self.search: dict[str, Any] = {}  # a search's space, dataset and indicator memo

    @ray.method(concurrency_group="info")  # answers while a task runs (views stay live)
    def info(self) -> dict[str, Any]:
        """The worker's :class:`Placement`, tasks done and peak memory, as a dict."""
        from threadx.sweep.run import peak_rss_bytes

        live = {"tasks_done": self.tasks_done, "peak_rss_bytes": peak_rss_bytes()}
        return {**asdict(self.placement), **live}

    def calibrate(self, seconds: float = 1.0) -> float:
        """This worker's kernel throughput in bar-steps/s (device weights by calibration)."""
        from threadx.devices import measure_throughput

        return measure_throughput(self.placement.backend, seconds)

    def run_task(self, dataset_box: list, spec_json: str, task: tuple) -> Any:
        """``dataset_box`` is ``[dataset_ref]`` so the ref can be handed on to the cache. The
        dataset's grid is prepared once per (dataset, spec) and kept for the run's next tasks
        (:func:`threadx.sweep.execute.prepare_dataset`); the result is an Arrow table."""
        from threadx.sweep.execute import run_task
        from threadx.sweep.plan import Task

        prep = self._prepared(dataset_box[0], spec_json)
        part = run_task(prep, Task(*task), self.placement.backend, device=self.placement.device)
        self.tasks_done += 1
        return part

    def run_points(self, dataset_box: list, spec_json: str, task: tuple, codes: Any) -> Any:
        """A search's batch: ``codes`` (the sampler's coded points, one row per trial) on the
        dataset, through the kernel (:func:`threadx.sweep.search.evaluate_batch`: under
        ``[search] halving`` every stage, one kernel call each); the part's combo ids start at
        the task's first. The spec, the space and the dataset's indicator rows are kept for the
        run's next batches."""
        from threadx.sweep.plan import Task
        from threadx.sweep.search import IndicatorMemo, evaluate_batch, with_timings
        from threadx.sweep.space import SearchSpace
        from threadx.sweep.spec import SweepSpec

        ref, s = dataset_box[0], self.search
        if s.get("spec_json") != spec_json:
            spec = SweepSpec.model_validate_json(spec_json)
            s.clear()
            s.update(spec_json=spec_json, spec=spec, space=SearchSpace.from_spec(spec))
            s["memo"] = IndicatorMemo()
        if s.get("ref") != ref.hex():
            s["ref"], s["dataset"] = ref.hex(), ray.get(ref)
        memo = (s["memo"], ref.hex())
        where = (self.placement.backend, self.placement.device)
        times: dict[str, float] = {}
        part = evaluate_batch(
            s["spec"], s["space"], s["dataset"], memo, Task(*task), codes, *where, timings=times
        )
        self.tasks_done += 1
        return with_timings(part, times)

    def _prepared(self, ref: Any, spec_json: str) -> Any:
        from threadx.sweep.execute import prepare_dataset
        from threadx.sweep.spec import SweepSpec

        key = (ref.hex(), spec_json)
        prep = self.prepared.get(key)
        if prep is None:
            spec = SweepSpec.model_validate_json(spec_json)
            dataset = ray.get(ref)
            fn = self._cached_indicators(ref, spec) if self.cache is not None else None
            prep = prepare_dataset(spec, dataset, fn)
            if len(self.prepared) >= PREPARED_KEEP:  # oldest first: a finished run's datasets
                self.prepared.pop(next(iter(self.prepared)))
            self.prepared[key] = prep
        return prep

    def _cached_indicators(self, ref: Any, spec: Any) -> Any:
        """The dataset's indicator arrays (every distinct request of the grid) in one call to the
        IndicatorCache actor: computed once per cluster, shared by every worker."""
        from threadx.sweep.cache import INDICATOR_CODE_VERSION
        from threadx.sweep.execute import grid_indicator_requests

        wanted = grid_indicator_requests(spec)
        # a cache started by older code refuses: its arrays may follow other formulas
        arrays = ray.get(self.cache.get_many.remote([ref], wanted, INDICATOR_CODE_VERSION))
        return lambda name, args: arrays[(name, args)]
