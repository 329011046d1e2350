"""Import files or whole folders into the store (the predecessor's migration).

``import_path`` walks a file or a folder recursively, parses every supported file with
:mod:`threadx.data.importers`, applies the filters (symbols, timeframes, date range), and writes the
1-minute data through :class:`OHLCVStore` with the chosen conflict policy. Files of other
timeframes are skipped and reported: 1-minute bars are the truth, everything else is resampled.
Every file gets a line in the JSON-able report; a bad file is reported and changes nothing, the
other files still import. Re-running is idempotent.
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
from threadx.data.store import Conflict, OHLCVStore

log = get_logger(__name__)
SUPPORTED_SUFFIXES: tuple[str, ...] = (".csv", ".zip", ".json", ".parquet")


@dataclass
class ImportFilters:
    symbols: set[str] | None = None
    timeframes: set[str] | None = None  # of the *source* files; default: 1m only is stored
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
    if parsed.timeframe != "1m":
        return {
            **entry,
            "status": "skipped",
            "reason": f"timeframe {parsed.timeframe}: only 1m bars are stored (others are "
            "resampled from them)",
        }
    if not parsed.symbol or not parsed.exchange:
        return {
            **entry,
            "status": "error",
            "error": "cannot infer symbol/exchange from the file name; pass --symbol and "
            "--exchange",
        }
    frame = filters.keep_rows(parsed.frame)
    rep = store.write(
        frame,
        exchange=parsed.exchange,
        symbol=parsed.symbol,
        on_conflict=on_conflict,
        dry_run=dry_run,
        source=str(parsed.source),
    )
    gaps = store.gaps(parsed.symbol, parsed.exchange) if not dry_run and len(frame) else None
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

        own = find_gaps(frame.index)
        entry.update(
            first=str(own.first),
            last=str(own.last),
            missing_minutes=own.missing,
            expected_minutes=own.expected,
            missing_ratio=own.missing_ratio,
        )
    if gaps is not None:
        entry["store_missing_ratio"] = gaps.missing_ratio
    return entry


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
