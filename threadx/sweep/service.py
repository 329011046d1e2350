"""The sweep service: queue of runs, one active controller, status/top-K, recovery from disk.

This is the whole logic of the Ray ``SweepDriver`` actor, kept free of Ray so it can be tested by
stepping it with fake executors. Runs execute one at a time (FIFO); the run folder on disk is the
only source of truth, so a new service (a restarted driver) marks unfinished runs ``interrupted``
and :meth:`SweepService.resume_run` continues them from their parts.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.errors import ConfigError, StoreError, ThreadXError
from threadx.core.log import get_logger
from threadx.core.units import NS_PER_SECOND
from threadx.core.utc import now_iso
from threadx.sweep.controller import Executor, SweepController
from threadx.sweep.dataset import Dataset
from threadx.sweep.execute import as_frame
from threadx.sweep.plan import SweepPlan, check_memory, plan_sweep
from threadx.sweep.results import RunStore, full_length, rank, rank_results, results_frame
from threadx.sweep.run import finish_run, open_store, peak_rss_bytes
from threadx.sweep.shapes import Heatmap, Pareto, Ranking, heatmap, pareto, ranking
from threadx.sweep.spec import SweepSpec, load_spec, spec_from_dict
from threadx.sweep.states import TERMINAL, UNFINISHED, RunState, RunStatus, RunSummary

log = get_logger(__name__)

DataLoader = Callable[[SweepSpec], tuple[list[Dataset], list[Any]]]
ExecutorFactory = Callable[[SweepPlan, list[Any]], Executor]


@dataclass
class ActiveRun:
    plan: SweepPlan
    store: RunStore
    handles: list[Any]  # per-dataset handles for the executor (object refs under Ray)
    controller: SweepController | None = None
    top: pd.DataFrame | None = None
    error: str | None = None
    pause_after: int | None = None
    started: float = field(default_factory=time.monotonic)
    # parts computed in this session, by task id: the report is built from them in memory when
    # they are the whole run (a resumed run reads the earlier parts back instead)
    parts: dict[int, Any] = field(default_factory=dict)


class SweepService:
    def __init__(
        self,
        data_root: Path,
        load_data: DataLoader,
        make_executor: ExecutorFactory,
        *,
        weights: Callable[[list[str]], dict[str, float]] | None = None,
        schedule: str = "weighted",
        inflight: int = 2,
        memory_budget_gb: float = 8.0,
        gpu: Callable[[], bool] | None = None,
        worker_info: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.runs_dir = Path(data_root) / "runs"
        self.load_data, self.make_executor = load_data, make_executor
        self.weights_fn = weights
        self.gpu_fn = gpu or (lambda: False)
        self.worker_info = worker_info or (lambda: [])
        self.schedule, self.inflight, self.budget = schedule, inflight, memory_budget_gb
        self.lock = threading.RLock()
        # notified after every step that changed a run (a part, a state): wait_status wakes on it
        self.changed = threading.Condition()
        self.queue: deque[ActiveRun] = deque()
        self.active: ActiveRun | None = None
        self.known: dict[str, ActiveRun] = {}
        # the result frame the last shape query loaded, by (run id, parts on disk): the shapes
        # asked for together (ranking, heatmap, Pareto) read the parts once
        self._frame_lock = threading.Lock()
        self._frame: tuple[tuple[str, tuple[int, ...]], pd.DataFrame] | None = None
        self.recovered = self.recover()

    # -- disk ------------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Mark runs left unfinished by a previous driver as ``interrupted``; return their ids."""
        out = []
        if not self.runs_dir.exists():
            return out
        for m in sorted(self.runs_dir.glob("*/manifest.json")):
            store = RunStore(m.parent)
            try:
                man = store.read_manifest()
            except StoreError:
                continue
            if man.get("status") in UNFINISHED:
                store.update_manifest(status=RunState.INTERRUPTED)
                out.append(store.run_id)
        return out

    # -- submission ------------------------------------------------------------------------
    def submit(self, spec: SweepSpec | dict[str, Any] | str, pause_after: int | None = None) -> str:
        """Queue a run (idempotent for the same spec and data); ``pause_after`` pauses it once
        that many tasks are done (a checkpoint to inspect or to resume later)."""
        spec = _as_spec(spec)
        datasets, handles = self.load_data(spec)
        need = check_memory(spec, datasets, self.budget)
        plan = plan_sweep(spec, datasets, gpu=spec.backend != "cpu" and self.gpu_fn())
        if plan.folds:  # walk-forward: the executor ships each fold's train slice itself
            from threadx.sweep.folds import align_handles

            handles = align_handles(plan.datasets, datasets, handles)
        with self.lock:
            if plan.run_id in self.known and self.known[plan.run_id] in (self.active, *self.queue):
                return plan.run_id
            store = open_store(
                plan, self.runs_dir, spec.backend, status=RunState.QUEUED, estimated_bytes=need
            )
            run = ActiveRun(plan, store, handles, pause_after=pause_after)
            self.known[plan.run_id] = run
            self.queue.append(run)
            log.info("queued run %s (%d combinations)", plan.run_id, plan.total)
            return plan.run_id

    def resume_run(self, run_id: str) -> str:
        """Continue a run from its folder (e.g. after a driver restart)."""
        store = RunStore(self.runs_dir / run_id)
        if not store.exists():
            raise StoreError(f"run {run_id}: no such run under {self.runs_dir}")
        new_id = self.submit(load_spec(store.spec_path))
        if new_id != run_id:
            raise StoreError(
                f"run {run_id}: its data changed since it started (now {new_id}); "
                "start a new run instead"
            )
        return new_id

    # -- stepping --------------------------------------------------------------------------
    def _activate(self) -> None:
        while self.active is None and self.queue:
            run = self.queue.popleft()
            try:
                ex = self.make_executor(run.plan, run.handles)
                labels = sorted({w.device for w in ex.workers()})
                weights = self.weights_fn(labels) if self.weights_fn else None
                schedule, inflight = self.schedule, self.inflight
                if run.plan.spec.search.sampling:  # the sampler here, the points to the workers
                    ex = _sampled(ex, run)
                    inflight = ex.inflight
                    # one batch at a time (tpe, nsga2): asked in plan order by whoever is free
                    schedule = "adaptive" if ex.max_running == 1 else schedule
                run.controller = SweepController(
                    run.plan,
                    run.store,
                    ex,
                    weights=weights,
                    schedule=schedule,
                    inflight=inflight,
                    max_running=getattr(ex, "max_running", None),
                    on_part=lambda task, part, r=run: self._on_part(r, task, part),
                )
            except Exception as err:  # noqa: BLE001 - recorded on the run, service keeps going
                self._fail(run, err)
                continue
            run.controller.pause_after = run.pause_after
            run.started = time.monotonic()
            workers = [
                {
                    k: w.get(k)
                    for k in ("worker_id", "device", "backend", "node", "threads", "gpu_index")
                }
                for w in self.worker_info()
            ]
            run.store.update_manifest(
                status=RunState.RUNNING,
                started=now_iso(),
                weights=run.controller.weights,
                schedule=self.schedule,
                workers=workers,
            )
            self.active = run

    def step(self, timeout: float = 0.05) -> bool:
        """Advance the active run; returns True while any run is active or queued. ``timeout``:
        how long to wait for a task (the lock is held meanwhile, so queries wait that long at
        most); waiters of :meth:`wait_status` are woken afterwards."""
        try:
            with self.lock:
                self._activate()
                run = self.active
                if run is None:
                    return False
                try:
                    more = run.controller.step(timeout)
                except Exception as err:  # noqa: BLE001 - a failed run must not stop the service
                    self._fail(run, err)
                    return bool(self.queue)
                if not more and run.controller.state() != RunState.PAUSED:
                    self._finish(run)
                elif run.controller.state() == RunState.PAUSED and not run.controller.running:
                    self._mark(run, RunState.PAUSED)
                return True
        finally:
            with self.changed:
                self.changed.notify_all()

    def wait_status(
        self, run_id: str, since: Mapping[str, Any] | None = None, timeout: float = 0.5
    ) -> RunStatus:
        """:meth:`status` as soon as it differs from ``since`` (state or tasks done: a status
        or :meth:`RunStatus.moved_from`), the run ends, or ``timeout`` seconds have passed: a
        client sees a finished run at once instead of at its next poll."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            st = self.status(run_id)
            moved = since is None or (st.state, st.done_tasks) != (
                since.get("state"),
                since.get("done_tasks"),
            )
            left = deadline - time.monotonic()
            if moved or st.state in TERMINAL or left <= 0:
                return st
            with self.changed:
                self.changed.wait(left)

    def _on_part(self, run: ActiveRun, task: Any, part: Any) -> None:
        run.parts[task.task_id] = part
        recorded = getattr(run.controller.ex, "recorded", None)
        if recorded is not None:  # a search: tell the sampler what was stored
            recorded(task, part)
        if run.plan.spec.rank.aggregate != "none":
            return  # needs every dataset: ranked once the run ends (see _finish)
        k = run.plan.spec.rank.top_k
        best = rank(as_frame(full_length(part)), run.plan.spec.rank.by, limit=k)
        frames = [f for f in (run.top, best.drop(columns="rank")) if f is not None and len(f)]
        merged = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        run.top = rank(merged, run.plan.spec.rank.by, limit=k).drop(columns="rank")

    def _finish(self, run: ActiveRun) -> None:
        st = run.controller.status()
        wall = time.monotonic() - run.started
        worker_peaks = [w.get("peak_rss_bytes") or 0 for w in self.worker_info()]
        run.store.update_manifest(
            status=st["state"],
            finished=now_iso(),
            wall_s=wall,
            bar_steps_per_s=st["bar_steps_per_s"],
            device_combos=st["per_device"],
            device_shares=st["shares"],
            retries=st["retries"],
            peak_rss_bytes=peak_rss_bytes(),
            worker_peak_rss_bytes=max(worker_peaks, default=0),
            **getattr(run.controller.ex, "manifest_extra", dict)(),
        )
        log.info("run %s %s in %.1f s", run.store.run_id, st["state"], wall)
        frame = None
        if st["state"] == RunState.COMPLETED and len(run.parts) == len(run.plan.tasks):
            # every part computed in this session: no read-back
            frame = results_frame([run.parts[t.task_id] for t in run.plan.tasks])
        run.parts.clear()
        try:  # walk-forward test windows, then report.json (the report is logged, never raised)
            finish_run(run.plan, run.store, frame)
        except Exception as err:  # noqa: BLE001 - recorded on the run, service keeps going
            self._fail(run, err)
        if run.plan.spec.rank.aggregate != "none":
            run.top = self.top(run.store.run_id).drop(columns="rank")
        self.active = None

    def _mark(self, run: ActiveRun, status: RunState) -> None:
        if run.store.read_manifest().get("status") != status:
            run.store.update_manifest(status=status)

    def _fail(self, run: ActiveRun, err: BaseException) -> None:
        run.error = f"{type(err).__name__}: {err}"
        log.error("run %s failed: %s", run.store.run_id, run.error)
        run.store.update_manifest(status=RunState.FAILED, error=run.error, finished=now_iso())
        if self.active is run:
            self.active = None

    def run_until_idle(self, timeout: float = 0.2) -> None:
        while self.step(timeout):
            pass

    # -- control ---------------------------------------------------------------------------
    def _run(self, run_id: str) -> ActiveRun:
        run = self.known.get(run_id)
        if run is None:
            raise StoreError(f"run {run_id}: not active in this driver")
        return run

    def pause(self, run_id: str) -> bool:
        with self.lock:
            run = self._run(run_id)
            if run.controller is None:
                return False
            run.controller.pause()
            run.store.update_manifest(status=RunState.PAUSED)
            return True

    def resume(self, run_id: str) -> bool:
        """Un-pause the active run, or re-queue a cancelled/interrupted/failed one from disk."""
        with self.lock:
            run = self.known.get(run_id)
            if run is not None and run in self.queue:
                return True
            if run is not None and run is self.active and run.controller is not None:
                run.controller.resume()
                run.store.update_manifest(status=RunState.RUNNING)
                return True
        self.resume_run(run_id)
        return True

    def cancel(self, run_id: str) -> bool:
        with self.lock:
            run = self._run(run_id)
            if run in self.queue:
                self.queue.remove(run)
                run.store.update_manifest(status=RunState.CANCELLED, finished=now_iso())
                return True
            if run.controller is None or run.controller.finished:
                return False
            run.controller.cancel()
            self._finish(run)
            return True

    # -- queries ---------------------------------------------------------------------------
    def status(self, run_id: str) -> RunStatus:
        """The run's :class:`RunStatus` (the one place it is built): the live controller's
        progress, else the run folder's manifest and parts; with the run's current top K."""
        with self.lock:
            run = self.known.get(run_id)
            live = run is not None and run.controller is not None and run.error is None
            if live:
                st = run.controller.status()
                st["weights"] = dict(run.controller.weights)
                st.update(getattr(run.controller.ex, "progress_extra", dict)())
                top = run.top
            else:
                st, top = self._progress_from_disk(run_id), None
            if run is not None and run in self.queue:
                st["state"] = RunState.QUEUED
            if run is not None and run.error:
                st["state"], st["error"] = RunState.FAILED, run.error
        if top is None and live:
            top = pd.DataFrame()  # aggregate ranking of a live run: known once it ends
        top = top if top is not None else self.top(run_id)
        return RunStatus.from_dict({**st, "run_id": run_id, "top": top.to_dict("records")})

    def _progress_from_disk(self, run_id: str) -> dict[str, Any]:
        """The status fields of a run that no controller of this service drives (its manifest
        and the parts on disk)."""
        store = RunStore(self.runs_dir / run_id)
        man = store.read_manifest()
        done = store.done_tasks()
        total = man.get("total_combos", 0)
        n_tasks = man.get("n_tasks", 0)
        frac = len(done) / n_tasks if n_tasks else 0.0
        return {
            "state": man.get("status"),
            "done_tasks": len(done),
            "total_tasks": n_tasks,
            "done": int(round(frac * total)),
            "total": total,
            "fraction": frac,
            "elapsed_s": man.get("wall_s"),
            "bar_steps_per_s": man.get("bar_steps_per_s"),
            "eta_s": None,
            "per_device": man.get("device_combos", {}),
            "shares": man.get("device_shares", {}),
            "weights": man.get("weights", {}),
            "errors": [man["error"]] if man.get("error") else [],
            "retries": man.get("retries", 0),
            **_search_from_disk(man),
        }

    def list_runs(self) -> list[RunSummary]:
        out = list_runs_on_disk(self.runs_dir)
        with self.lock:
            live = {r.store.run_id: r for r in (self.active, *self.queue) if r is not None}
        for row in out:
            if row["run_id"] in live and live[row["run_id"]].controller is not None:
                row["status"] = live[row["run_id"]].controller.state()
        return [RunSummary.from_dict(row) for row in out]

    def results(self, run_id: str) -> pd.DataFrame:
        return RunStore(self.runs_dir / run_id).load()

    def spec(self, run_id: str) -> SweepSpec:
        return load_spec(RunStore(self.runs_dir / run_id).spec_path)

    def top(self, run_id: str, k: int | None = None) -> pd.DataFrame:
        """The run's top K by its ``[rank]`` (across datasets when it asks for an aggregate)."""
        spec = self.spec(run_id)
        ranked = rank_results(
            self.results(run_id), spec.rank.by, spec.rank.aggregate, spec.datasets()
        )
        return ranked.head(k or spec.rank.top_k)

    def report(self, run_id: str) -> dict[str, Any] | None:
        """The run's stored overfitting report (``report.json``), or None when there is none."""
        try:
            from threadx.sweep.overfit import load_report
        except ImportError:  # the overfitting report is not part of this build
            return None
        return load_report(RunStore(self.runs_dir / run_id).dir)

    def search(self, run_id: str) -> dict[str, Any] | None:
        """A search run's ``search`` (method, trials, batch, seed, space) and ``search_stats``
        (:meth:`threadx.sweep.search.SearchSampler.manifest_extra`: evaluated, best-so-far curve,
        seconds; the live sampler's while this service drives the run, else the manifest's,
        None before it has any), with ``budget`` (the run's trials) and ``wall_s``; None for a
        grid run."""
        with self.lock:  # the manifest and the live run at one moment (not while it ends)
            man = RunStore(self.runs_dir / run_id).read_manifest()
            if not man.get("search"):
                return None
            stats, wall = man.get("search_stats"), man.get("wall_s")
            run = self.known.get(run_id)
            if run is not None and run is self.active and run.controller is not None:
                stats = getattr(run.controller.ex, "manifest_extra", dict)().get("search_stats")
                wall = time.monotonic() - run.started
        budget = man.get("total_combos")
        return {"search": man["search"], "search_stats": stats, "budget": budget, "wall_s": wall}

    def walk_forward(self, run_id: str, max_points: int = 4000) -> dict[str, Any] | None:
        """The run's walk-forward report (``walk_forward.json``), each dataset with its stitched
        out-of-sample equity as plain lists (``oos_equity``: ``time`` in s, ``equity``, ``bars``;
        beyond ``max_points`` its ends and each bucket's min and max), or None for a run
        without ``[walk_forward]`` or not completed. A completed run that lost its report gets
        it rebuilt from its parts."""
        from threadx.sweep import walkforward as wf

        store = RunStore(self.runs_dir / run_id)
        report = wf.load_walk_forward(store.dir)
        if report is None:
            with self.lock:  # not while the driver loop is writing it
                report = wf.load_walk_forward(store.dir)
                if (
                    report is None
                    and self.spec(run_id).walk_forward is not None
                    and store.read_manifest().get("status") == RunState.COMPLETED
                ):
                    from threadx.data.store import OHLCVStore

                    report = wf.walk_forward_for_run(store.dir, OHLCVStore(self.runs_dir.parent))
        if report is None:
            return None
        path = store.dir / wf.EQUITY_FILE
        eq = pd.read_parquet(path) if path.exists() else None
        for rep in report["datasets"]:
            if eq is not None:
                sel = eq[(eq["symbol"] == rep["symbol"]) & (eq["timeframe"] == rep["timeframe"])]
                rep["oos_equity"] = _curve(sel, max_points)
        return report

    # -- shapes: what a client draws, computed here (threadx.sweep.shapes) ------------------
    def frame(self, run_id: str) -> pd.DataFrame:
        """The run's results as :meth:`results`, shared by the shape queries: read once per
        change of the parts on disk (do not modify it)."""
        store = RunStore(self.runs_dir / run_id)
        with self._frame_lock:
            key = (run_id, tuple(sorted(store.done_tasks())))
            if self._frame is None or self._frame[0] != key:
                self._frame = None  # the previous frame can go before the next one is read
                self._frame = (key, store.load(key[1]))
            return self._frame[1]

    def ranking(self, run_id: str, mode: str | None = None, k: int | None = None) -> Ranking:
        """The run's top ``k`` (default: its ``[rank] top_k``) ranked per dataset
        (``mode="none"``) or across datasets (``"median"``, ``"worst"``; default: its
        ``[rank] aggregate``)."""
        spec = self.spec(run_id)
        return ranking(
            self.frame(run_id),
            spec.rank.by,
            k or spec.rank.top_k,
            mode or spec.rank.aggregate,
            spec.datasets(),
        )

    def heatmap(
        self, run_id: str, metric: str, x: str | None = None, y: str | None = None
    ) -> Heatmap:
        """``metric`` over the swept dimensions ``x`` and ``y`` (a line without ``y``), the
        others held at the best row's values."""
        spec = self.spec(run_id)
        return heatmap(self.frame(run_id), spec.grid_values(), metric, x, y, spec.rank.by)

    def pareto(self, run_id: str) -> Pareto:
        """The Pareto scatter (max Sharpe, min drawdown) of every result of the run."""
        return pareto(self.frame(run_id))


