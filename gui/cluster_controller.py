"""The cluster side of the GUI backend: nodes, GPUs and worker slots (the Cluster tab), the list
of runs (the Runs tab; its first answer opens the latest completed run in the Results view) and
the tail of the log file (the Logs tab), each on its own timer.

Nodes, resources and worker slots come as one :class:`threadx.sweep.states.ClusterInfo` from the
typed client (Ray itself is never called here); GPUs of this machine from NVML. Runs on the backend
thread through :class:`gui.requests.Requests`; DearPyGui is never called here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gui import snapshots
from gui import viewmodels as vm
from gui.requests import Requests, one_line
from threadx.sweep.states import ClusterInfo, RunState, RunSummary

RUN_COLUMNS = (
    "run_id",
    "name",
    "status",
    "total_combos",
    "created",
    "finished",
    "bar_steps_per_s",
)


def latest_completed(runs: Sequence[RunSummary]) -> str | None:
    """The id of the completed run that finished last (None when no run has completed)."""
    done = [r for r in runs if r.status == RunState.COMPLETED]
    if not done:
        return None
    return max(done, key=lambda r: (r.finished or r.created or "", r.run_id)).run_id


class ClusterController:
    """``open_latest(run_id)`` is told the latest completed run once, at the first list of runs."""

    def __init__(
        self, requests: Requests, cfg: Any, open_latest: Callable[[str], None] | None = None
    ) -> None:
        self.r = requests
        self.cfg = cfg
        self.open_latest = open_latest
        self.tasks_done: dict[str, int] = {}  # per worker at the previous poll (busy/idle)
        self.log_stamp: tuple[float, int] | None = None

    def poll_cluster(self) -> None:
        self.r.ask(
            "cluster", [self.r.client().cluster_info_async()], self.on_cluster, "cluster nodes"
        )

    def on_cluster(self, info: ClusterInfo) -> None:
        workers = info.workers
        labels = sorted({str(w.get("device")) for w in workers})
        weights, weights_note = vm.device_weights(labels, self.cfg.devices.weights)
        rows = vm.worker_rows(workers, self.tasks_done, weights)
        self.tasks_done = {str(w.get("worker_id")): int(w.get("tasks_done") or 0) for w in workers}
        gpus, note = local_gpus()
        total = info.total
        totals = (
            f"{len(info.nodes)} node(s), {total.get('CPU', 0):g} CPUs, "
            f"{total.get('GPU', 0):g} GPUs, {len(workers)} worker slot(s)"
        )
        if not workers:
            weights_note = "no worker slots yet: they start with the first sweep"
        self.r.post(
            snapshots.ClusterSnap(
                vm.node_rows(info), vm.gpu_rows(gpus), note, rows, weights_note, totals
            )
        )

    def poll_runs(self) -> None:
        self.r.ask("runs", [self.r.client().list_runs_async()], self.on_runs, "list of runs")

    def on_runs(self, runs: list[RunSummary]) -> None:
        if self.open_latest is not None:
            latest, self.open_latest = self.open_latest, None
            run_id = latest_completed(runs)
            if run_id is not None:
                latest(run_id)
        frame = pd.DataFrame([r.to_dict() for r in runs])
        if not frame.empty and "bar_steps_per_s" in frame.columns:
            frame["bar_steps_per_s"] = [
                vm.fmt_rate(v) if v is not None and v == v else "" for v in frame["bar_steps_per_s"]
            ]
        self.r.post(snapshots.RunsSnap(vm.table_model(frame, RUN_COLUMNS, key="run_id")))

    def poll_log(self) -> None:
        path = Path(self.cfg.logs_dir) / self.cfg.logging.file
        if not path.is_file():
            self.r.post(snapshots.LogSnap(str(path), ()))
            return
        st = path.stat()
        stamp = (st.st_mtime, st.st_size)
        if stamp == self.log_stamp:
            return
        self.log_stamp = stamp
        with open(path, "rb") as fh:
            fh.seek(max(0, st.st_size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
        self.r.post(snapshots.LogSnap(str(path), vm.tail_lines(text, 300)))


def local_gpus() -> tuple[list[Any], str]:
    """GPUs of this machine by NVML (an optional hardware probe); honest when there are none."""
    try:
        from threadx.devices import detect_gpus
    except ImportError:  # the probe module is optional
        return [], "no GPU probe available (threadx.devices missing)"
    try:
        gpus = detect_gpus()
    except Exception as err:  # noqa: BLE001 - a broken driver must not stop the view
        return [], f"GPU probe failed: {one_line(err)}"
    if not gpus:
        return [], "no GPU on this machine (NVML found none); GPUs of other nodes: see nodes"
    return gpus, f"{len(gpus)} GPU(s) on this machine (NVML); other nodes: see their devices"
