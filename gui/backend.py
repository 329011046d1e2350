"""The GUI's background thread: the one place that talks to the cluster.

It owns a :class:`actors.client.ThreadXClient` (driver, data store and cache actors; an embedded
local cluster when no address is given) and runs a small loop: take commands from the render loop
(:meth:`Backend.send`), issue Ray requests without blocking on them (object refs are collected as
they become ready), poll status / results / cluster / runs / log on timers, and post immutable
snapshots (:mod:`gui.snapshots`) on a queue that the render loop drains each frame
(:meth:`Backend.drain`). DearPyGui is never called here.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gui import charts, snapshots
from gui import viewmodels as vm
from gui.data_controller import DataController, Requests
from gui.overfitting import overfit_view
from gui.walkforward import missing_note, walk_forward_view
from threadx.log import get_logger
from threadx.metrics import METRIC_NAMES

log = get_logger(__name__)
TERMINAL = ("completed", "cancelled", "failed", "interrupted")
REQUEST_TIMEOUT_S = 120.0
#: Asks for a finished run's overfitting report (it may be written just after the run ends).
REPORT_TRIES = 5
#: Pixel columns the stitched walk-forward equity is decimated to.
WF_COLUMNS = 1200


@dataclass(frozen=True)
class Intervals:
    """Seconds between polls of each kind."""

    status: float = 0.25
    results: float = 1.0
    cluster: float = 2.0
    runs: float = 5.0
    log: float = 1.0
    ingest: float = 0.5
    report: float = 2.0
    walk_forward: float = 2.0


@dataclass
class _Pending:
    refs: list[Any]
    on_done: Callable[..., None]
    what: str
    since: float = field(default_factory=time.monotonic)


@dataclass
class _RunCache:
    """What the backend knows of the followed run (touched only by the backend thread)."""

    run_id: str
    spec: Any = None  # SweepSpec once loaded
    state: str = ""
    done: int = -1
    total: int = 0  # result rows the run will have (walk-forward: grid x folds), from its status
    results_done: int = -2
    final_loaded: bool = False
    frame: pd.DataFrame | None = None
    status_final: bool = False
    report_tries: int = 0
    report_done: bool = False
    wf_tries: int = 0
    wf_done: bool = False


class Backend:
    """Background worker of the GUI; see the module docstring."""

    def __init__(
        self, cfg: Any, address: str | None = None, *, intervals: Intervals | None = None
    ) -> None:
        self.cfg = cfg
        self.address = address
        self.intervals = intervals or Intervals()
        self.commands: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.snapshots: queue.Queue[snapshots.Snapshot] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="threadx-gui-backend", daemon=True)
        # state below is owned by the backend thread
        self.client: Any = None
        self._store: Any = None
        self._pending: dict[str, _Pending] = {}
        self._due: dict[str, float] = {}
        self._run: _RunCache | None = None
        self._heat: tuple[str, str | None, str | None] = ("sharpe", None, None)
        self._rank_mode: str | None = None  # None: the run's [rank] aggregate
        self._tasks_done: dict[str, int] = {}
        self._log_stamp: tuple[float, int] | None = None
        self._seq = 0
        self.data = DataController(
            Requests(
                self._ask, self._unique, self._post, lambda: self._store, self._driver, self._due
            )
        )
        self._last_say: tuple[str, float] | None = None

    # -- render-loop side ------------------------------------------------------------------
    def start(self) -> Backend:
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def send(self, command: str, **kwargs: Any) -> None:
        """Queue a command for the background thread (any thread may call this)."""
        if not hasattr(self, f"_cmd_{command}"):
            raise ValueError(f"unknown backend command {command!r}")
        self.commands.put((command, kwargs))

    def drain(self, limit: int = 64) -> list[snapshots.Snapshot]:
        """Up to ``limit`` snapshots posted since the last call, oldest first (non-blocking)."""
        out = []
        for _ in range(limit):
            try:
                out.append(self.snapshots.get_nowait())
            except queue.Empty:
                break
        return out

    # -- thread ----------------------------------------------------------------------------
    def _post(self, snap: snapshots.Snapshot) -> None:
        self.snapshots.put(snap)

    def _say(self, level: str, text: str) -> None:
        """Post a status-bar message (and log it); the same text again within 5 s is dropped,
        so a failing poll does not flood the window or the log."""
        now = time.monotonic()
        if self._last_say is not None and self._last_say[0] == text and now - self._last_say[1] < 5:
            return
        self._last_say = (text, now)
        getattr(log, "error" if level == "error" else "info")("gui: %s", text)
        self._post(snapshots.Message(level, text))

    def _main(self) -> None:
        try:
            self._connect()
        except Exception as err:  # noqa: BLE001 - shown in the window, the loop ends
            log.exception("gui: could not connect")
            self._post(snapshots.Connection(False, f"not connected: {err}"))
            self._say("error", f"could not connect to the cluster: {err}")
            return
        try:
            while not self._stop.is_set():
                self._handle_commands()
                self._cycle()
        finally:
            if self.client is not None and self.client.embedded:
                self.client.close()

    def _cycle(self) -> None:
        """Polls and collection; a failure (cluster gone, ...) is reported and retried in 1 s."""
        try:
            self._poll_due()
            self._collect(0.05)
        except Exception as err:  # noqa: BLE001 - the window must keep going
            log.exception("gui: background cycle failed")
            self._say("error", f"cluster: {_one_line(err)} (retrying)")
            self._pending.clear()
            self._stop.wait(1.0)

    def _connect(self) -> None:
        from actors.client import ThreadXClient

        self._post(snapshots.Connection(False, "connecting..."))
        self.client = ThreadXClient(self.cfg, self.address).connect()
        self.client.driver  # noqa: B018 - creates the driver (and data store) if needed
        self._store = self.client.data_store
        where = (
            "embedded local cluster"
            if self.client.embedded
            else (self.client.address or "local cluster")
        )
        self._post(snapshots.Connection(True, f"connected: {where}", self.client.embedded))
        self._cmd_refresh("catalog")
        for key in ("cluster", "runs", "log"):
            self._due[key] = 0.0

    def _handle_commands(self) -> None:
        for _ in range(32):
            try:
                name, kwargs = self.commands.get_nowait()
            except queue.Empty:
                return
            try:
                getattr(self, f"_cmd_{name}")(**kwargs)
            except Exception as err:  # noqa: BLE001 - reported, the loop goes on
                log.exception("gui: command %s failed", name)
                self._say("error", f"{name}: {err}")

    # -- non-blocking requests ---------------------------------------------------------------
    def _ask(self, key: str, refs: list[Any], on_done: Callable[..., None], what: str) -> bool:
        """Remember ``refs``; ``on_done(*values)`` runs here once all are ready. A ``key``
        already in flight is not asked twice (returns False)."""
        if key in self._pending:
            return False
        self._pending[key] = _Pending(refs, on_done, what)
        return True

    def _unique(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}#{self._seq}"

    def _collect(self, timeout: float) -> None:
        import ray

        if not self._pending:
            time.sleep(timeout)
            return
        flat = [r for p in self._pending.values() for r in p.refs]
        ray.wait(flat, num_returns=1, timeout=timeout)
        ready = set(ray.wait(flat, num_returns=len(flat), timeout=0)[0])
        now = time.monotonic()
        for key, p in list(self._pending.items()):
            if all(r in ready for r in p.refs):
                del self._pending[key]
                self._finish(p)
            elif now - p.since > REQUEST_TIMEOUT_S:
                del self._pending[key]
                self._say("warning", f"{p.what}: no answer after {REQUEST_TIMEOUT_S:.0f} s")

    def _finish(self, p: _Pending) -> None:
        import ray

        try:
            values = ray.get(p.refs)
            p.on_done(*values)
        except Exception as err:  # noqa: BLE001 - a failed request is reported, not fatal
            log.warning("gui: %s failed: %s", p.what, err)
            self._say("error", f"{p.what}: {_one_line(err)}")

    def _driver(self, method: str, *args: Any) -> Any:
        return getattr(self.client.driver, method).remote(*args)

    # -- timers ------------------------------------------------------------------------------
    def _poll_due(self) -> None:
        now = time.monotonic()
        for key in (
            "status",
            "results",
            "cluster",
            "runs",
            "log",
            "ingest",
            "report",
            "walk_forward",
        ):
            if now >= self._due.get(key, float("inf")):
                self._due[key] = now + getattr(self.intervals, key)
                getattr(self, f"_poll_{key}")()

    def _poll_status(self) -> None:
        run = self._run
        if run is None or run.status_final:
            return
        self._ask(
            "status",
            [self._driver("status", run.run_id)],
            lambda st: self._on_status(run, st),
            f"status of {run.run_id}",
        )

    def _on_status(self, run: _RunCache, st: dict[str, Any]) -> None:
        if run is not self._run:
            return
        self._post(snapshots.ProgressSnap(vm.progress_view(st)))
        was = run.state
        run.state, run.done = str(st.get("state")), int(st.get("done") or 0)
        run.total = int(st.get("total") or 0)
        if run.state in TERMINAL:
            run.status_final = True
            if was and was not in TERMINAL:
                self._say("info", f"run {run.run_id} {run.state}")
            for key in ("results", "runs", "cluster"):
                self._due[key] = 0.0

    def _poll_results(self) -> None:
        run = self._run
        if run is None:
            return
        if run.spec is None:
            self._ask(
                "spec",
                [self._driver("spec", run.run_id)],
                lambda d: self._on_spec(run, d),
                f"spec of {run.run_id}",
            )
            return
        final = run.state in TERMINAL
        if run.results_done == run.done and (run.final_loaded or not final):
            return
        refs = [self._driver("results", run.run_id), self._driver("pareto", run.run_id)]
        asked = (run.done, run.state)  # the results are at least as new as this status
        t0 = time.monotonic()

        def got(frame: pd.DataFrame, front: pd.DataFrame) -> None:
            self._on_results(run, asked, frame, front)
            # big runs: refresh less often than the results take to fetch and build
            took = time.monotonic() - t0
            self._due["results"] = time.monotonic() + max(self.intervals.results, 3 * took)

        self._ask("results", refs, got, f"results of {run.run_id}")

    def _on_spec(self, run: _RunCache, spec_dict: dict[str, Any]) -> None:
        from threadx.sweep.spec import spec_from_dict

        run.spec = spec_from_dict(spec_dict, f"run {run.run_id}")
        dims = list(run.spec.grid_values())
        metric, x, y = self._heat
        ranked = run.spec.rank.by[0].lstrip("+-")
        x = x if x in dims else (dims[0] if dims else None)
        y = y if y in dims and y != x else (dims[1] if len(dims) > 1 else None)
        self._heat = (metric if metric in METRIC_NAMES else ranked, x, y)
        self._due["results"] = 0.0
        if run is self._run:  # the Walk-forward panel says what it waits for
            note = missing_note(run.spec.walk_forward is not None, run.state)
            self._post(walk_forward_view(None, run.run_id, note=note))

    def _on_results(
        self, run: _RunCache, asked: tuple[int, str], frame: pd.DataFrame, front: pd.DataFrame
    ) -> None:
        if run is not self._run:
            return
        run.frame, (run.results_done, state) = frame, asked
        run.final_loaded = state in TERMINAL
        spec = run.spec
        grid = spec.grid_values()
        dims = tuple(vm.heatmap_dimensions(grid, frame))
        metric, x, y = self._heat
        ranking = self._ranking(run)
        self._post(
            snapshots.ResultsSnap(
                run_id=run.run_id,
                name=spec.name,
                state=state,
                n_results=len(frame),
                total=run.total or spec.count(),
                table=ranking.table,
                dims=dims,
                metrics=METRIC_NAMES,
                rank_by=tuple(spec.rank.by),
                heatmap=vm.heatmap_model(frame, grid, metric, x, y, spec.rank.by),
                pareto=charts.pareto_model(frame, front),
                rank_mode=ranking.mode,
                rank_note=ranking.note,
            )
        )
        if run.final_loaded and not run.report_done:
            self._due["report"] = 0.0
        if run.final_loaded and not run.wf_done:
            self._due["walk_forward"] = 0.0

    def _ranking(self, run: _RunCache) -> vm.RankingView:
        """The followed run's top K in the chosen "rank by" mode (default: its spec's)."""
        spec = run.spec
        mode = self._rank_mode or spec.rank.aggregate
        return vm.ranking_view(
            run.frame,
            list(spec.grid_values()),
            spec.rank.by,
            spec.rank.top_k,
            mode,
            spec.datasets(),
        )

    def _poll_report(self) -> None:
        run = self._run
        if run is None or run.report_done or not run.final_loaded:
            self._due["report"] = float("inf")
            return
        run.report_tries += 1  # counted when asked: a failing request is not retried forever
        self._ask(
            "report",
            [self._driver("report", run.run_id)],
            lambda rep: self._on_report(run, rep),
            f"overfitting report of {run.run_id}",
        )

    def _on_report(self, run: _RunCache, report: dict[str, Any] | None) -> None:
        if run is not self._run:
            return
        if report is not None or run.report_tries >= REPORT_TRIES:
            run.report_done = True
        if report is not None or run.report_tries == 1:
            self._post(snapshots.OverfitSnap(overfit_view(report, run.run_id)))

    def _poll_walk_forward(self) -> None:
        run = self._run
        if run is None or run.wf_done or not run.final_loaded or run.wf_tries >= REPORT_TRIES:
            self._due["walk_forward"] = float("inf")
            return
        run.wf_tries += 1  # a failing request is retried a few times, not forever
        self._ask(
            "walk_forward",
            [self._driver("walk_forward", run.run_id)],
            lambda data: self._on_walk_forward(run, data),
            f"walk-forward report of {run.run_id}",
        )

    def _on_walk_forward(self, run: _RunCache, data: dict[str, Any] | None) -> None:
        if run is not self._run:
            return
        run.wf_done = True
        note = missing_note(run.spec.walk_forward is not None, run.state)
        self._post(walk_forward_view(data, run.run_id, note=note, n_columns=WF_COLUMNS))

    def _poll_cluster(self) -> None:
        import ray

        nodes = [
            {
                "node_id": n["NodeID"],
                "address": n.get("NodeManagerAddress"),
                "alive": n.get("Alive"),
                "resources": n.get("Resources", {}),
            }
            for n in ray.nodes()
        ]
        info = {"nodes": nodes, "total": ray.cluster_resources()}
        self._ask(
            "workers",
            [self._driver("workers")],
            lambda w: self._on_cluster(info, w),
            "cluster workers",
        )

    def _on_cluster(self, info: dict[str, Any], workers: list[dict[str, Any]]) -> None:
        labels = sorted({str(w.get("device")) for w in workers})
        weights, weights_note = vm.device_weights(labels, self.cfg.devices.weights)
        rows = vm.worker_rows(workers, self._tasks_done, weights)
        self._tasks_done = {str(w.get("worker_id")): int(w.get("tasks_done") or 0) for w in workers}
        gpus, note = _local_gpus()
        total = info["total"]
        totals = (
            f"{len(info['nodes'])} node(s), {total.get('CPU', 0):g} CPUs, "
            f"{total.get('GPU', 0):g} GPUs, {len(workers)} worker slot(s)"
        )
        if not workers:
            weights_note = "no worker slots yet: they start with the first sweep"
        self._post(
            snapshots.ClusterSnap(
                vm.node_rows(info), vm.gpu_rows(gpus), note, rows, weights_note, totals
            )
        )

    def _poll_runs(self) -> None:
        self._ask("runs", [self._driver("list_runs")], self._on_runs, "list of runs")

    def _on_runs(self, runs: list[dict[str, Any]]) -> None:
        frame = pd.DataFrame(runs)
        if not frame.empty and "bar_steps_per_s" in frame.columns:
            frame["bar_steps_per_s"] = [
                vm.fmt_rate(v) if v is not None and v == v else "" for v in frame["bar_steps_per_s"]
            ]
        cols = [
            "run_id",
            "name",
            "status",
            "total_combos",
            "created",
            "finished",
            "bar_steps_per_s",
        ]
        self._post(snapshots.RunsSnap(vm.table_model(frame, cols, key="run_id")))

    def _poll_log(self) -> None:
        path = Path(self.cfg.logs_dir) / self.cfg.logging.file
        if not path.is_file():
            self._post(snapshots.LogSnap(str(path), ()))
            return
        st = path.stat()
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._log_stamp:
            return
        self._log_stamp = stamp
        with open(path, "rb") as fh:
            fh.seek(max(0, st.st_size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
        self._post(snapshots.LogSnap(str(path), vm.tail_lines(text, 300)))

    # -- commands ----------------------------------------------------------------------------
    def _follow(self, run_id: str) -> None:
        self._run = _RunCache(run_id)
        self._rank_mode = None
        self._due["status"] = self._due["results"] = 0.0
        for key in ("status", "results", "spec", "report", "walk_forward"):
            self._pending.pop(key, None)
        self._post(snapshots.OverfitSnap(overfit_view(None, run_id)))

    def _cmd_submit(self, spec: dict[str, Any]) -> None:
        def started(run_id: str) -> None:
            self._follow(run_id)
            self._due["runs"] = 0.0
            self._say("info", f"submitted run {run_id}")

        self._ask(
            self._unique("submit"), [self._driver("submit", spec, None)], started, "start sweep"
        )

    def _control(self, action: str) -> None:
        run = self._run
        if run is None:
            self._say("warning", f"{action}: no run selected")
            return

        def done(ok: bool) -> None:
            self._say(
                "info" if ok else "warning",
                f"{action} {run.run_id}: {'ok' if ok else 'not possible now'}",
            )
            run.status_final = False
            run.report_done, run.report_tries = False, 0  # a resumed run gets a new report
            run.wf_done, run.wf_tries = False, 0
            self._due["status"] = self._due["runs"] = 0.0

        self._ask(
            self._unique(action), [self._driver(action, run.run_id)], done, f"{action} {run.run_id}"
        )

    def _cmd_pause(self) -> None:
        self._control("pause")

    def _cmd_resume(self) -> None:
        self._control("resume")

    def _cmd_cancel(self) -> None:
        self._control("cancel")

    def _cmd_open_run(self, run_id: str) -> None:
        self._follow(run_id)
        self._say("info", f"opened run {run_id}")

    def _cmd_load_run_spec(self, run_id: str) -> None:
        from threadx.sweep.spec import spec_from_dict, spec_to_toml

        def got(d: dict[str, Any]) -> None:
            self._post(snapshots.SpecSnap(run_id, spec_to_toml(spec_from_dict(d, run_id))))

        self._ask(self._unique("spec"), [self._driver("spec", run_id)], got, f"spec of {run_id}")

    def _cmd_rank_mode(self, mode: str) -> None:
        """Rank the results table per dataset (``"none"``) or across datasets (``"median"``,
        ``"worst"``)."""
        self._rank_mode = mode
        run = self._run
        if run is None or run.spec is None or run.frame is None:
            return
        self._post(snapshots.RankingSnap(run.run_id, self._ranking(run)))

    def _cmd_heatmap(self, metric: str, x: str | None, y: str | None) -> None:
        self._heat = (metric, x, y)
        run = self._run
        if run is None or run.spec is None or run.frame is None:
            return
        grid = run.spec.grid_values()
        hm = vm.heatmap_model(run.frame, grid, metric, x, y, run.spec.rank.by)
        self._post(snapshots.HeatmapSnap(run.run_id, hm))

    def _cmd_drilldown(self, combo_id: int, n_columns: int = 1200) -> None:
        run = self._run
        if run is None:
            self._say("warning", "drill-down: no run selected")
            return

        def got(dd: dict[str, Any]) -> None:
            view = charts.drilldown_view(run.run_id, int(combo_id), dd, n_columns)
            self._post(snapshots.DrilldownSnap(view))

        self._ask(
            self._unique("drilldown"),
            [self._driver("drilldown", run.run_id, int(combo_id))],
            got,
            f"drill-down of combination {combo_id}",
        )

    def _cmd_refresh(self, what: str) -> None:
        if what == "catalog":
            self.data.refresh_catalog()
        else:
            self._due[what] = 0.0

    # the Data tab's commands and the ingest progress timer: gui.data_controller
    def _cmd_import(self, **kwargs: Any) -> None:
        self.data.import_path(**kwargs)

    def _cmd_ingest(self, **kwargs: Any) -> None:
        self.data.ingest(**kwargs)

    def _poll_ingest(self) -> None:
        self.data.poll_ingest()

    def _cmd_resample(self, **kwargs: Any) -> None:
        self.data.resample(**kwargs)

    def _cmd_gaps(self, **kwargs: Any) -> None:
        self.data.gaps(**kwargs)


def _local_gpus() -> tuple[list[Any], str]:
    """GPUs of this machine by NVML (an optional hardware probe); honest when there are none."""
    try:
        from threadx.devices import detect_gpus
    except ImportError:  # the probe module is optional
        return [], "no GPU probe available (threadx.devices missing)"
    try:
        gpus = detect_gpus()
    except Exception as err:  # noqa: BLE001 - a broken driver must not stop the view
        return [], f"GPU probe failed: {_one_line(err)}"
    if not gpus:
        return [], "no GPU on this machine (NVML found none); GPUs of other nodes: see nodes"
    return gpus, f"{len(gpus)} GPU(s) on this machine (NVML); other nodes: see their devices"


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
