"""Exports from the window (main thread only): the "save as" file dialogs, tables to CSV /
Parquet / Excel and charts to PNG.

A table is written from its model (:func:`gui.exports.write_table`); a chart from the window's
frame buffer cropped to the chart's rectangle: :meth:`Exporter.save_chart` asks DearPyGui for the
next rendered frame (``output_frame_buffer``), whose callback runs on the main thread at the start
of the following frame, when the chart's rectangle is that of the captured frame. The chart must
be on screen (its tab shown), as when its button is pressed. The app builds one
:class:`Exporter`; the buttons of tables and charts reach it through :func:`ask_save`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg

from gui.exports import CHART_SUFFIXES, TABLE_SUFFIXES, crop_rgba, export_name, write_png
from gui.requests import one_line

#: The charts that can be saved as PNG: name -> the plot's tag.
CHARTS = {
    "heatmap": "results/heat_plot",
    "pareto": "results/pareto_plot",
    "overfit-histogram": "results/overfit/hist_plot",
    "walk-forward-equity": "results/wf/plot",
    "search-curve": "results/search/plot",
    "drilldown": "drill/subplots",
    "close": "data/plot",
}
DIALOGS = {TABLE_SUFFIXES: "export/table_dialog", CHART_SUFFIXES: "export/chart_dialog"}

_current: Exporter | None = None


class Exporter:
    """The window's exports; ``say(level, text)`` reports each one in the status bar."""

    def __init__(self, say: Callable[[str, str], None]) -> None:
        self.say = say
        self.pending: list[tuple[str, Path]] = []  # charts waiting for the next frame
        self.written: list[Path] = []  # every file written, in order
        self._write: Callable[[Path], Any] | None = None
        self._suffixes: tuple[str, ...] = TABLE_SUFFIXES

    def build(self) -> Exporter:
        """The file dialogs (hidden until asked); this exporter serves :func:`ask_save`."""
        global _current
        for suffixes, tag in DIALOGS.items():
            with dpg.file_dialog(
                show=False,
                tag=tag,
                width=700,
                height=420,
                modal=True,
                directory_selector=False,
                callback=self.on_dialog,
            ):
                for suffix in suffixes:
                    dpg.add_file_extension(suffix)
        _current = self
        return self

    def close(self) -> None:
        """Stop serving :func:`ask_save` (the window is going away)."""
        global _current
        if _current is self:
            _current = None

    # -- asking for a path -------------------------------------------------------------------
    def ask(self, name: str, suffixes: Sequence[str], write: Callable[[Path], Any]) -> None:
        """Show the dialog for ``suffixes``; the chosen path goes to ``write``."""
        self._write, self._suffixes = write, tuple(suffixes)
        tag = DIALOGS[self._suffixes]
        dpg.configure_item(tag, default_filename=export_name(name, ""))
        dpg.show_item(tag)

    def on_dialog(self, _sender: Any, app_data: dict[str, Any], *_: Any) -> None:
        """The dialog's OK: the path, with the chosen filter's suffix when it has none of ours."""
        write, self._write = self._write, None
        path = Path(str(app_data.get("file_path_name") or ""))
        if write is None or not path.name:
            return
        if path.suffix.lower() not in self._suffixes:
            chosen = str(app_data.get("current_filter") or "")
            path = path.with_name(
                path.name + (chosen if chosen in self._suffixes else self._suffixes[0])
            )
        write(path)

    # -- writing -----------------------------------------------------------------------------
    def run(self, what: str, write: Callable[[Path], Path], path: Path) -> Path | None:
        """``write(path)``, reported; None (and an error in the status bar) when it fails."""
        try:
            out = write(path)
        except Exception as err:  # noqa: BLE001 - a failed export is reported, not fatal
            self.say("error", f"export of {what} failed: {one_line(err)}")
            return None
        self.written.append(out)
        self.say("info", f"saved {what} to {out}")
        return out

    def save_chart(self, name: str, path: Path | str) -> None:
        """Save chart ``name`` (:data:`CHARTS`) as PNG at ``path`` from the next frame."""
        if name not in CHARTS:
            self.say("error", f"export: no chart named {name!r}")
            return
        if not self.pending:
            dpg.output_frame_buffer(callback=self.on_frame)
        self.pending.append((name, Path(path)))

    def on_frame(self, _sender: Any, buffer: Any, *_: Any) -> None:
        """The captured frame: crop each waiting chart's rectangle out of it and write it."""
        width, height = buffer.get_width(), buffer.get_height()
        pending, self.pending = self.pending, []
        for name, path in pending:
            tag = CHARTS[name]

            def write(p: Path, tag: str = tag) -> Path:
                if not dpg.is_item_visible(tag):
                    raise ValueError("the chart is not on screen: show its tab first")
                rect = dpg.get_item_rect_min(tag), dpg.get_item_rect_size(tag)
                return write_png(crop_rgba(buffer, width, height, *rect), p)

            self.run(f"chart {name}", write, path)


def ask_save(name: str, suffixes: Sequence[str], write: Callable[[Path], Any]) -> None:
    """Ask the app's exporter for a path to ``write`` (nothing without an app: a bare panel)."""
    if _current is not None:
        _current.ask(name, suffixes, write)


def export_table(name: str, write: Callable[[Path], Path], path: Path) -> Path | None:
    """Write a table through the app's exporter (reported in the status bar); without an app,
    write it directly."""
    return write(path) if _current is None else _current.run(f"table {name}", write, path)


def add_chart_button(name: str) -> None:
    """A "Save PNG..." button for chart ``name`` (:data:`CHARTS`)."""

    def ask(*_: Any) -> None:
        if _current is not None:
            ask_save(
                name,
                CHART_SUFFIXES,
                lambda path, exporter=_current: exporter.save_chart(name, path),
            )

    dpg.add_button(label="Save PNG...", callback=ask)
