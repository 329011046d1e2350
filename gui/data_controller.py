"""The Data tab's side of the GUI backend: catalog, import, exchange ingest (with progress),
resample and gaps, each one non-blocking request to the DataStore actor through the client.

A controller of one area: it sees the backend only through :class:`gui.requests.Requests` (ask
the typed client for object refs, post a snapshot, schedule a timer), never the whole app. Runs
on the backend thread; DearPyGui is never called here.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gui import charts, snapshots
from gui import viewmodels as vm
from gui.requests import Requests


class DataController:
    def __init__(self, requests: Requests) -> None:
        self.r = requests
        self.ingesting: str | None = None  # the symbol whose ingest progress is polled

    def refresh_catalog(self) -> None:
        self.r.ask(
            "catalog",
            [self.r.client().catalog_async(), self.r.client().data_root_async()],
            self._on_catalog,
            "data catalog",
        )

    def _on_catalog(self, frame: pd.DataFrame, data_root: str) -> None:
        spans = tuple(
            (
                str(r.exchange),
                str(r.symbol),
                pd.Timestamp(r.first).isoformat(),
                pd.Timestamp(r.last).isoformat(),
            )
            for r in frame.itertuples()
        )
        self.r.post(snapshots.CatalogSnap(vm.catalog_rows(frame), spans, data_root))

    def import_path(
        self,
        path: str,
        symbol: str | None = None,
        exchange: str | None = None,
        dry_run: bool = False,
    ) -> None:
        def done(report: dict[str, Any]) -> None:
            totals = ", ".join(f"{k} {v}" for k, v in (report.get("totals") or {}).items())
            mode = "dry run (nothing changed)" if report.get("dry_run") else "import"
            files = pd.DataFrame(report.get("files") or [])
            cols = [
                "file",
                "status",
                "exchange",
                "symbol",
                "timeframe",
                "rows_read",
                "added",
                "unchanged",
                "conflicts_resolved",
                "reason",
                "error",
            ]
            self.r.post(
                snapshots.DataResult(
                    "import", f"{mode} of {path}: {totals}", table=vm.table_model(files, cols)
                )
            )
            self.refresh_catalog()

        ref = self.r.client().import_path_async(
            path, symbol or None, exchange or None, "merge", dry_run
        )
        self.r.ask(self.r.unique("import"), [ref], done, f"import {path}")

    def ingest(
        self,
        symbol: str,
        base_url: str,
        start: str | None = None,
        end: str | None = None,
        exchange: str = "binance",
    ) -> None:
        """Download the missing 1m bars through the DataStore actor; progress is polled."""

        def done(report: dict[str, Any]) -> None:
            self.ingesting = None
            keys = ("missing_before", "pages", "rows_received", "rows_added")
            facts = ", ".join(f"{k} {report[k]:,}" for k in keys if k in report)
            facts += f", confirmed gaps {len(report.get('confirmed_gaps') or [])}"
            self.r.post(snapshots.DataResult("ingest", f"ingest of {symbol} done: {facts}"))
            self.refresh_catalog()

        ref = self.r.client().ingest_async(symbol, start or None, end or None, base_url, exchange)
        if self.r.ask(f"ingest {symbol}", [ref], done, f"ingest {symbol}"):
            self.ingesting = symbol
            self.r.due["ingest"] = 0.0

    def poll_ingest(self) -> None:
        symbol = self.ingesting
        if symbol is None:
            self.r.due["ingest"] = float("inf")
            return

        def shown(p: dict[str, Any] | None) -> None:
            if p and not p.get("done") and self.ingesting == symbol:
                self.r.post(snapshots.DataResult("ingest", vm.ingest_progress_text(symbol, p)))

        self.r.ask(
            "ingest progress",
            [self.r.client().ingest_progress_async(symbol)],
            shown,
            f"progress of the {symbol} ingest",
        )

    def resample(
        self, symbol: str, timeframe: str, exchange: str | None = None, n_columns: int = 1200
    ) -> None:
        def done(frame: pd.DataFrame) -> None:
            self.r.post(_resample_result(symbol, timeframe, frame, n_columns))

        ref = self.r.client().resample_async(symbol, timeframe, exchange or None)
        self.r.ask(self.r.unique("resample"), [ref], done, f"resample {symbol} {timeframe}")

    def gaps(self, symbol: str, exchange: str | None = None) -> None:
        def done(rep: dict[str, Any]) -> None:
            runs = pd.DataFrame(rep.get("runs") or [], columns=["start", "missing minutes"])
            self.r.post(
                snapshots.DataResult(
                    "gaps",
                    f"{symbol}: {rep.get('summary')}",
                    table=vm.table_model(runs, ["start", "missing minutes"]),
                )
            )

        ref = self.r.client().gaps_async(symbol, exchange or None)
        self.r.ask(self.r.unique("gaps"), [ref], done, f"gaps of {symbol}")


def _resample_result(
    symbol: str, timeframe: str, frame: pd.DataFrame, n_columns: int
) -> snapshots.DataResult:
    if frame.empty:
        return snapshots.DataResult("resample", f"{symbol} {timeframe}: {vm.NO_DATA}")
    t = pd.DatetimeIndex(frame.index).as_unit("ns").asi8 / 1e9
    line = charts.decimate_xy(t, frame["close"].to_numpy(), n_columns)
    text = (
        f"{symbol} {timeframe}: {len(frame):,} bars from {vm.fmt_value(frame.index[0])} "
        f"to {vm.fmt_value(frame.index[-1])} UTC"
    )
    tail = frame.tail(12).reset_index()
    cols = [tail.columns[0], "open", "high", "low", "close", "volume"]
    return snapshots.DataResult("resample", text, line, vm.table_model(tail, cols))
