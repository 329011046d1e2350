"""The Data tab's side of the GUI backend: catalog (1m and coarser timeframes), import, exchange
ingest of many symbols at once (with per-symbol progress), resample and gaps, each one
non-blocking request to the DataStore actor through the client.

A controller of one area: it sees the backend only through :class:`gui.requests.Requests` (ask
the typed client for object refs, post a snapshot, schedule a timer), never the whole app. Runs
on the backend thread; DearPyGui is never called here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from gui import charts, ingest, snapshots
from gui import viewmodels as vm
from gui.requests import Requests


@dataclass
class _Batch:
    """The batch ingest in flight: what the view shows of it and the ref of its report."""

    model: ingest.BatchProgress
    ref: Any


class DataController:
    def __init__(self, requests: Requests) -> None:
        self.r = requests
        self.batch: _Batch | None = None  # the ingest whose progress is polled
        self.stored: dict[str, tuple[str, ...]] = {}  # exchange -> stored symbols (catalog)

    def refresh_catalog(self) -> None:
        client = self.r.client()
        refs = [client.catalog_async(True), client.data_root_async()]  # True: every timeframe
        self.r.ask("catalog", refs, self._on_catalog, "data catalog")

    def _on_catalog(self, frame: pd.DataFrame, data_root: str) -> None:
        self.stored = ingest.stored_pairs(frame)
        self.r.post(
            snapshots.CatalogSnap(vm.catalog_rows(frame), vm.catalog_spans(frame), data_root)
        )

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

    def ingest(self, form: ingest.IngestForm, dry_run: bool = False) -> None:
        """Start a batch ingest (or its dry run) of the form's symbols through the DataStore
        actor, one batch at a time; each symbol's progress is polled (:meth:`poll_ingest`)."""
        if self.batch is not None:
            self.r.say("warning", "an ingest is running: wait for its summary")
            return
        ask = form.ask(dry_run)
        known = ask["symbols"] + (self.stored.get(ask["exchange"], ()) if ask["stored"] else ())
        model = ingest.BatchProgress(tuple(dict.fromkeys(known)), dry_run)
        self.batch = _Batch(model, self.r.client().ingest_many_async(**ask))
        self._show(model)
        self.r.due["ingest"] = 0.0

    def poll_ingest(self) -> None:
        """Each symbol's progress while the batch runs; its report once it is in (asked only
        then, so a long batch is never dropped as an unanswered request)."""
        batch = self.batch
        if batch is None:
            self.r.due["ingest"] = float("inf")
            return
        client = self.r.client()
        if client.ready([batch.ref], 0):
            self.batch = None

            def done(report: dict[str, Any]) -> None:
                self._show(batch.model.done(report))
                if not batch.model.dry_run:
                    self.refresh_catalog()

            self.r.ask(self.r.unique("ingest"), [batch.ref], done, "ingest")
            return
        if batch.model.dry_run:
            return

        def shown(*answers: dict[str, Any] | None) -> None:
            if self.batch is batch:
                batch.model = batch.model.with_progress(answers)
                self._show(batch.model)

        refs = [client.ingest_progress_async(s) for s in batch.model.symbols]
        self.r.ask("ingest progress", refs, shown, "progress of the ingest")

    def _show(self, model: ingest.BatchProgress) -> None:
        self.r.post(snapshots.DataResult("ingest", model.text(), table=model.table()))

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
