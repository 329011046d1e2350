"""Data view: the catalog (symbol, timeframe, span, rows, gaps), import a file or folder, ingest
many symbols from the exchange (dry run, per-symbol progress and summary), resample, gaps."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import ingest, snapshots, widgets
from gui.view_exports import add_chart_button
from gui.viewmodels import NO_DATA
from gui.widgets import Shell

GREY = (160, 160, 160)
#: What the error of each action asks for when a required input is empty.
_NEEDS = {
    "import": "give a file or folder",
    "resample": "give a symbol and a timeframe",
    "gaps": "give a symbol",
}


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
            self.catalog_table = widgets.TableBox("data/catalog", 150)
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
        dpg.add_text("Download missing 1m bars from Binance (incremental), many symbols at once")
        dpg.add_radio_button(
            [label for _, label in ingest.SOURCES],
            tag="data/ingest_source",
            horizontal=True,
            default_value=ingest.SOURCES[0][1],
        )
        dpg.add_input_text(
            label="symbols", tag="data/ingest_symbols", width=380, hint="BTCUSDT, ETHUSDT ..."
        )
        dpg.add_input_text(
            label="universe file",
            tag="data/ingest_universe",
            width=380,
            hint="threadx data universe --out FILE",
        )
        dpg.add_input_text(
            label="exchange", tag="data/ingest_exchange", width=200, default_value="binance"
        )
        dpg.add_input_text(
            label="base URL", tag="data/ingest_url", width=300, hint="the exchange's REST API"
        )
        dpg.add_input_text(label="start (UTC, optional)", tag="data/ingest_start", width=200)
        dpg.add_input_text(label="end (UTC, optional)", tag="data/ingest_end", width=200)
        dpg.add_input_int(
            label="workers",
            tag="data/ingest_workers",
            width=200,
            default_value=4,
            min_value=1,
            min_clamped=True,
        )
        with dpg.group(horizontal=True):
            dpg.add_button(label="Dry run", tag="data/ingest_dry", callback=self.on_ingest_dry)
            dpg.add_button(label="Start", tag="data/ingest", callback=self.on_ingest)
        self.ingest_table = widgets.TableBox("data/ingest_table", 160)
        dpg.add_separator()
        dpg.add_text("Resample / gaps (click a catalog row to pick its symbol)")
        dpg.add_input_text(label="symbol", tag="data/symbol", width=200)
        dpg.add_input_text(label="exchange", tag="data/exchange", width=200)
        dpg.add_input_text(label="timeframe", tag="data/timeframe", width=200, default_value="4h")
        with dpg.group(horizontal=True):
            dpg.add_button(label="Resample", tag="data/resample", callback=self.on_resample)
            dpg.add_button(label="Gaps", tag="data/gaps", callback=self.on_gaps)

    def _build_output(self) -> None:
        with dpg.group(horizontal=True):
            add_chart_button("close")
            dpg.add_text(NO_DATA, tag="data/result", wrap=720)
        with dpg.plot(tag="data/plot", height=300, width=-1):
            dpg.add_plot_axis(dpg.mvXAxis, tag="data/plot_x", scale=dpg.mvPlotScale_Time)
            with dpg.plot_axis(dpg.mvYAxis, tag="data/plot_y", label="close"):
                dpg.add_line_series([], [], tag="data/close", label="close")
        self.table = widgets.TableBox("data/table", -1, borders=False)

    # -- callbacks ---------------------------------------------------------------------------
    def on_refresh(self, *_: Any) -> None:
        self.app.send("refresh", what="catalog")

    def on_pick(self, _sender: Any, _app_data: Any, key: str) -> None:
        """A catalog row was clicked: fill symbol and exchange of the resample form."""
        exchange, symbol = key.split("/", 1)
        dpg.set_value("data/symbol", symbol)
        dpg.set_value("data/exchange", exchange)

    def on_import(self, *_: Any) -> None:
        path = self._field("import_path")
        more = self._fields(symbol="import_symbol", exchange="import_exchange")
        dry_run = bool(dpg.get_value("data/dry_run"))
        self._request("import", {"path": path}, f"importing {path}...", dry_run=dry_run, **more)

    def read_ingest(self) -> ingest.IngestForm:
        """The ingest fields as an :class:`~gui.ingest.IngestForm`."""
        return ingest.IngestForm(
            source=ingest.source_of(dpg.get_value("data/ingest_source")),
            workers=int(dpg.get_value("data/ingest_workers")),
            **self._fields(
                symbols="ingest_symbols",
                universe="ingest_universe",
                exchange="ingest_exchange",
                base_url="ingest_url",
                start="ingest_start",
                end="ingest_end",
            ),
        )

    def on_ingest(self, *_: Any, dry_run: bool = False) -> None:
        form = self.read_ingest()
        if form.needs():
            self.app.message("error", f"ingest: {form.needs()}")
            return
        self.app.send("ingest", form=form, dry_run=dry_run)
        dpg.set_value("data/result", "dry run of the ingest..." if dry_run else "ingest started...")

    def on_ingest_dry(self, *_: Any) -> None:
        self.on_ingest(dry_run=True)

    def on_resample(self, *_: Any) -> None:
        symbol, tf = self._field("symbol"), self._field("timeframe")
        more = self._fields(exchange="exchange")
        started = f"resampling {symbol} to {tf}..."
        required = {"symbol": symbol, "timeframe": tf}
        self._request("resample", required, started, n_columns=self.app.plot_columns, **more)

    def on_gaps(self, *_: Any) -> None:
        self._request("gaps", self._fields(symbol="symbol"), **self._fields(exchange="exchange"))

    def _field(self, name: str) -> str:
        """The text of the input ``data/<name>``, stripped."""
        return dpg.get_value(f"data/{name}").strip()

    def _fields(self, **names: str) -> dict[str, str]:
        """``{argument: the text of the input data/<name>}`` (stripped)."""
        return {arg: self._field(name) for arg, name in names.items()}

    def _request(
        self, command: str, required: dict[str, str], started: str = "", **more: Any
    ) -> None:
        """Send ``command`` with the ``required`` arguments and ``more`` (``started``, if any,
        goes in the result line); when a required one is empty, an error says what to give."""
        if not all(required.values()):
            self.app.message("error", f"{command}: {_NEEDS[command]}")
            return
        self.app.send(command, **required, **more)
        if started:
            dpg.set_value("data/result", started)

    def _on_dialog(self, _sender: Any, app_data: dict[str, Any]) -> None:
        dpg.set_value("data/import_path", app_data.get("file_path_name", ""))

    # -- snapshots ---------------------------------------------------------------------------
    def apply_catalog(self, snap: snapshots.CatalogSnap) -> None:
        self.catalog = snap
        dpg.set_value("data/root", f"catalog of {snap.data_root}: {len(snap.table.rows)} series")
        self.catalog_table.fill(
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
            (self.ingest_table if snap.kind == "ingest" else self.table).fill(snap.table)
