"""The GUI's background thread: the one place that talks to the cluster.

It owns a :class:`actors.client.ThreadXClient` (an embedded local cluster when no address is
given) and runs a small request loop: take commands from the render loop (:meth:`Backend.send`,
dispatched by the table :attr:`Backend.commands`), issue the client's non-blocking requests (their
object refs are collected as they become ready), fire the area controllers' polls on timers, and
post immutable snapshots (:mod:`gui.snapshots`) on a queue that the render loop drains each frame
(:meth:`Backend.drain`). DearPyGui is never called here.

The areas are controllers behind the narrow :class:`gui.requests.Requests` interface:
:class:`gui.run_controller.RunController` (the followed run), :class:`gui.cluster_controller.
ClusterController` (nodes, workers, runs, log) and :class:`gui.data_controller.DataController`
(the Data tab).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gui import snapshots
from gui.cluster_controller import ClusterController
from gui.data_controller import DataController
from gui.requests import Requests, one_line
from gui.run_controller import RunController
from threadx.core.log import get_logger

log = get_logger(__name__)
REQUEST_TIMEOUT_S = 120.0


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


class Backend:
    """Background worker of the GUI; see the module docstring."""

    def __init__(
        self, cfg: Any, address: str | None = None, *, intervals: Intervals | None = None
    ) -> None:
        self.cfg = cfg
        self.address = address
        self.intervals = intervals or Intervals()
        self.inbox: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self.snapshots: queue.Queue[snapshots.Snapshot] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="threadx-gui-backend", daemon=True)
        # state below is owned by the backend thread
        self.client: Any = None  # actors.client.ThreadXClient once connected
        self._pending: dict[str, _Pending] = {}
        self._due: dict[str, float] = {}
        self._seq = 0
        self._last_say: tuple[str, float] | None = None
        r = Requests(
            self._ask, self._forget, self._unique, self._post, self._say, self._client, self._due
        )
        self.run = RunController(r, self.intervals.results)
        self.cluster = ClusterController(r, cfg, self.run.open_latest)
        self.data = DataController(r)
        #: command name -> handler (what :meth:`send` accepts)
        self.commands: dict[str, Callable[..., None]] = {
            "submit": self.run.submit,
            "pause": self.run.pause,
            "resume": self.run.resume,
            "cancel": self.run.cancel,
            "open_run": self.run.open_run,
            "load_run_spec": self.run.load_run_spec,
            "rank_mode": self.run.set_rank_mode,
            "heatmap": self.run.set_heatmap,
            "drilldown": self.run.drilldown,
            "refresh": self._refresh,
            "import": self.data.import_path,
            "ingest": self.data.ingest,
            "resample": self.data.resample,
            "gaps": self.data.gaps,
        }
        #: timer key (an :class:`Intervals` field) -> poll, in the order they are checked
        self.timers: dict[str, Callable[[], None]] = {
            "status": self.run.poll_status,
            "results": self.run.poll_results,
            "cluster": self.cluster.poll_cluster,
            "runs": self.cluster.poll_runs,
            "log": self.cluster.poll_log,
            "ingest": self.data.poll_ingest,
            "report": self.run.poll_report,
            "walk_forward": self.run.poll_walk_forward,
        }

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
        if command not in self.commands:
            raise ValueError(f"unknown backend command {command!r}")
        self.inbox.put((command, kwargs))

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
    def _client(self) -> Any:
        return self.client

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
                self.handle_commands()
                self._cycle()
        finally:
            if self.client is not None and self.client.embedded:
                self.client.close()

    def _cycle(self) -> None:
        """Polls and collection; a failure (cluster gone, ...) is reported and retried in 1 s."""
        try:
            self.poll_due()
            self.collect(0.05)
        except Exception as err:  # noqa: BLE001 - the window must keep going
            log.exception("gui: background cycle failed")
            self._say("error", f"cluster: {one_line(err)} (retrying)")
            self._pending.clear()
            self._stop.wait(1.0)

    def _connect(self) -> None:
        from actors.client import ThreadXClient

        self._post(snapshots.Connection(False, "connecting..."))
        self.client = ThreadXClient(self.cfg, self.address).connect()
        self.client.ping()  # creates the driver (and the data store) if needed
        where = (
            "embedded local cluster"
            if self.client.embedded
            else (self.client.address or "local cluster")
        )
        self._post(snapshots.Connection(True, f"connected: {where}", self.client.embedded))
        self._refresh("catalog")
        for key in ("cluster", "runs", "log"):
            self._due[key] = 0.0

    def handle_commands(self, limit: int = 32) -> None:
        """Run up to ``limit`` queued commands (each one's failure is reported)."""
        for _ in range(limit):
            try:
                name, kwargs = self.inbox.get_nowait()
            except queue.Empty:
                return
            try:
                self.commands[name](**kwargs)
            except Exception as err:  # noqa: BLE001 - reported, the loop goes on
                log.exception("gui: command %s failed", name)
                self._say("error", f"{name}: {err}")

    def _refresh(self, what: str) -> None:
        if what == "catalog":
            self.data.refresh_catalog()
        else:
            self._due[what] = 0.0

    # -- non-blocking requests ---------------------------------------------------------------
    def _ask(self, key: str, refs: list[Any], on_done: Callable[..., None], what: str) -> bool:
        """Remember ``refs``; ``on_done(*values)`` runs here once all are ready. A ``key``
        already in flight is not asked twice (returns False)."""
        if key in self._pending:
            return False
        self._pending[key] = _Pending(refs, on_done, what)
        return True

    def _forget(self, key: str) -> None:
        self._pending.pop(key, None)

    def _unique(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}#{self._seq}"

    def collect(self, timeout: float) -> None:
        """Wait up to ``timeout`` s for an answer; run the handlers of the requests whose
        answers are all in; drop (and report) those older than :data:`REQUEST_TIMEOUT_S`."""
        if not self._pending:
            time.sleep(timeout)
            return
        ready = self.client.ready([r for p in self._pending.values() for r in p.refs], timeout)
        now = time.monotonic()
        for key, p in list(self._pending.items()):
            if all(r in ready for r in p.refs):
                del self._pending[key]
                self._finish(p)
            elif now - p.since > REQUEST_TIMEOUT_S:
                del self._pending[key]
                self._say("warning", f"{p.what}: no answer after {REQUEST_TIMEOUT_S:.0f} s")

    def _finish(self, p: _Pending) -> None:
        try:
            values = self.client.resolve(p.refs)
            p.on_done(*values)
        except Exception as err:  # noqa: BLE001 - a failed request is reported, not fatal
            log.warning("gui: %s failed: %s", p.what, err)
            self._say("error", f"{p.what}: {one_line(err)}")

    # -- timers ------------------------------------------------------------------------------
    def poll_due(self) -> None:
        """Run the polls whose time has come (each then waits its interval again)."""
        now = time.monotonic()
        for key, poll in self.timers.items():
            if now >= self._due.get(key, float("inf")):
                self._due[key] = now + getattr(self.intervals, key)
                poll()
