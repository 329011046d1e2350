"""The Results view's Overfitting panel (main thread only): the verdict line, PBO per (symbol,
timeframe) group, the out-of-sample rank histogram of the in-sample best, the top-K with
Sharpe, PSR, DSR, skewness and kurtosis, and the report's Monte Carlo section when it has one (a
table per (symbol, timeframe)). It draws :class:`gui.overfitting.OverfitModel` models."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
from gui.montecarlo import MC_COLUMNS, NO_SECTION, MonteCarloGroup, MonteCarloModel
from gui.overfitting import GROUP_COLUMNS, NO_REPORT, OverfitGroup, OverfitModel
from gui.view_exports import add_chart_button
from gui.viewmodels import EMPTY_TABLE

VERDICT_COLOUR = (255, 200, 90)
NO_REPORT_COLOUR = (160, 160, 160)
CLASS_COLOURS = {
    "overfit": (255, 110, 110),
    "inconclusive": VERDICT_COLOUR,
    "not_enough": NO_REPORT_COLOUR,
    "survives": (120, 220, 120),
}


class OverfitPanel:
    """Widget tags start with ``results/overfit/``."""

    def __init__(self) -> None:
        self.model: OverfitModel | None = None
        self.group: OverfitGroup | None = None
        self.groups: widgets.TableBox | None = None
        self.top: widgets.TableBox | None = None
        self.monte_carlo = MonteCarloSection()

    def build(self) -> None:
        dpg.add_text(NO_REPORT, tag="results/overfit/verdict", wrap=1400, color=NO_REPORT_COLOUR)
        dpg.add_text("", tag="results/overfit/header")
        self.groups = widgets.TableBox(
            "results/overfit/groups", 84, GROUP_COLUMNS, fixed=True, scroll_x=True, resizable=True
        )
        with dpg.group(horizontal=True):
            with dpg.child_window(width=520, height=-1, border=False):
                with dpg.group(horizontal=True):
                    dpg.add_combo(
                        (),
                        label="group",
                        tag="results/overfit/group",
                        width=200,
                        callback=self.on_group,
                    )
                    add_chart_button("overfit-histogram")
                dpg.add_text("", tag="results/overfit/summary", wrap=500)
                with dpg.plot(
                    tag="results/overfit/hist_plot", width=-1, height=-1, no_mouse_pos=True
                ):
                    dpg.add_plot_axis(
                        dpg.mvXAxis,
                        tag="results/overfit/hist_x",
                        auto_fit=True,
                        label="OOS relative rank of the in-sample best (0 = worst, 1 = best)",
                    )
                    with dpg.plot_axis(
                        dpg.mvYAxis, tag="results/overfit/hist_y", label="splits", auto_fit=True
                    ):
                        dpg.add_bar_series(
                            [], [], weight=0.8, tag="results/overfit/hist", label="CSCV splits"
                        )
            with dpg.child_window(height=-1, border=False):
                dpg.add_text(
                    "top K: Sharpe, probabilistic and deflated Sharpe ratio",
                    tag="results/overfit/top_title",
                )
                self.top = widgets.TableBox("results/overfit/top", 180, **widgets.WIDE)
                dpg.add_separator()
                self.monte_carlo.build()

    # -- snapshots / callbacks ---------------------------------------------------------------
    def apply(self, snap: snapshots.OverfitSnap) -> None:
        model = self.model = snap.model
        dpg.set_value("results/overfit/verdict", model.verdict)
        colour = (
            CLASS_COLOURS.get(model.verdict_class or "", VERDICT_COLOUR)
            if model.available
            else NO_REPORT_COLOUR
        )
        dpg.configure_item("results/overfit/verdict", color=colour)
        dpg.set_value("results/overfit/header", model.header)
        if self.groups is not None:
            empty = "" if not model.available else "no groups"
            self.groups.fill(model.groups, empty=empty)
        self.show_group(widgets.offer("results/overfit/group", model, self.group))
        self.monte_carlo.apply(model.monte_carlo)

    def on_group(self, _sender: Any, key: str, *_: Any) -> None:
        self.show_group(key)

    def show_group(self, key: str | None) -> None:
        """Histogram and top-K of group ``key`` (default: the first)."""
        grp = self.group = widgets.choose("results/overfit/group", self.model, key)
        dpg.set_value("results/overfit/summary", grp.summary if grp else "")
        if grp is None or not grp.hist:
            widgets.set_series("results/overfit/hist", [], [])
            dpg.set_axis_ticks("results/overfit/hist_x", (("", 0.0),))
        else:
            n = len(grp.hist)
            xs = [float(i) for i in range(n)]
            widgets.set_series("results/overfit/hist", xs, [float(v) for v in grp.hist])
            edges = tuple((f"{i / n:.1f}", i - 0.5) for i in range(n + 1))  # bin edges
            dpg.set_axis_ticks("results/overfit/hist_x", edges)
        model = grp.top if grp is not None else EMPTY_TABLE
        empty = "" if grp is None else "no rows"
        if self.top is not None:
            self.top.fill(model, empty=empty)

    def shown_text(self) -> dict[str, Any]:
        """What the panel shows (for tests): verdict, groups and top-K rows as text."""
        return {
            "verdict": dpg.get_value("results/overfit/verdict"),
            "header": dpg.get_value("results/overfit/header"),
            "hist": list(dpg.get_value("results/overfit/hist")[1]),
            "top": widgets.texts_of(self.top),
            "monte_carlo": self.monte_carlo.shown_text(),
        }


class MonteCarloSection:
    """The Monte Carlo tables of the report, one (symbol, timeframe) at a time (chosen in a
    combo); widget tags start with ``results/mc/``."""

    def __init__(self) -> None:
        self.model: MonteCarloModel = NO_SECTION
        self.group: MonteCarloGroup | None = None
        self.table: widgets.TableBox | None = None

    def build(self) -> None:
        dpg.add_text(NO_SECTION.header, tag="results/mc/header", wrap=860, color=NO_REPORT_COLOUR)
        dpg.add_combo(
            (), label="dataset", tag="results/mc/group", width=200, callback=self.on_group
        )
        self.table = widgets.TableBox(
            "results/mc/table", -1, MC_COLUMNS, fixed=True, scroll_x=True, freeze=True
        )

    def apply(self, model: MonteCarloModel) -> None:
        self.model = model
        dpg.set_value("results/mc/header", model.header)
        colour = (200, 200, 200) if model.available else NO_REPORT_COLOUR
        dpg.configure_item("results/mc/header", color=colour)
        self.show(widgets.offer("results/mc/group", model, self.group, show=model.available))

    def on_group(self, _sender: Any, key: str, *_: Any) -> None:
        self.show(key)

    def show(self, key: str | None) -> None:
        """The table of group ``key`` (default: the first)."""
        grp = self.group = widgets.choose("results/mc/group", self.model, key)
        if self.table is not None:
            empty = "" if not self.model.available else "no combinations"
            self.table.fill(grp.table if grp else EMPTY_TABLE, empty=empty)

    def shown_text(self) -> dict[str, Any]:
        """What the section shows (for tests): header, group, columns and rows as text."""
        return {
            "header": dpg.get_value("results/mc/header"),
            "group": dpg.get_value("results/mc/group"),
            "columns": widgets.table_columns("results/mc/table"),
            "rows": widgets.texts_of(self.table),
        }
