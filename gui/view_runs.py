"""Runs view (past runs from the store: open, resume, load the spec into the form) and Logs view
(the tail of the threadx log file)."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
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
            widgets.add_table("runs/table", -1)

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
        widgets.fill_table(
            "runs/table",
            snap.table,
            on_select=self.on_pick,
            empty="no runs yet: start one in the Sweep tab",
        )


class LogsView:
    """Widget tags start with ``logs/``. The newest line is at the bottom, scrolled into view."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.snap: snapshots.LogSnap | None = None
        self._scroll = 0

    def build(self) -> None:
        with dpg.tab(label="Logs", tag="tab/logs"):
            dpg.add_text(f"log: {NO_DATA}", tag="logs/path")
            with dpg.child_window(tag="logs/box", width=-1, height=-1, horizontal_scrollbar=True):
                dpg.add_text(NO_DATA, tag="logs/text")

    def apply(self, snap: snapshots.LogSnap) -> None:
        self.snap = snap
        dpg.set_value("logs/path", f"log: {snap.path} (last {len(snap.lines)} lines)")
        dpg.set_value("logs/text", "\n".join(snap.lines) if snap.lines else NO_DATA)
        self._scroll = 2  # the new height is known after the next frame

    def after_frame(self) -> None:
        """Keep the newest line in view (call after each rendered frame)."""
        if self._scroll and self.app.active_tab() == "logs":
            self._scroll -= 1
            dpg.set_y_scroll("logs/box", dpg.get_y_scroll_max("logs/box"))
