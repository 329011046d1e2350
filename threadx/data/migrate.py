"""Import files or whole folders into the store (the predecessor's migration).

``import_path`` walks a file or a folder recursively, parses every supported file with
:mod:`threadx.data.importers`, applies the filters (symbols, timeframes, date range), and writes
the data through :class:`OHLCVStore` with the chosen conflict policy. 1-minute bars are the truth;
files of a coarser timeframe ThreadX knows (the predecessor's 15m/1h/4h files) are stored as that
timeframe's own data with their provenance, never as 1m, and where 1m bars of the same symbol
overlap them the two are compared (``overlaps`` in the file's entry: 1m wins). Files of other
timeframes are skipped and reported. Every file gets a line in the JSON-able report; a bad file
is reported and changes nothing, the other files still import. Re-running is idempotent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from threadx.core.errors import DataError, ThreadXError
from threadx.core.io import atomic_write_json
from threadx.core.log import get_logger
from threadx.data.importers import ParsedFile, read_file
from threadx.data.resample import TIMEFRAMES, timeframe_minutes
from threadx.data.store import TRUTH, Conflict, OHLCVStore

log = get_logger(__name__)
SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".zip", ".json", ".parquet")


@dataclass
class ImportFilters:
    symbols: set[str] | None = None
    timeframes: set[str] | None = None  # of the *source* files; default: every known one
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None  # exclusive

    def keep_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        if self.start is not None:
            frame = frame.loc[frame.index >= self.start]
        if self.end is not None:
            frame = frame.loc[frame.index < self.end]
        return frame


@dataclass
class ImportReport:
    root: str
    dry_run: bool
    on_conflict: str
    files: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f["status"] == "error"]

    def totals(self) -> dict[str, int]:
        out = {"files": len(self.files), "imported": 0, "skipped": 0, "errors": 0, "rows_added": 0}
        for f in self.files:
            out[{"ok": "imported", "skipped": "skipped", "error": "errors"}[f["status"]]] += 1
            out["rows_added"] += f.get("added", 0)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "dry_run": self.dry_run,
            "on_conflict": self.on_conflict,
            "totals": self.totals(),
            "files": self.files,
        }


def iter_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(SUPPORTED_SUFFIXES)
        and not p.name.startswith(".")
    )


def _store_one(
    store: OHLCVStore,
    parsed: ParsedFile,
    filters: ImportFilters,
    on_conflict: Conflict,
    dry_run: bool,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "file": str(parsed.source),
        "kind": parsed.kind,
        "symbol": parsed.symbol,
        "exchange": parsed.exchange,
        "timeframe": parsed.timeframe,
        "rows_read": len(parsed.frame),
        "duplicates_dropped": parsed.duplicates_dropped,
        "dropped_open_minute": parsed.dropped_open_minute,
    }
    if filters.symbols and parsed.symbol not in filters.symbols:
        return {**entry, "status": "skipped", "reason": "symbol filtered out"}
    if filters.timeframes and parsed.timeframe not in filters.timeframes:
        return {**entry, "status": "skipped", "reason": "timeframe filtered out"}
    tf = parsed.timeframe
    if tf not in TIMEFRAMES:
        return {
            **entry,
            "status": "skipped",
            "reason": f"timeframe {tf}: not one ThreadX stores (1m, or one of "
            f"{', '.join(list(TIMEFRAMES)[1:])} as imported old data)",
        }
    if not parsed.symbol or not parsed.exchange:
        return {**entry, "status": "error", "error": _unknown_names(parsed)}
    frame = filters.keep_rows(parsed.frame)
    rep = store.write(
        frame,
        exchange=parsed.exchange,
        symbol=parsed.symbol,
        on_conflict=on_conflict,
        dry_run=dry_run,
        source=str(parsed.source),
        timeframe=tf,
    )
    written = not dry_run and len(frame) > 0
    gaps = store.gaps(parsed.symbol, parsed.exchange) if written and tf == TRUTH else None
    entry.update(
        status="ok",
        rows_kept=len(frame),
        added=rep.added,
        conflicts_resolved=rep.conflicts_resolved,
        months_written=rep.months_written,
        months_unchanged=rep.months_unchanged,
    )
    if len(frame):
        from threadx.data.gaps import find_gaps

        width = timeframe_minutes(tf)
        own = find_gaps(frame.index, bar_minutes=width)
        entry.update(
            first=str(own.first),
            last=str(own.last),
            missing_minutes=own.missing * width,
            expected_minutes=own.expected * width,
            missing_ratio=own.missing_ratio,
        )
    if gaps is not None:
        entry["store_missing_ratio"] = gaps.missing_ratio
    found = _overlaps(store, parsed.symbol, parsed.exchange, tf, frame) if written else []
    if found:
        entry["overlaps"] = found
    return entry


def _unknown_names(parsed: ParsedFile) -> str:
    """The error of a file whose symbol or exchange cannot be inferred: the flag to pass."""
    if parsed.symbol:
        where = parsed.source.parent
        return (
            f"{parsed.source}: cannot infer the exchange of {parsed.symbol} (no known exchange "
            f"folder in {where}); pass --exchange"
        )
    return "cannot infer symbol/exchange from the file name; pass --symbol and --exchange"


def _overlaps(
    store: OHLCVStore, symbol: str, exchange: str, timeframe: str, frame: pd.DataFrame
) -> list[dict[str, Any]]:
    """The stored coarser bars of ``symbol`` against its 1m bars over the imported frame's span
    (all of them for a 1m file, the file's own timeframe else): 1m wins, differences reported."""
    from threadx.data.timeframes import overlaps

    end = frame.index[-1] + pd.Timedelta(minutes=timeframe_minutes(timeframe))
    found = overlaps(store, symbol, exchange, frame.index[0], end)
    return [o.to_dict() for o in found if timeframe in (TRUTH, o.timeframe)]


def import_path(
    store: OHLCVStore,
    path: Path,
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    filters: ImportFilters | None = None,
    on_conflict: Conflict = "merge",
    dry_run: bool = False,
    report_path: Path | None = None,
) -> ImportReport:
    filters = filters or ImportFilters()
    report = ImportReport(str(path), dry_run, on_conflict)
    for file in iter_files(Path(path)):
        try:
            for parsed in read_file(file, symbol=symbol, exchange=exchange):
                report.files.append(_store_one(store, parsed, filters, on_conflict, dry_run))
        except ThreadXError as err:
            log.info("import of %s failed: %s", file, err)  # reported per file by callers
            report.files.append({"file": str(file), "status": "error", "error": str(err)})
    if report_path is not None:
        atomic_write_json(Path(report_path), report.to_dict())
    return report
