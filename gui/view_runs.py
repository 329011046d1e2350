"""Runs view (past runs from the store: open, resume, load the spec into the form) and Logs view
(the tail of the threadx log file, filtered by level and logger)."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import logs, snapshots, widgets
from gui.viewmodels import NO_DATA
from gui.widgets import Shell


class RunsView:
    """Widget tags start with ``runs/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.snap: snapshots.RunsSnap | None = None
        self.selected: str | None = None

    def build(self) -> None:
        with dpg.tab(label="Runs", tag="tab/runs"):
            with dpg.group(horizontal=True):
                dpg.add_text("selected: none (click a run)", tag="runs/selected")
                dpg.add_button(label="Open results", tag="runs/open", callback=self.on_open)
                dpg.add_button(label="Resume", tag="runs/resume", callback=self.on_resume)
                dpg.add_button(
                    label="Load spec into form", tag="runs/load_spec", callback=self.on_load_spec
                )
                dpg.add_button(
                    label="Refresh", callback=lambda: self.app.send("refresh", what="runs")
                )
            self.table = widgets.TableBox("runs/table", -1)

    def on_pick(self, sender: Any, _app_data: Any, run_id: str) -> None:
        self.select(run_id)

    def select(self, run_id: str) -> None:
        self.selected = run_id
        dpg.set_value("runs/selected", f"selected: {run_id}")

    def on_open(self, *_: Any) -> None:
        self._for_selected("open_run", "results")

    def on_resume(self, *_: Any) -> None:
        self._for_selected("open_run", "sweep", then="resume")

    def on_load_spec(self, *_: Any) -> None:
        self._for_selected("load_run_spec", "sweep")

    def _for_selected(self, command: str, tab: str, then: str | None = None) -> None:
        """Send ``command`` for the selected run (then the command ``then``, if any) and show
        ``tab``; without a selected run, say so."""
        run_id = self._need()
        if run_id:
            self.app.send(command, run_id=run_id)
            if then is not None:
                self.app.send(then)
            self.app.show_tab(tab)

    def _need(self) -> str | None:
        if self.selected is None:
            self.app.message("warning", "select a run first")
        return self.selected

    def apply(self, snap: snapshots.RunsSnap) -> None:
        self.snap = snap
        self.table.fill(
            snap.table,
            on_select=self.on_pick,
            empty="no runs yet: start one in the Sweep tab",
        )


class LogsView:
    """Widget tags start with ``logs/``. The newest line is at the bottom, scrolled into view;
    the lines shown can be narrowed to a level (and above) and a logger (and those below it)."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.snap: snapshots.LogSnap | None = None
        self.records: tuple[logs.LogRecord, ...] = ()
        self.shown: tuple[str, ...] = ()
        self._scroll = 0

    def build(self) -> None:
        with dpg.tab(label="Logs", tag="tab/logs"):
            with dpg.group(horizontal=True):
                dpg.add_text(f"log: {NO_DATA}", tag="logs/path")
                dpg.add_combo(
                    (logs.ALL, *logs.LEVELS),
                    label="level (and above)",
                    tag="logs/level",
                    default_value=logs.ALL,
                    width=110,
                    callback=self.on_filter,
                )
                dpg.add_combo(
                    (logs.ALL,),
                    label="logger",
                    tag="logs/logger",
                    default_value=logs.ALL,
                    width=260,
                    callback=self.on_filter,
                )
            with dpg.child_window(tag="logs/box", width=-1, height=-1, horizontal_scrollbar=True):
                dpg.add_text(NO_DATA, tag="logs/text")

    def apply(self, snap: snapshots.LogSnap) -> None:
        self.snap = snap
        self.records = logs.parse_log(snap.lines)
        dpg.configure_item("logs/logger", items=logs.loggers(self.records))
        self.show()

    def set_filter(self, level: str = logs.ALL, logger: str = logs.ALL) -> None:
        dpg.set_value("logs/level", level)
        dpg.set_value("logs/logger", logger)
        self.show()

    def on_filter(self, *_: Any) -> None:
        self.show()

    def show(self) -> None:
        """The lines of the records that pass the level and logger filter."""
        level, logger = dpg.get_value("logs/level"), dpg.get_value("logs/logger")
        self.shown = logs.filter_log(self.records, level or logs.ALL, logger or logs.ALL)
        if self.snap is not None:
            n = len(self.snap.lines)
            part = f", {len(self.shown)} shown" if len(self.shown) < n else ""
            dpg.set_value("logs/path", f"log: {self.snap.path} (last {n} lines{part})")
        dpg.set_value("logs/text", "\n".join(self.shown) if self.shown else NO_DATA)
        self._scroll = 2  # the new height is known after the next frame

    def after_frame(self) -> None:
        """Keep the newest line in view (call after each rendered frame)."""
        if self._scroll and self.app.active_tab() == "logs":
            self._scroll -= 1
            dpg.set_y_scroll("logs/box", dpg.get_y_scroll_max("logs/box"))
