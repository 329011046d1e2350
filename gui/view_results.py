"""Results view: sortable top-K table (select a row to drill down) ranked per dataset or across
datasets (median / worst case), heatmap of any metric over any two swept dimensions (a line for
one), the Pareto front (max Sharpe, min drawdown), the Overfitting, Walk-forward and Search (a
search run's best-so-far curve) panels."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
from gui.charts import ScatterModel
from gui.view_exports import add_chart_button
from gui.view_overfit import OverfitPanel
from gui.view_search import SearchPanel
from gui.view_walkforward import WalkForwardPanel
from gui.viewmodels import (
    NO_DATA,
    RANK_MODES,
    HeatmapModel,
    TableModel,
    rank_mode_label,
    rank_mode_of,
    sort_table,
)
from gui.walkforward import WalkForwardModel
from gui.widgets import Shell

NONE = "(none)"
BEST_OUTLINE = (255, 255, 255, 255)
LABEL_CELLS_UP_TO = 64


def _ticks(labels: tuple[str, ...], offset: float, most: int = 20) -> tuple[tuple[str, float], ...]:
    """Axis ticks at ``i + offset``; with many values every k-th is labelled (others blank)."""
    k = max(1, -(-len(labels) // most))
    return tuple((lab if i % k == 0 else "", i + offset) for i, lab in enumerate(labels))


def _finite_runs(row: tuple[float, ...]) -> list[tuple[int, int]]:
    """``[start, stop)`` index runs of finite values in ``row``."""
    runs, start = [], None
    for i, v in enumerate((*row, math.nan)):
        if math.isfinite(v) and start is None:
            start = i
        elif not math.isfinite(v) and start is not None:
            runs.append((start, i))
            start = None
    return runs


class ResultsView:
    """Widget tags start with ``results/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.snap: snapshots.ResultsSnap | None = None
        self.table: TableModel | None = None  # as shown (sorted)
        self.sort: tuple[str, bool] | None = None
        self.box: widgets.TableBox | None = None  # the table, its filter and Export button
        self.heatmap: HeatmapModel | None = None
        self.line_values: list[float] = []  # the one-dimension line as drawn
        self._heat_series: list[int | str] = []
        self._best_theme_id: int | str | None = None
        self.overfit = OverfitPanel()
        self.walk_forward = WalkForwardPanel()
        self.search = SearchPanel()

    # -- layout ------------------------------------------------------------------------------
    def build(self) -> None:
        with dpg.tab(label="Results", tag="tab/results"):
            dpg.add_text(f"run: {NO_DATA}", tag="results/title")
            with dpg.group(horizontal=True):
                dpg.add_text("rank by")
                dpg.add_combo(
                    [label for label, _ in RANK_MODES],
                    tag="results/rank_mode",
                    width=200,
                    default_value=RANK_MODES[0][0],
                    callback=self.on_rank_mode,
                )
                dpg.add_text("", tag="results/rank_note")
            self.box = widgets.TableBox(
                "results/table", 260, sortable=True, callback=self.on_sort, **widgets.WIDE
            )
            with dpg.tab_bar(tag="results/panels"):
                with dpg.tab(label="Heatmap and Pareto front", tag="results/panel/charts"):
                    with dpg.group(horizontal=True):
                        with dpg.child_window(width=760, height=-1, border=False):
                            self._build_heatmap()
                        with dpg.child_window(height=-1, border=False):
                            self._build_pareto()
                with dpg.tab(label="Overfitting", tag="results/panel/overfit"):
                    self.overfit.build()
                with dpg.tab(label="Walk-forward", tag="results/panel/walkforward"):
                    self.walk_forward.build()
                with dpg.tab(label="Search", tag="results/panel/search"):
                    self.search.build()

    def _build_heatmap(self) -> None:
        with dpg.group(horizontal=True):
            dpg.add_combo(
                (), label="metric", tag="results/metric", width=140, callback=self.on_heat_change
            )
            dpg.add_combo((), label="x", tag="results/x", width=130, callback=self.on_heat_change)
            dpg.add_combo((), label="y", tag="results/y", width=130, callback=self.on_heat_change)
            add_chart_button("heatmap")
        dpg.add_text(NO_DATA, tag="results/heat_note", wrap=740)
        with dpg.group(horizontal=True):
            with dpg.plot(tag="results/heat_plot", width=660, height=-1, no_mouse_pos=True):
                dpg.add_plot_axis(dpg.mvXAxis, tag="results/heat_x", label="x", auto_fit=True)
                dpg.add_plot_axis(dpg.mvYAxis, tag="results/heat_y", label="y", auto_fit=True)
            dpg.bind_colormap("results/heat_plot", dpg.mvPlotColormap_Viridis)
            dpg.add_colormap_scale(
                tag="results/heat_scale", colormap=dpg.mvPlotColormap_Viridis, height=-1, width=70
            )

    def _build_pareto(self) -> None:
        with dpg.group(horizontal=True):
            dpg.add_text("Pareto front: max sharpe, min max_drawdown")
            add_chart_button("pareto")
        dpg.add_text(NO_DATA, tag="results/pareto_note", wrap=520)
        with dpg.plot(tag="results/pareto_plot", width=-1, height=-1):
            dpg.add_plot_legend(location=dpg.mvPlot_Location_NorthEast)
            dpg.add_plot_axis(
                dpg.mvXAxis, label="max_drawdown", tag="results/pareto_x", auto_fit=True
            )
            with dpg.plot_axis(dpg.mvYAxis, label="sharpe", tag="results/pareto_y", auto_fit=True):
                dpg.add_scatter_series([], [], label="all combinations", tag="results/cloud")
                dpg.add_line_series([], [], label="Pareto front", tag="results/front")
                dpg.add_scatter_series([], [], label="front points", tag="results/front_pts")

    # -- callbacks ---------------------------------------------------------------------------
    def on_sort(self, _sender: Any, sort_specs: Any) -> None:
        """DearPyGui's sort callback: ``[[column_id, direction], ...]`` (direction > 0: up)."""
        if not sort_specs or self.table is None:
            return
        column_id, direction = sort_specs[0]
        self.sort_by(dpg.get_item_user_data(column_id), direction > 0)

    def sort_by(self, column: str, ascending: bool) -> None:
        """Re-order the shown rows by ``column`` (kept across live refreshes)."""
        self.sort = (column, ascending)
        if self.snap is not None:
            self._show_table(self.snap.table)

    def on_select(self, sender: Any, _app_data: Any = None, combo_id: Any = None) -> None:
        """A row was clicked: drill into that combination."""
        if sender is not None and dpg.does_item_exist(sender):
            dpg.set_value(sender, False)
        self.select(int(combo_id))

    def select(self, combo_id: int) -> None:
        self.app.send("drilldown", combo_id=combo_id, n_columns=self.app.plot_columns)
        self.app.drilldown.pending(combo_id)
        self.app.show_tab("drilldown")

    def on_rank_mode(self, _sender: Any, label: str, *_: Any) -> None:
        """The "rank by" choice: per dataset, median or worst case across datasets."""
        self.set_rank_mode(rank_mode_of(label))

    def set_rank_mode(self, mode: str) -> None:
        dpg.set_value("results/rank_mode", rank_mode_label(mode))
        self.app.send("rank_mode", mode=mode)

    def show_panel(self, name: str) -> None:
        """Show the ``"charts"``, ``"overfit"``, ``"walkforward"`` or ``"search"`` panel under
        the table."""
        dpg.set_value("results/panels", f"results/panel/{name}")

    def on_heat_change(self, *_: Any) -> None:
        y = dpg.get_value("results/y")
        self.app.send(
            "heatmap",
            metric=dpg.get_value("results/metric"),
            x=dpg.get_value("results/x") or None,
            y=None if y in (NONE, "") else y,
        )

    # -- snapshots ---------------------------------------------------------------------------
    def apply_results(self, snap: snapshots.ResultsSnap) -> None:
        first = self.snap is None or self.snap.run_id != snap.run_id
        self.snap = snap
        if first:
            self.sort = None
        search = snap.search is not None and snap.search.is_search
        dpg.set_value(
            "results/title",
            f"run {snap.run_id} ({snap.name}): {snap.state}, "
            f"{snap.n_results:,} of {snap.total:,} {'trials' if search else 'combinations'}"
            " - click a row to drill down",
        )
        self.search.apply(snap.search)
        self._show_ranking(snap)
        dpg.configure_item("results/metric", items=snap.metrics)
        dpg.configure_item("results/x", items=snap.dims)
        dpg.configure_item("results/y", items=(NONE, *snap.dims))
        self.draw_heatmap(snap.heatmap)
        self.draw_pareto(snap.pareto)

    def apply_ranking(self, snap: snapshots.RankingSnap) -> None:
        """The table in another "rank by" mode (the rest of the results unchanged)."""
        if self.snap is None or snap.run_id != self.snap.run_id:
            return
        r = snap.ranking
        self.snap = dataclasses.replace(
            self.snap, table=r.table, rank_mode=r.mode, rank_note=r.note
        )
        self.sort = None
        self._show_ranking(self.snap)

    def _show_ranking(self, snap: snapshots.ResultsSnap) -> None:
        dpg.set_value("results/rank_mode", rank_mode_label(snap.rank_mode))
        dpg.set_value("results/rank_note", snap.rank_note)
        self._show_table(snap.table)

    def apply_overfit(self, snap: snapshots.OverfitSnap) -> None:
        self.overfit.apply(snap)

    def apply_walk_forward(self, model: WalkForwardModel) -> None:
        self.walk_forward.apply(model)

    def apply_heatmap(self, snap: snapshots.HeatmapSnap) -> None:
        if self.snap is not None and snap.run_id == self.snap.run_id:
            self.draw_heatmap(snap.heatmap)

    def _show_table(self, model: TableModel) -> None:
        if self.sort is not None:
            model = sort_table(model, *self.sort)
        self.table = model
        if self.box is not None:
            self.box.fill(model, on_select=self.on_select)

    @property
    def cells(self) -> widgets.Cells:
        """The shown cells of the table (the rows that pass its filter)."""
        return widgets.cells_of(self.box)

    # -- drawing -----------------------------------------------------------------------------
    def _clear_heatmap(self) -> None:
        dpg.delete_item("results/heat_y", children_only=True)
        self._heat_series = []
        self.line_values = []

    def draw_heatmap(self, hm: HeatmapModel) -> None:
        """Draw ``hm``: a heat series (rows bottom-up = y ascending), or a line for one dimension.
        Cells without a finite value stay empty."""
        self.heatmap = hm
        self._clear_heatmap()
        dpg.set_value("results/heat_note", hm.note)
        if hm.kind == "empty":
            dpg.set_axis_ticks("results/heat_x", (("", 0.0),))
            dpg.set_axis_ticks("results/heat_y", (("", 0.0),))
            return
        self._select_combos(hm)
        if hm.kind == "line":
            self._draw_line(hm)
        else:
            self._draw_cells(hm)

    def _select_combos(self, hm: HeatmapModel) -> None:
        dpg.set_value("results/metric", hm.metric)
        dpg.set_value("results/x", hm.x_param)
        dpg.set_value("results/y", hm.y_param or NONE)
        dpg.configure_item("results/heat_x", label=hm.x_param)
        dpg.configure_item("results/heat_y", label=hm.y_param or hm.metric)

    def _draw_line(self, hm: HeatmapModel) -> None:
        xs = [float(i) for i in range(len(hm.x_values))]
        ys = list(hm.values[0])
        dpg.set_axis_ticks("results/heat_x", _ticks(hm.x_labels, 0.0))
        dpg.reset_axis_ticks("results/heat_y")
        dpg.add_line_series(xs, ys, parent="results/heat_y", label=hm.metric)
        dpg.add_scatter_series(xs, ys, parent="results/heat_y", label=hm.metric)
        self.line_values = ys

    def _draw_cells(self, hm: HeatmapModel) -> None:
        """One heat series per run of finite cells in a row, so a cell without a result stays
        empty (DearPyGui cannot colour NaN, and no value is made up for it)."""
        lo, hi = hm.finite_range() or (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        fmt = "%.3g" if len(hm.x_values) * len(hm.y_values) <= LABEL_CELLS_UP_TO else ""
        for j, row in enumerate(hm.values):
            for a, b in _finite_runs(row):
                series = dpg.add_heat_series(
                    list(row[a:b]),
                    1,
                    b - a,
                    parent="results/heat_y",
                    scale_min=lo,
                    scale_max=hi,
                    bounds_min=(a, j),
                    bounds_max=(b, j + 1),
                    format=fmt,
                )
                self._heat_series.append(series)
        dpg.configure_item("results/heat_scale", min_scale=lo, max_scale=hi)
        dpg.set_axis_ticks("results/heat_x", _ticks(hm.x_labels, 0.5))
        dpg.set_axis_ticks("results/heat_y", _ticks(hm.y_labels, 0.5))
        if hm.best is not None:
            i, j = hm.x_values.index(hm.best[0]), hm.y_values.index(hm.best[1])
            best = dpg.add_scatter_series(
                [i + 0.5], [j + 0.5], parent="results/heat_y", label=f"best {hm.metric}"
            )
            dpg.bind_item_theme(best, self._best_theme())

    def _best_theme(self) -> int | str:
        if self._best_theme_id is None:
            with dpg.theme() as theme, dpg.theme_component(dpg.mvScatterSeries):
                cat = dpg.mvThemeCat_Plots
                dpg.add_theme_style(
                    dpg.mvPlotStyleVar_Marker, dpg.mvPlotMarker_Square, category=cat
                )
                dpg.add_theme_style(dpg.mvPlotStyleVar_MarkerSize, 7, category=cat)
                dpg.add_theme_color(dpg.mvPlotCol_MarkerOutline, BEST_OUTLINE, category=cat)
                dpg.add_theme_color(dpg.mvPlotCol_MarkerFill, (0, 0, 0, 0), category=cat)
            self._best_theme_id = theme
        return self._best_theme_id

    def drawn_cells(self) -> dict[tuple[int, int], float]:
        """Read back from the heat series what is drawn: ``{(x index, y index): value}``."""
        out: dict[tuple[int, int], float] = {}
        for series in self._heat_series:
            cfg = dpg.get_item_configuration(series)
            a, j = (int(round(v)) for v in cfg["bounds_min"][:2])
            for k, value in enumerate(dpg.get_value(series)[0]):
                out[(a + k, j)] = value
        return out

    def draw_pareto(self, m: ScatterModel) -> None:
        dpg.set_value("results/pareto_note", m.note)
        widgets.set_series("results/cloud", *m.cloud)
        widgets.set_series("results/front", *m.front)
        widgets.set_series("results/front_pts", *m.front)

    def displayed_rows(self) -> list[list[str]]:
        """The text of every shown table cell (what the user reads), row by row."""
        return widgets.texts_of(self.box)
