"""The DearPyGui window: layout, render loop and dispatch of snapshots (main thread only).

``ThreadXApp(cfg, address).run()`` opens the window, starts the :class:`gui.backend.Backend`
thread and renders until the window closes. Each frame: run the queued DearPyGui callbacks
(``manual_callback_management``: callbacks run here, on the main thread), apply the snapshots the
backend posted, render, and record the frame time (logged once a second while a run is active).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots
from gui.backend import Backend
from gui.view_cluster import ClusterView
from gui.view_data import DataView
from gui.view_drilldown import DrilldownView
from gui.view_exports import Exporter
from gui.view_results import ResultsView
from gui.view_runs import LogsView, RunsView
from gui.view_sweep import SweepView
from gui.walkforward import WalkForwardModel
from threadx.core.log import get_logger

log = get_logger(__name__)
TABS = ("cluster", "data", "sweep", "results", "drilldown", "runs", "logs")
LEVEL_COLOURS = {"info": (200, 200, 200), "warning": (255, 200, 90), "error": (255, 110, 110)}


def _theme() -> int | str:
    """Global theme: plots keep a margin around their data when they fit it."""
    with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
        dpg.add_theme_style(
            dpg.mvPlotStyleVar_FitPadding, 0.04, 0.08, category=dpg.mvThemeCat_Plots
        )
    return theme


class FrameClock:
    """Frame times of the render loop; logs count, mean and max once per ``window_s`` while a
    run is active, and keeps totals for the frames rendered during active runs: their count,
    the longest frame, the wall time covered and the longest wall gap between two frames."""

    def __init__(self, window_s: float = 1.0) -> None:
        self.window_s = window_s
        self.frames = 0
        self.active_frames = 0
        self.active_max_s = 0.0
        self.active_wall_s = 0.0
        self.active_gap_max_s = 0.0
        self.last_s = 0.0
        self._last_end: float | None = None
        self._win: list[float] = []
        self._win_active = False
        self._win_start = time.monotonic()

    def record(self, dt: float, active: bool) -> None:
        now = time.monotonic()
        self.frames += 1
        self.last_s = dt
        if active:
            self.active_frames += 1
            self.active_max_s = max(self.active_max_s, dt)
            if self._last_end is not None:
                gap = now - self._last_end
                self.active_wall_s += gap
                self.active_gap_max_s = max(self.active_gap_max_s, gap)
        self._last_end = now
        self._win.append(dt)
        self._win_active |= active
        if now - self._win_start >= self.window_s:
            if self._win_active:
                log.info(
                    "gui frames: %d in %.1f s, mean %.1f ms, max %.1f ms (run active)",
                    len(self._win),
                    now - self._win_start,
                    1e3 * sum(self._win) / len(self._win),
                    1e3 * max(self._win),
                )
            self._win, self._win_active, self._win_start = [], False, now

    def text(self) -> str:
        return f"frame {1e3 * self.last_s:.0f} ms"


class ThreadXApp:
    """The desktop client. Build with :meth:`build`, then :meth:`run` (or :meth:`step` per frame
    from a test)."""

    def __init__(
        self,
        cfg: Any,
        address: str | None = None,
        *,
        backend: Backend | None = None,
        width: int = 1480,
        height: int = 920,
        max_fps: float = 60.0,
    ) -> None:
        self.cfg = cfg
        self.max_fps = max_fps
        self.backend = backend or Backend(cfg, address)
        self.width, self.height = width, height
        self.plot_columns = max(200, width - 460)
        self.clock = FrameClock()
        self.connection: snapshots.Connection | None = None
        self.messages: list[snapshots.Message] = []
        self.cluster = ClusterView(self)
        self.data = DataView(self)
        self.sweep = SweepView(self)
        self.results = ResultsView(self)
        self.drilldown = DrilldownView(self)
        self.runs = RunsView(self)
        self.logs = LogsView(self)
        self.exporter = Exporter(self.message)
        self._handlers: dict[type, Callable[[Any], None]] = {
            snapshots.Message: self._apply_message,
            snapshots.Connection: self._apply_connection,
            snapshots.ClusterSnap: self.cluster.apply,
            snapshots.CatalogSnap: self._apply_catalog,
            snapshots.DataResult: self.data.apply_result,
            snapshots.ProgressSnap: self.sweep.apply_progress,
            snapshots.ResultsSnap: self.results.apply_results,
            snapshots.RankingSnap: self.results.apply_ranking,
            snapshots.OverfitSnap: self.results.apply_overfit,
            WalkForwardModel: self.results.apply_walk_forward,  # frozen: posted as it is
            snapshots.HeatmapSnap: self.results.apply_heatmap,
            snapshots.DrilldownSnap: self.drilldown.apply,
            snapshots.RunsSnap: self.runs.apply,
            snapshots.LogSnap: self.logs.apply,
            snapshots.SpecSnap: self.sweep.apply_spec,
        }
        self.built = False

    # -- lifecycle ---------------------------------------------------------------------------
    def build(self) -> ThreadXApp:
        """Create the DearPyGui context, the viewport and every view."""
        dpg.create_context()
        dpg.configure_app(manual_callback_management=True)
        dpg.create_viewport(
            title="ThreadX", width=self.width, height=self.height, x_pos=0, y_pos=0, vsync=False
        )
        dpg.setup_dearpygui()
        with dpg.window(tag="main"):
            with dpg.group(horizontal=True):
                dpg.add_text("connecting...", tag="status/connection")
                dpg.add_text("|")
                dpg.add_text("ready", tag="status/message", color=LEVEL_COLOURS["info"])
                dpg.add_text("|")
                dpg.add_text("", tag="status/frames")
            with dpg.tab_bar(tag="tabs"):
                for view in (
                    self.cluster,
                    self.data,
                    self.sweep,
                    self.results,
                    self.drilldown,
                    self.runs,
                    self.logs,
                ):
                    view.build()
        self.exporter.build()
        dpg.set_primary_window("main", True)
        dpg.bind_theme(_theme())
        dpg.show_viewport()
        self.built = True
        return self

    def start(self) -> ThreadXApp:
        self.backend.start()
        return self

    def close(self) -> None:
        self.backend.stop()
        self.exporter.close()
        if self.built:
            dpg.destroy_context()
            self.built = False

    # -- render loop -------------------------------------------------------------------------
    def step(self) -> float:
        """One frame: callbacks, snapshots, render; then sleep to at most ``max_fps`` frames per
        second. Returns the frame time in seconds (the work, not the sleep)."""
        t0 = time.perf_counter()
        jobs = dpg.get_callback_queue()
        if jobs:
            dpg.run_callbacks(jobs)
        for snap in self.backend.drain():
            self.apply(snap)
        dpg.set_value("status/frames", self.clock.text())
        dpg.render_dearpygui_frame()
        self.logs.after_frame()
        dt = time.perf_counter() - t0
        self.clock.record(dt, self.run_active)
        if self.max_fps > 0:  # leave the CPU to the workers (vsync is not there under Xvfb)
            time.sleep(max(0.0, 1.0 / self.max_fps - dt))
        return dt

    def apply(self, snap: snapshots.Snapshot) -> None:
        """Copy one snapshot into the widgets."""
        self._handlers[type(snap)](snap)

    @property
    def run_active(self) -> bool:
        pv = self.sweep.progress
        return pv is not None and pv.active

    def run(self, exit_after: float | None = None, screenshot_dir: Path | None = None) -> int:
        """Render until the window closes (or ``exit_after`` seconds); then, with
        ``screenshot_dir``, save one screenshot per view. Returns an exit code."""
        if not self.built:
            self.build()
        if not self.backend.alive:
            self.start()
        t0 = time.monotonic()
        try:
            while dpg.is_dearpygui_running():
                self.step()
                if exit_after is not None and time.monotonic() - t0 >= exit_after:
                    break
            if screenshot_dir is not None:
                self.screenshot_views(Path(screenshot_dir))
        finally:
            self.close()
        return 0

    # -- helpers for views and tests ---------------------------------------------------------
    def send(self, command: str, **kwargs: Any) -> None:
        self.backend.send(command, **kwargs)

    def message(self, level: str, text: str) -> None:
        self._apply_message(snapshots.Message(level, text))

    def show_tab(self, name: str) -> None:
        dpg.set_value("tabs", f"tab/{name}")

    def active_tab(self) -> str:
        """Name of the tab shown (``"sweep"``, ...); a switch shows from the second frame on."""
        value = dpg.get_value("tabs")
        alias = value if isinstance(value, str) else dpg.get_item_alias(value)
        return str(alias).removeprefix("tab/")

    def pump(self, until: Callable[[], bool], timeout: float, what: str) -> float:
        """Render frames until ``until()`` holds; raises TimeoutError naming ``what``."""
        t0 = time.monotonic()
        while not until():
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"{what}: not reached after {timeout:.0f} s")
            if not self.backend.alive and self.connection is not None and not self.connection.ok:
                raise RuntimeError(f"{what}: backend stopped ({self.connection.text})")
            self.step()
        return time.monotonic() - t0

    def screenshot(self, path: Path, frames: int = 3) -> Path:
        """Render ``frames`` frames, save the frame buffer as PNG at ``path`` and wait for it."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        for _ in range(frames):
            self.step()
        dpg.output_frame_buffer(file=str(path))
        self.pump(lambda: path.is_file() and path.stat().st_size > 0, 10, f"screenshot {path}")
        self.step()
        return path

    def screenshot_views(self, folder: Path) -> list[Path]:
        """One screenshot per view (``<folder>/<view>.png``)."""
        out = []
        for name in TABS:
            self.show_tab(name)
            out.append(self.screenshot(folder / f"{name}.png"))
        return out

    # -- snapshot handlers -------------------------------------------------------------------
    def _apply_message(self, snap: snapshots.Message) -> None:
        self.messages.append(snap)
        del self.messages[:-200]
        dpg.set_value("status/message", snap.text)
        dpg.configure_item("status/message", color=LEVEL_COLOURS.get(snap.level, (200, 200, 200)))

    def _apply_connection(self, snap: snapshots.Connection) -> None:
        self.connection = snap
        dpg.set_value("status/connection", snap.text)

    def _apply_catalog(self, snap: snapshots.CatalogSnap) -> None:
        self.data.apply_catalog(snap)
        self.sweep.apply_catalog(snap)
