"""Drill-down view: candlesticks with the Bollinger bands and trade markers, equity and drawdown
(linked time axes), and the trade list -- from the reference simulation of one combination."""

from __future__ import annotations

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
from gui.charts import DrilldownModel
from gui.view_exports import add_chart_button
from gui.viewmodels import NO_DATA
from gui.widgets import Shell

MAX_TRADE_ROWS = 500
BAND_COLOURS = {"upper": (90, 160, 255), "middle": (230, 200, 90), "lower": (90, 160, 255)}
MARKERS = (
    ("entries_long", "long entry", dpg.mvPlotMarker_Up, (60, 230, 120)),
    ("entries_short", "short entry", dpg.mvPlotMarker_Down, (240, 80, 90)),
    ("exits", "exit", dpg.mvPlotMarker_Circle, (235, 235, 235)),
)


def _series_theme(colour: tuple[int, int, int], marker: int | None = None) -> int | str:
    with dpg.theme() as theme, dpg.theme_component(dpg.mvAll):
        dpg.add_theme_color(dpg.mvPlotCol_Line, colour, category=dpg.mvThemeCat_Plots)
        if marker is not None:
            dpg.add_theme_style(dpg.mvPlotStyleVar_Marker, marker, category=dpg.mvThemeCat_Plots)
            dpg.add_theme_style(dpg.mvPlotStyleVar_MarkerSize, 5, category=dpg.mvThemeCat_Plots)
            dpg.add_theme_color(dpg.mvPlotCol_MarkerFill, colour, category=dpg.mvThemeCat_Plots)
            dpg.add_theme_color(dpg.mvPlotCol_MarkerOutline, colour, category=dpg.mvThemeCat_Plots)
    return theme


class DrilldownView:
    """Widget tags start with ``drill/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.model: DrilldownModel | None = None
        self.waiting_for: int | None = None

    def build(self) -> None:
        with dpg.tab(label="Drill-down", tag="tab/drilldown"):
            with dpg.group(horizontal=True):
                add_chart_button("drilldown")
                dpg.add_text(f"combination: {NO_DATA} (select a row in Results)", tag="drill/title")
            dpg.add_text("", tag="drill/params", wrap=1400)
            dpg.add_text("", tag="drill/metrics", wrap=1400)
            dpg.add_text("", tag="drill/mismatches", wrap=1400, color=(255, 110, 110))
            with dpg.group(horizontal=True):
                with dpg.child_window(width=-420, height=-1, border=False):
                    self._build_charts()
                with dpg.child_window(width=-1, height=-1, border=False):
                    dpg.add_text(f"trades: {NO_DATA}", tag="drill/trades_title")
                    self.trades = widgets.TableBox(
                        "drill/trades", -1, fixed=True, scroll_x=True, freeze=True, borders=False
                    )

    def _build_charts(self) -> None:
        with dpg.subplots(
            3,
            1,
            tag="drill/subplots",
            width=-1,
            height=-1,
            link_all_x=True,
            row_ratios=(3.0, 1.4, 1.0),
        ):
            with dpg.plot(tag="drill/price_plot", label="price, Bollinger bands and trades"):
                dpg.add_plot_legend()
                dpg.add_plot_axis(dpg.mvXAxis, tag="drill/price_x", scale=dpg.mvPlotScale_Time)
                with dpg.plot_axis(dpg.mvYAxis, tag="drill/price_y", label="price"):
                    dpg.add_candle_series(
                        [],
                        [],
                        [],
                        [],
                        [],
                        tag="drill/candles",
                        label="bars",
                        time_unit=dpg.mvTimeUnit_Min,
                    )
                    for band, colour in BAND_COLOURS.items():
                        dpg.add_line_series([], [], tag=f"drill/band_{band}", label=band)
                        dpg.bind_item_theme(f"drill/band_{band}", _series_theme(colour))
                    for key, label, marker, colour in MARKERS:
                        dpg.add_scatter_series([], [], tag=f"drill/{key}", label=label)
                        dpg.bind_item_theme(f"drill/{key}", _series_theme(colour, marker))
            with dpg.plot(tag="drill/equity_plot", label="equity"):
                dpg.add_plot_axis(dpg.mvXAxis, tag="drill/equity_x", scale=dpg.mvPlotScale_Time)
                with dpg.plot_axis(dpg.mvYAxis, tag="drill/equity_y", label="equity"):
                    dpg.add_line_series([], [], tag="drill/equity", label="equity")
            with dpg.plot(tag="drill/dd_plot", label="drawdown (fraction of the running peak)"):
                dpg.add_plot_axis(dpg.mvXAxis, tag="drill/dd_x", scale=dpg.mvPlotScale_Time)
                with dpg.plot_axis(dpg.mvYAxis, tag="drill/dd_y", label="drawdown", invert=True):
                    dpg.add_shade_series([], [], tag="drill/drawdown", label="drawdown")

    def pending(self, combo_id: int) -> None:
        """A drill-down was asked for; say so until it arrives."""
        self.waiting_for = combo_id
        dpg.set_value("drill/title", f"combination {combo_id}: running the reference simulation...")

    def apply(self, snap: snapshots.DrilldownSnap) -> None:
        v = self.model = snap.model
        self.waiting_for = None
        c = v.candles
        per = f", {c.bars_per_candle} bars per candle" if c.bars_per_candle > 1 else ""
        dpg.set_value(
            "drill/title",
            f"{v.title} of run {v.run_id}: {v.n_bars:,} bars{per}, "
            f"{v.n_trades:,} trades (reference simulation)",
        )
        dpg.set_value("drill/params", "parameters: " + v.params_text)
        dpg.set_value("drill/metrics", "metrics: " + v.metrics_text)
        dpg.set_value(
            "drill/mismatches",
            "\n".join(("sweep and reference differ:", *v.mismatches)) if v.mismatches else "",
        )
        dpg.set_value(
            "drill/candles", [list(c.time), list(c.open), list(c.close), list(c.low), list(c.high)]
        )
        for band, xy in v.bands:
            widgets.set_series(f"drill/band_{band}", *xy)
        for key, *_ in MARKERS:
            widgets.set_series(f"drill/{key}", *getattr(v, key))
        widgets.set_series("drill/equity", *v.equity)
        dd_x, dd_y = v.drawdown  # a shade series needs its y2 (0) as long as x
        dpg.set_value("drill/drawdown", [list(dd_x), list(dd_y), [0.0] * len(dd_x)])
        widgets.fit("drill/price_x", "drill/price_y", "drill/equity_y", "drill/dd_y")
        shown = min(v.n_trades, MAX_TRADE_ROWS)
        dpg.set_value(
            "drill/trades_title",
            f"trades: {v.n_trades:,}" + (f" (first {shown} shown)" if shown < v.n_trades else ""),
        )
        self.trades.fill(v.trades, limit=MAX_TRADE_ROWS, empty="no trades")