def _curve(eq: pd.DataFrame, max_points: int) -> dict[str, Any]:
    """Times (s since the epoch) and equity of one stitched curve as lists; a long one keeps
    the first and last point and the min and max of each of ``max_points // 2 - 1`` buckets."""
    y = eq["equity"].reset_index(drop=True)
    n = len(y)
    idx = np.arange(n)
    if n > max_points:
        g = y.groupby(idx * (max_points // 2 - 1) // n)
        idx = np.unique(np.r_[0, n - 1, g.idxmin().to_numpy(), g.idxmax().to_numpy()])
    t = pd.DatetimeIndex(eq.index).as_unit("ns").asi8[idx] / NS_PER_SECOND
    return {"time": t.tolist(), "equity": y.to_numpy(np.float64)[idx].tolist(), "bars": n}


def list_runs_on_disk(runs_dir: Path) -> list[dict[str, Any]]:
    """One row per run folder (newest first) from the manifests."""
    keys = ("run_id", "name", "status", "total_combos", "created", "finished", "bar_steps_per_s")
    out = []
    for m in sorted(Path(runs_dir).glob("*/manifest.json")):
        try:
            man = RunStore(m.parent).read_manifest()
        except StoreError:
            continue
        out.append({k: man.get(k) for k in keys})
    return sorted(out, key=lambda r: r.get("created") or "", reverse=True)


def _search_from_disk(man: Mapping[str, Any]) -> dict[str, Any]:
    """A search run's status keys from its manifest (none for a grid); the best so far once the
    run has written its ``search_stats``."""
    from threadx.sweep.search import search_status

    search = man.get("search")
    if not search:
        return {}
    stats = man.get("search_stats") or {}
    return search_status(
        search.get("method"),
        stats.get("evaluated"),
        man.get("total_combos"),
        stats.get("best_metric"),
        stats.get("best"),
    )


def _sampled(executor: Executor, run: ActiveRun) -> Executor:
    """``executor`` (its workers evaluate coded points: ``submit_points``) under the run's
    sampler (:class:`threadx.sweep.search.SearchSampler`, its study journal in the run folder)."""
    from threadx.sweep.search import SampledExecutor, SearchSampler

    if not hasattr(executor, "submit_points"):
        raise ConfigError(
            f"[search] method {run.plan.spec.search.method!r}: this driver's executor "
            f"({type(executor).__name__}) cannot run coded points (no submit_points)"
        )
    return SampledExecutor(executor, SearchSampler(run.plan, run.store))


def _as_spec(spec: SweepSpec | dict[str, Any] | str) -> SweepSpec:
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return spec_from_dict(spec)
    if isinstance(spec, str):
        from threadx.core.models import parse_toml

        return spec_from_dict(parse_toml(spec, "<submitted TOML>"), "<submitted TOML>")
    raise ThreadXError(f"cannot build a sweep spec from {type(spec).__name__}")
