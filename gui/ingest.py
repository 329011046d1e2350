"""The Data view's exchange ingest as pure data: many symbols at once.

:class:`IngestForm` holds the fields as typed (the symbols by name, every stored pair of the
exchange -- the daily update -- or the pairs of a ``threadx data universe --out`` file) and gives
the arguments of :meth:`actors.client.ThreadXClient.ingest_many_async`. :class:`BatchProgress` is
what the Data view shows of one batch: while it runs, a row per symbol from its
``ingest_progress`` answer (phase, done %, rows, requests); at the end, the batch report
(:meth:`threadx.data.ingest_batch.BatchReport.to_dict`) as the same table with ok / FAILED and
the error, and the report's own summary lines. A single symbol is the batch of one.
No DearPyGui, no Ray.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gui.forms import split_list
from gui.viewmodels import TableModel
from threadx.core.errors import ConfigError
from threadx.data.ingest_batch import DEFAULT_WORKERS, BatchReport, SymbolOutcome
from threadx.data.schema import validate_symbol
from threadx.data.universe import universe_pairs
from threadx.sweep.progress import format_duration

#: Where the symbols of a batch come from: (key, label of the Data view's choice).
SOURCES = (
    ("typed", "symbols below"),
    ("stored", "every stored pair (daily update)"),
    ("universe", "universe file"),
)
#: rows: received so far while a symbol runs, added once it is done
PROGRESS_COLUMNS = ("symbol", "phase", "done", "rows", "requests", "state", "error")
DRY_RUN_COLUMNS = ("symbol", "requests", "rows", "est. time", "window", "state", "error")
Progress = Mapping[str, Any] | None  # one answer of ingest_progress_async


def source_of(label: str) -> str:
    """The source key of a choice's label (``"typed"`` for an unknown one)."""
    return next((key for key, text in SOURCES if text == label), "typed")


def parse_symbols(text: str) -> tuple[str, ...]:
    """The symbols of a comma- or space-separated list, upper-cased, validated, each once."""
    return tuple(dict.fromkeys(validate_symbol(s.upper()) for s in split_list(text)))


@dataclass(frozen=True)
class IngestForm:
    """The ingest fields of the Data view, as typed (empty text = the default)."""

    source: str = "typed"  # a key of SOURCES
    symbols: str = ""
    universe: str = ""  # a `threadx data universe --out` JSON file
    exchange: str = "binance"
    base_url: str = ""  # "" = the exchange's REST API
    start: str = ""
    end: str = ""
    workers: int = DEFAULT_WORKERS

    def needs(self) -> str:
        """What to give before the form can be sent ("" when nothing is missing)."""
        if self.source == "typed" and not self.symbols.strip():
            return "give one or more symbols (e.g. BTCUSDT, ETHUSDT)"
        if self.source == "universe" and not self.universe.strip():
            return "give a universe file (written by threadx data universe --out)"
        if self.workers < 1:
            return "workers must be at least 1"
        return ""

    def named(self) -> tuple[str, ...]:
        """The symbols asked for by name: typed, or the universe file's pairs (read now; its
        errors name the file); none for the stored pairs (the data store lists them)."""
        if self.source == "universe":
            return tuple(dict.fromkeys(universe_pairs(Path(self.universe.strip()))))
        if self.source == "typed":
            return parse_symbols(self.symbols)
        return ()

    def ask(self, dry_run: bool = False) -> dict[str, Any]:
        """The arguments of ``ingest_many_async`` (the fields of ``IngestManyRequest``)."""
        if self.needs():
            raise ConfigError(f"ingest: {self.needs()}")
        return {
            "symbols": self.named(),
            "start": self.start.strip() or None,
            "end": self.end.strip() or None,
            "base_url": self.base_url.strip() or None,
            "exchange": self.exchange.strip() or "binance",
            "workers": int(self.workers),
            "dry_run": dry_run,
            "stored": self.source == "stored",
        }


