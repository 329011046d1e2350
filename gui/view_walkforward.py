"""The Results view's Walk-forward panel (main thread only): the degradation line, the fold table,
the stitched out-of-sample equity with the fold boundaries, and the stitched metrics. It draws
:class:`gui.walkforward.WalkForwardModel` models ("not a walk-forward run" when there is none)."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import widgets
from gui.view_exports import add_chart_button
from gui.viewmodels import EMPTY_TABLE, TableModel
from gui.walkforward import METRIC_COLUMNS, WAITING, WalkForwardDataset, WalkForwardModel

NOTE_COLOUR = (160, 160, 160)
CLASS_COLOURS = {
    "holds": (120, 220, 120),
    "weak": (255, 200, 90),
    "fails": (255, 110, 110),
    "unknown": NOTE_COLOUR,
}
BOUNDARY_COLOUR = (150, 150, 150, 160)


class WalkForwardPanel:
    """Widget tags start with ``results/wf/``."""

    def __init__(self) -> None:
        self.model: WalkForwardModel | None = None
        self.dataset: WalkForwardDataset | None = None
        self.folds: widgets.TableBox | None = None
        self.metrics: widgets.TableBox | None = None
        self._marks: list[int | str] = []
        self._boundary_theme: int | str | None = None

    def build(self) -> None:
        dpg.add_text(WAITING, tag="results/wf/header", wrap=1400, color=NOTE_COLOUR)
        with dpg.group(horizontal=True):
            dpg.add_combo((), tag="results/wf/dataset", width=200, callback=self.on_dataset)
            add_chart_button("walk-forward-equity")
            dpg.add_text("", tag="results/wf/degradation", wrap=1200)
        self.folds = widgets.TableBox("results/wf/folds", 184, **widgets.WIDE)
        with dpg.group(horizontal=True):
            with dpg.child_window(width=-340, height=-1, border=False):
                title = "stitched out-of-sample equity (UTC)"
                with dpg.plot(tag="results/wf/plot", width=-1, height=-1, label=title):
                    dpg.add_plot_legend(
                        location=dpg.mvPlot_Location_North, outside=True, horizontal=True
                    )
                    dpg.add_plot_axis(
                        dpg.mvXAxis, tag="results/wf/x", scale=dpg.mvPlotScale_Time, auto_fit=True
                    )
                    with dpg.plot_axis(
                        dpg.mvYAxis, tag="results/wf/y", label="equity", auto_fit=True
                    ):
                        dpg.add_line_series([], [], tag="results/wf/equity", label="OOS equity")
                        dpg.add_inf_line_series([], tag="results/wf/bounds", label="fold boundary")
                        dpg.add_inf_line_series(
                            [], tag="results/wf/capital", horizontal=True, label="initial capital"
                        )
                dpg.bind_item_theme("results/wf/bounds", self._bounds_theme())
            with dpg.child_window(width=-1, height=-1, border=False):
                dpg.add_text("", tag="results/wf/stitched", wrap=330)
                self.metrics = widgets.TableBox(
                    "results/wf/metrics", -1, METRIC_COLUMNS, fixed=True
                )

    def _bounds_theme(self) -> int | str:
        if self._boundary_theme is None:
            with dpg.theme() as theme, dpg.theme_component(dpg.mvInfLineSeries):
                dpg.add_theme_color(
                    dpg.mvPlotCol_Line, BOUNDARY_COLOUR, category=dpg.mvThemeCat_Plots
                )
            self._boundary_theme = theme
        return self._boundary_theme

    # -- snapshots / callbacks ---------------------------------------------------------------
    def apply(self, model: WalkForwardModel) -> None:
        self.model = model
        dpg.set_value("results/wf/header", model.message)
        dpg.configure_item(
            "results/wf/header", color=(200, 200, 200) if model.available else NOTE_COLOUR
        )
        self.show_dataset(
            widgets.offer("results/wf/dataset", model, self.dataset, show=bool(model.keys))
        )

    def on_dataset(self, _sender: Any, key: str, *_: Any) -> None:
        self.show_dataset(key)

    def show_dataset(self, key: str | None) -> None:
        """Degradation, fold table, equity and metrics of dataset ``key`` (default: first)."""
        ds = self.dataset = widgets.choose("results/wf/dataset", self.model, key)
        dpg.set_value("results/wf/degradation", ds.degradation if ds else "")
        colour = CLASS_COLOURS[ds.degradation_class] if ds else NOTE_COLOUR
        dpg.configure_item("results/wf/degradation", color=colour)
        dpg.set_value("results/wf/stitched", ds.stitched if ds else "")
        empty = "" if ds is None else "no folds"
        if self.folds is not None and self.metrics is not None:
            self.folds.fill(ds.folds if ds else EMPTY_TABLE, empty=empty)
            metrics = ds.metrics if ds else TableModel(METRIC_COLUMNS, (), ())
            self.metrics.set_rows(metrics, empty="")
        self._draw(ds)

    def _draw(self, ds: WalkForwardDataset | None) -> None:
        for mark in self._marks:
            dpg.delete_item(mark)
        self._marks = []
        xs, ys = ds.equity if ds else ((), ())
        widgets.set_series("results/wf/equity", xs, ys)
        dpg.set_value("results/wf/bounds", [list(ds.boundaries if ds and xs else ())])
        capital = [ds.capital] if ds and xs and ds.capital is not None else []
        dpg.set_value("results/wf/capital", [capital])
        if ds is None or not ys:
            return
        top = max(ys)
        for x, label in ds.fold_marks:
            self._marks.append(
                dpg.add_plot_annotation(
                    label=label,
                    default_value=(x, top),
                    offset=(0, -12),
                    parent="results/wf/plot",
                    color=(60, 60, 60, 200),
                )
            )
        widgets.fit("results/wf/x", "results/wf/y")

    def shown_text(self) -> dict[str, Any]:
        """What the panel shows (for tests): header, degradation, stitched line, tables, plot."""
        return {
            "header": dpg.get_value("results/wf/header"),
            "degradation": dpg.get_value("results/wf/degradation"),
            "stitched": dpg.get_value("results/wf/stitched"),
            "columns": widgets.table_columns("results/wf/folds"),
            "folds": widgets.texts_of(self.folds),
            "metrics": widgets.texts_of(self.metrics),
            "equity": [list(v) for v in dpg.get_value("results/wf/equity")[:2]],
            "bounds": list(dpg.get_value("results/wf/bounds")[0]),
        }
