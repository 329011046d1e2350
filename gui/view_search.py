"""The Results view's Search panel (main thread only): a search run's method and budget, its stats
(trials evaluated, best so far, the sampler's seconds against the kernel's) and the best-so-far
curve over the trials evaluated. It draws :class:`gui.search.SearchModel` models; a grid run shows
"grid run: ..." and no curve."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import widgets
from gui.search import SearchModel
from gui.view_exports import add_chart_button

NOTE_COLOUR = (160, 160, 160)


class SearchPanel:
    """Widget tags start with ``results/search/``."""

    def __init__(self) -> None:
        self.model: SearchModel | None = None

    def build(self) -> None:
        with dpg.group(horizontal=True):
            dpg.add_text("", tag="results/search/header", wrap=1300, color=NOTE_COLOUR)
            add_chart_button("search-curve")
        dpg.add_text("", tag="results/search/stats", wrap=1400)
        with dpg.plot(tag="results/search/plot", width=-1, height=-1, show=False):
            dpg.add_plot_legend(location=dpg.mvPlot_Location_SouthEast)
            dpg.add_plot_axis(
                dpg.mvXAxis, label="trials evaluated", tag="results/search/x", auto_fit=True
            )
            with dpg.plot_axis(dpg.mvYAxis, label="best so far", tag="results/search/y"):
                dpg.add_stair_series([], [], label="best so far", tag="results/search/curve")
                dpg.add_scatter_series([], [], label="after a batch", tag="results/search/points")

    def apply(self, model: SearchModel | None) -> None:
        """Show ``model`` (None: nothing known of the run yet)."""
        self.model = model
        search = model is not None and model.is_search
        dpg.set_value("results/search/header", model.header if model else "")
        dpg.configure_item(
            "results/search/header", color=(200, 200, 200) if search else NOTE_COLOUR
        )
        dpg.set_value("results/search/stats", "\n".join(model.stats) if model else "")
        xs, ys = model.curve if search else ((), ())
        widgets.set_series("results/search/curve", xs, ys)
        widgets.set_series("results/search/points", xs, ys)
        dpg.configure_item("results/search/plot", show=search)
        if search:
            label = f"best {model.metric} so far" if model.metric else "best so far"
            dpg.configure_item("results/search/y", label=label)
            dpg.configure_item("results/search/curve", label=label)
        if ys:
            widgets.fit("results/search/x", "results/search/y")

    def shown(self) -> dict[str, Any]:
        """What the panel shows (for tests): texts, whether the plot is shown and on screen, the
        curve, the axes' limits as last rendered."""
        curve = dpg.get_value("results/search/curve")
        return {
            "header": dpg.get_value("results/search/header"),
            "stats": dpg.get_value("results/search/stats"),
            "plot": bool(dpg.get_item_configuration("results/search/plot")["show"]),
            "visible": dpg.is_item_visible("results/search/plot"),
            "y_label": dpg.get_item_configuration("results/search/y")["label"],
            "curve": (list(curve[0]), list(curve[1])),
            "x_limits": tuple(dpg.get_axis_limits("results/search/x")),
            "y_limits": tuple(dpg.get_axis_limits("results/search/y")),
        }