def stored_pairs(catalog: pd.DataFrame | None) -> dict[str, tuple[str, ...]]:
    """Exchange -> its stored symbols, sorted (what ``stored`` adds to a batch)."""
    if catalog is None or catalog.empty:
        return {}
    out: dict[str, set[str]] = {}
    for exchange, symbol in zip(catalog["exchange"], catalog["symbol"], strict=True):
        out.setdefault(str(exchange), set()).add(str(symbol))
    return {e: tuple(sorted(s)) for e, s in out.items()}


def batch_report(report: Mapping[str, Any]) -> BatchReport:
    """The library's :class:`BatchReport` back from its ``to_dict`` (for its lines)."""
    names = {f.name for f in dataclasses.fields(BatchReport)} - {"outcomes"}
    outcomes = [SymbolOutcome(**o) for o in report.get("outcomes") or []]
    return BatchReport(**{k: report[k] for k in names}, outcomes=outcomes)


def _cells(p: Progress) -> tuple[Any, ...]:
    """Phase, done %, rows received and requests of one progress answer (blank without one)."""
    p = p or {}
    total = int(p.get("total_minutes") or 0)
    done = f"{int(p.get('done_minutes') or 0) / total:.1%}" if total else ""
    return (p.get("phase"), done, p.get("rows"), p.get("requests"))


@dataclass(frozen=True)
class BatchProgress:
    """One batch as the Data view shows it: the symbols asked for (in order), each one's latest
    progress (None: not started, or not yet seen), and the batch report once it is in."""

    symbols: tuple[str, ...]
    dry_run: bool = False
    progress: tuple[Progress, ...] = ()
    report: Mapping[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.report is not None

    def seen(self, symbol: str) -> Progress:
        return dict(zip(self.symbols, self.progress, strict=False)).get(symbol)

    def with_progress(self, answers: Sequence[Progress]) -> BatchProgress:
        """The answers of ``ingest_progress_async`` for :attr:`symbols`, in their order. One
        already marked done before this batch's report is from an earlier ingest: not shown."""
        live = tuple(None if not p or p.get("done") else dict(p) for p in answers)
        return dataclasses.replace(self, progress=live)

    def done(self, report: Mapping[str, Any]) -> BatchProgress:
        return dataclasses.replace(self, report=dict(report))

    def _running_row(self, symbol: str) -> tuple[Any, ...]:
        p = self.seen(symbol)
        if self.dry_run:
            return (symbol, None, None, None, None, "planning", "")
        if p is None:
            return (symbol, "waiting", "", None, None, "", "")
        return (symbol, *_cells(p), "running", "")

    def _outcome_row(self, o: SymbolOutcome) -> tuple[Any, ...]:
        state, error = ("ok", "") if o.ok else ("FAILED", o.error or "")
        if self.dry_run:
            window = f"{o.report['start']} .. {o.report['end']}" if o.ok else ""
            rows, est = o.report.get("missing_before"), format_duration(o.est_seconds)
            return (o.symbol, o.requests, rows, est if o.ok else "", window, state, error)
        if o.ok:
            return (o.symbol, "done", "100.0%", o.report.get("rows_added"), o.requests, state, "")
        return (o.symbol, *_cells(self.seen(o.symbol)), state, error)  # how far it got

    def table(self) -> TableModel:
        """A row per symbol: live progress while running, the outcome at the end."""
        cols = DRY_RUN_COLUMNS if self.dry_run else PROGRESS_COLUMNS
        if self.report is not None:
            rows = tuple(self._outcome_row(o) for o in batch_report(self.report).outcomes)
        else:
            rows = tuple(self._running_row(s) for s in self.symbols)
        return TableModel(cols, rows, tuple(r[0] for r in rows))

    def text(self) -> str:
        """The line above the table: counts while running, the report's summary at the end."""
        n = len(self.symbols)
        if self.report is not None:
            head = "dry run (nothing downloaded):" if self.dry_run else "ingest done:"
            return "\n".join([head, *batch_report(self.report).lines()])
        if self.dry_run:
            return f"dry run of {n} symbol(s): planning..."
        live = [p for p in self.progress if p is not None]
        requests = sum(int(p.get("requests") or 0) for p in live)
        return (
            f"ingest of {n} symbol(s): {len(live)} started, {n - len(live)} waiting; "
            f"{requests:,} requests so far"
        )
