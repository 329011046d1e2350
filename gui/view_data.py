"""Data view: the catalog (symbol, span, rows, gaps), import a file or folder, resample, gaps."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
from gui.viewmodels import NO_DATA
from gui.widgets import Shell

GREY = (160, 160, 160)


class DataView:
    """Widget tags start with ``data/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.catalog: snapshots.CatalogSnap | None = None
        self.last: dict[str, snapshots.DataResult] = {}

    def build(self) -> None:
        with dpg.tab(label="Data", tag="tab/data"):
            with dpg.group(horizontal=True):
                dpg.add_text(f"catalog: {NO_DATA}", tag="data/root")
                dpg.add_button(label="Refresh", callback=self.on_refresh)
            with dpg.table(
                tag="data/catalog",
                height=150,
                scrollY=True,
                row_background=True,
                borders_innerV=True,
                policy=dpg.mvTable_SizingStretchProp,
            ):
                dpg.add_table_column(label="", user_data="")
            dpg.add_separator()
            with dpg.group(horizontal=True):
                with dpg.child_window(width=560, height=-1):
                    self._build_actions()
                with dpg.child_window(height=-1):
                    self._build_output()

    def _build_actions(self) -> None:
        dpg.add_text("Import a CSV / JSON / Parquet / zip file or a folder")
        with dpg.group(horizontal=True):
            dpg.add_input_text(tag="data/import_path", hint="file or folder", width=380)
            dpg.add_button(label="Browse...", callback=lambda: dpg.show_item("data/dialog"))
        dpg.add_input_text(label="symbol (optional)", tag="data/import_symbol", width=200)
        dpg.add_input_text(label="exchange (optional)", tag="data/import_exchange", width=200)
        dpg.add_checkbox(label="dry run (report only, change nothing)", tag="data/dry_run")
        dpg.add_button(label="Import", tag="data/import", callback=self.on_import)
        dpg.add_file_dialog(
            show=False,
            tag="data/dialog",
            width=700,
            height=420,
            directory_selector=True,
            callback=self._on_dialog,
        )
        dpg.add_separator()
        dpg.add_text("Download missing 1m bars from Binance (incremental)")
        dpg.add_input_text(label="symbol", tag="data/ingest_symbol", width=200)
        dpg.add_input_text(
            label="base URL",
            tag="data/ingest_url",
            width=300,
            default_value="https://api.binance.com",
        )
        dpg.add_input_text(label="start (UTC, optional)", tag="data/ingest_start", width=200)
        dpg.add_input_text(label="end (UTC, optional)", tag="data/ingest_end", width=200)
        dpg.add_button(label="Ingest", tag="data/ingest", callback=self.on_ingest)
        dpg.add_separator()
        dpg.add_text("Resample / gaps (click a catalog row to pick its symbol)")
        dpg.add_input_text(label="symbol", tag="data/symbol", width=200)
        dpg.add_input_text(label="exchange", tag="data/exchange", width=200)
        dpg.add_input_text(label="timeframe", tag="data/timeframe", width=200, default_value="4h")
        with dpg.group(horizontal=True):
            dpg.add_button(label="Resample", tag="data/resample", callback=self.on_resample)
            dpg.add_button(label="Gaps", tag="data/gaps", callback=self.on_gaps)

    def _build_output(self) -> None:
        dpg.add_text(NO_DATA, tag="data/result", wrap=820)
        with dpg.plot(tag="data/plot", height=300, width=-1):
            dpg.add_plot_axis(dpg.mvXAxis, tag="data/plot_x", scale=dpg.mvPlotScale_Time)
            with dpg.plot_axis(dpg.mvYAxis, tag="data/plot_y", label="close"):
                dpg.add_line_series([], [], tag="data/close", label="close")
        with dpg.table(
            tag="data/table",
            height=-1,
            scrollY=True,
            row_background=True,
            policy=dpg.mvTable_SizingStretchProp,
        ):
            dpg.add_table_column(label="", user_data="")

    # -- callbacks ---------------------------------------------------------------------------
    def on_refresh(self, *_: Any) -> None:
        self.app.send("refresh", what="catalog")

    def on_pick(self, _sender: Any, _app_data: Any, key: str) -> None:
        """A catalog row was clicked: fill symbol and exchange of the resample form."""
        exchange, symbol = key.split("/", 1)
        dpg.set_value("data/symbol", symbol)
        dpg.set_value("data/exchange", exchange)

    def on_import(self, *_: Any) -> None:
        path = dpg.get_value("data/import_path").strip()
        if not path:
            self.app.message("error", "import: give a file or folder")
            return
        self.app.send(
            "import",
            path=path,
            symbol=dpg.get_value("data/import_symbol").strip(),
            exchange=dpg.get_value("data/import_exchange").strip(),
            dry_run=bool(dpg.get_value("data/dry_run")),
        )
        dpg.set_value("data/result", f"importing {path}...")

    def on_ingest(self, *_: Any) -> None:
        symbol = dpg.get_value("data/ingest_symbol").strip().upper()
        if not symbol:
            self.app.message("error", "ingest: give a symbol (e.g. BTCUSDT)")
            return
        self.app.send(
            "ingest",
            symbol=symbol,
            base_url=dpg.get_value("data/ingest_url").strip(),
            start=dpg.get_value("data/ingest_start").strip(),
            end=dpg.get_value("data/ingest_end").strip(),
        )
        dpg.set_value("data/result", f"ingest of {symbol} started...")

    def on_resample(self, *_: Any) -> None:
        symbol, tf = dpg.get_value("data/symbol").strip(), dpg.get_value("data/timeframe").strip()
        if not symbol or not tf:
            self.app.message("error", "resample: give a symbol and a timeframe")
            return
        self.app.send(
            "resample",
            symbol=symbol,
            timeframe=tf,
            exchange=dpg.get_value("data/exchange").strip(),
            n_columns=self.app.plot_columns,
        )
        dpg.set_value("data/result", f"resampling {symbol} to {tf}...")

    def on_gaps(self, *_: Any) -> None:
        symbol = dpg.get_value("data/symbol").strip()
        if not symbol:
            self.app.message("error", "gaps: give a symbol")
            return
        self.app.send("gaps", symbol=symbol, exchange=dpg.get_value("data/exchange").strip())

    def _on_dialog(self, _sender: Any, app_data: dict[str, Any]) -> None:
        dpg.set_value("data/import_path", app_data.get("file_path_name", ""))

    # -- snapshots ---------------------------------------------------------------------------
    def apply_catalog(self, snap: snapshots.CatalogSnap) -> None:
        self.catalog = snap
        dpg.set_value("data/root", f"catalog of {snap.data_root}: {len(snap.table.rows)} series")
        widgets.fill_table(
            "data/catalog",
            snap.table,
            on_select=self.on_pick,
            empty="no data: import a file or folder below",
        )
        if snap.spans and not dpg.get_value("data/symbol"):
            dpg.set_value("data/exchange", snap.spans[0][0])
            dpg.set_value("data/symbol", snap.spans[0][1])

    def apply_result(self, snap: snapshots.DataResult) -> None:
        self.last[snap.kind] = snap
        dpg.set_value("data/result", snap.text)
        if snap.kind == "resample":
            widgets.set_series("data/close", *snap.line)
            widgets.fit("data/plot_x", "data/plot_y")
        if snap.table is not None:
            widgets.fill_table("data/table", snap.table)
