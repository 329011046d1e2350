"""Binance: incremental 1m ingest, bulk archive import (verification: ``binance_verify``).

The REST client and its request-weight budget are :mod:`threadx.data.binance_http`.

* :func:`ingest` -- downloads only what is missing (head, tail, internal gaps) as 1m bars and
  writes them through :class:`~threadx.data.store.OHLCVStore` (atomic month files). Minutes the
  exchange still does not serve on a second look are *confirmed missing* and recorded in the
  symbol's ``missing.json`` beside its month files; later ingests skip them instead of retrying
  forever. Every other timeframe is resampled from the 1m truth, never downloaded.
* :func:`import_archives` -- the public monthly/daily archives (zip + ``.CHECKSUM``) parsed by
  :func:`threadx.data.importers.read_file`; a re-published archive replaces the stored month only
  after its checksum and contents verify.
* :func:`verify` -- resampled 1h/4h/1d bars against the exchange's own klines, with tolerances.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.io import atomic_write_bytes, atomic_write_json
from threadx.core.locks import file_lock
from threadx.core.log import get_logger
from threadx.core.units import NS_PER_MINUTE, NS_PER_SECOND, SECONDS_PER_MINUTE
from threadx.core.utc import as_utc, minute_of, minute_ts, now_iso
from threadx.data.binance_http import (
    ARCHIVE_BASE_URL,
    DEFAULT_BASE_URL,
    PAGE_LIMIT,
    BinanceClient,
    Progress,
    WeightBudget,
)
from threadx.data.importers import read_file
from threadx.data.schema import validate_symbol
from threadx.data.store import Conflict, OHLCVStore

log = get_logger(__name__)


def missing_runs(have: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """Runs ``[a, b)`` of minutes in ``[lo, hi)`` absent from sorted ``have`` (epoch minutes)."""
    m = have[(have >= lo) & (have < hi)]
    edges = np.concatenate(([lo - 1], m, [hi]))
    at = np.flatnonzero(np.diff(edges) > 1)
    return [(int(edges[i] + 1), int(edges[i + 1])) for i in at]


def subtract_runs(runs: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``runs`` minus the union of ``cut`` (both lists of half-open minute ranges)."""
    out = []
    for a, b in runs:
        pieces = [(a, b)]
        for c, d in cut:
            pieces = [p for x, y in pieces for p in ((x, min(y, c)), (max(x, d), y)) if p[0] < p[1]]
        out.extend(pieces)
    return out


def _symbol_lock(
    store: OHLCVStore, exchange: str, symbol: str
) -> contextlib.AbstractContextManager[None]:
    """Serialise ingests of one symbol across threads and processes."""
    return file_lock(store.root / ".locks" / f"ingest__{exchange}__{symbol}.lock")


def missing_path(store: OHLCVStore, exchange: str, symbol: str) -> Path:
    """The symbol's record of confirmed-missing minutes (beside its ``1m`` folder)."""
    return store.symbol_dir(exchange, symbol).parent / "missing.json"


def load_confirmed(store: OHLCVStore, exchange: str, symbol: str) -> list[dict[str, Any]]:
    path = missing_path(store, exchange, symbol)
    if not path.exists():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8"))["ranges"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DataError(
            f"{path}: corrupt record of confirmed gaps ({err}); delete it to re-check every gap"
        ) from None


def _save_confirmed(
    store: OHLCVStore,
    exchange: str,
    symbol: str,
    runs: list[tuple[int, int]],
    old: list[dict[str, Any]],
    source: str,
) -> list[dict[str, Any]]:
    stamp = now_iso()
    known = {(e["start"], e["end"]): e for e in old}
    for a, b in runs:
        key = (str(minute_ts(a)), str(minute_ts(b)))
        known.setdefault(
            key,
            {
                "start": key[0],
                "end": key[1],
                "minutes": b - a,
                "confirmed_at": stamp,
                "source": source,
            },
        )
    ranges = sorted(known.values(), key=lambda e: e["start"])
    atomic_write_json(
        missing_path(store, exchange, symbol),
        {
            "version": 1,
            "exchange": exchange,
            "symbol": symbol,
            "rule": "minutes the exchange did not serve on two separate requests",
            "ranges": ranges,
        },
    )
    return ranges


# ----------------------------------------------------------------------------- incremental ingest


@dataclass
class IngestReport:
    symbol: str
    exchange: str
    base_url: str
    start: str
    end: str
    missing_before: int = 0  # minutes to fetch (excluding confirmed gaps)
    skipped_confirmed: int = 0  # minutes skipped because already confirmed missing
    pages: int = 0
    rows_received: int = 0
    duplicates_dropped: int = 0
    rows_added: int = 0
    months_written: list[str] = field(default_factory=list)
    confirmed_gaps: list[list[Any]] = field(default_factory=list)  # [start, end, minutes]
    unconfirmed_gaps: list[list[Any]] = field(default_factory=list)
    client: dict[str, float] = field(default_factory=dict)  # requests, retries, budget waits

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Ingest:
    """One ingest run: fetch ranges, track what the exchange skipped, flush in batches."""

    def __init__(
        self,
        store: OHLCVStore,
        client: BinanceClient,
        report: IngestReport,
        flush_rows: int,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.store, self.client, self.report = store, client, report
        self.flush_rows, self.progress, self.total = flush_rows, progress, total
        self.pending: list[pd.DataFrame] = []
        self.pending_rows = 0
        self.done = 0

    def fetch(self, runs: list[tuple[int, int]], phase: str) -> list[tuple[int, int]]:
        """Download ``runs``; return the minute ranges the exchange did not serve."""
        unserved: list[tuple[int, int]] = []
        for a, b in runs:
            cur = a
            for page in self.client.pages(self.report.symbol, "1m", minute_ts(a), minute_ts(b)):
                mins = page.index.asi8 // NS_PER_MINUTE
                unserved += missing_runs(mins, cur, int(mins[-1]) + 1)
                self._add(page, phase, int(mins[-1]) + 1 - cur)
                cur = int(mins[-1]) + 1
            if cur < b:
                unserved.append((cur, b))
                self._tick(phase, b - cur)
        self.flush()
        return unserved

    def _add(self, page: pd.DataFrame, phase: str, minutes: int) -> None:
        self.report.pages += 1
        self.report.rows_received += len(page)
        self.report.duplicates_dropped += int(page.attrs.get("duplicates", 0))
        self.pending.append(page)
        self.pending_rows += len(page)
        if self.pending_rows >= self.flush_rows:
            self.flush()
        self._tick(phase, minutes)

    def _tick(self, phase: str, minutes: int) -> None:
        self.done += minutes
        if self.progress is not None:
            self.progress(
                {
                    "symbol": self.report.symbol,
                    "phase": phase,
                    "done_minutes": min(self.done, self.total),
                    "total_minutes": self.total,
                    "rows": self.report.rows_received,
                    "requests": self.client.stats["requests"],
                }
            )

    def flush(self) -> None:
        if not self.pending:
            return
        frame = pd.concat(self.pending)
        frame.attrs = {}
        self.pending, self.pending_rows = [], 0
        rep = self.store.write(
            frame,
            exchange=self.report.exchange,
            symbol=self.report.symbol,
            source=f"binance-rest {self.client.base_url}",
        )
        self.report.rows_added += rep.added
        self.report.months_written = sorted({*self.report.months_written, *rep.months_written})


def _first_kline(client: BinanceClient, symbol: str) -> pd.Timestamp:
    page = client.klines(symbol, "1m", 0, 2**53, limit=1)
    if page.empty:
        raise DataError(f"symbol {symbol!r}: the exchange at {client.base_url} has no 1m klines")
    return page.index[0]


def _plan(
    store: OHLCVStore,
    client: BinanceClient,
    symbol: str,
    start: pd.Timestamp | str | None,
    end: pd.Timestamp | str | None,
    exchange: str,
    now_ts: pd.Timestamp,
    recheck_confirmed: bool,
) -> tuple[list[tuple[int, int]], IngestReport, list[dict[str, Any]]]:
    """What an ingest of ``symbol`` would fetch: the minute runs to download (missing minus
    confirmed gaps), its report with the range and counts filled in, the confirmed-gap records."""
    open_min = now_ts.value // NS_PER_MINUTE
    old = load_confirmed(store, exchange, symbol)
    stored = (
        store.read(symbol, exchange).index.asi8 // NS_PER_MINUTE
        if (exchange, symbol) in store.symbols()
        else np.empty(0, np.int64)
    )
    if start is None:
        start = minute_ts(int(stored[0])) if len(stored) else _first_kline(client, symbol)
    lo, hi = minute_of(start), min(open_min, minute_of(end) if end is not None else open_min)
    if hi <= lo:
        raise DataError(
            f"ingest {symbol}: empty range [{minute_ts(lo)}, {minute_ts(hi)}); rule 'start "
            "< end, and end not after the still-open minute'"
        )
    gaps = missing_runs(stored, lo, hi)
    known = [] if recheck_confirmed else [(minute_of(e["start"]), minute_of(e["end"])) for e in old]
    todo = subtract_runs(gaps, known)
    report = IngestReport(symbol, exchange, client.base_url, str(minute_ts(lo)), str(minute_ts(hi)))
    report.missing_before = sum(b - a for a, b in todo)
    report.skipped_confirmed = sum(b - a for a, b in gaps) - report.missing_before
    return todo, report, old


def plan_ingest(
    store: OHLCVStore,
    symbol: str,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    *,
    exchange: str = "binance",
    client: BinanceClient,
    now: pd.Timestamp | None = None,
) -> tuple[IngestReport, int]:
    """A dry run of :func:`ingest`: its report before any download (range, minutes to fetch,
    confirmed minutes skipped) and the number of klines requests that takes (1,000 rows a page;
    one more to find the first kline of a symbol the store does not hold yet, when no start)."""
    symbol = validate_symbol(symbol.upper())
    now_ts = as_utc(now if now is not None else pd.Timestamp.now("UTC"), "ns")
    before = client.stats["requests"]
    todo, report, _ = _plan(store, client, symbol, start, end, exchange, now_ts, False)
    pages = sum(-(-(b - a) // PAGE_LIMIT) for a, b in todo)
    return report, pages + int(client.stats["requests"] - before)


def ingest(
    store: OHLCVStore,
    symbol: str,
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    *,
    base_url: str = DEFAULT_BASE_URL,
    exchange: str = "binance",
    client: BinanceClient | None = None,
    now: pd.Timestamp | None = None,
    flush_rows: int = 20_000,
    recheck: bool = True,
    recheck_confirmed: bool = False,
    confirm_after_s: float = 3600.0,
    progress: Progress | None = None,
) -> IngestReport:
    """Download the 1m bars of ``symbol`` in [start, end) that the store lacks.

    ``start`` defaults to the first stored minute, else the exchange's first kline; ``end`` to the
    still-open minute (excluded). Missing minutes (head, tail, internal gaps) minus confirmed gaps
    are fetched page by page and written every ``flush_rows`` rows, so an interrupted ingest keeps
    what it wrote and a re-run fetches only the rest. Minutes the exchange did not serve are asked
    for once more (``recheck``); still missing and older than ``confirm_after_s`` they are recorded
    as confirmed gaps. ``progress(dict)`` is called after every page.
    """
    symbol = validate_symbol(symbol.upper())
    client = client or BinanceClient(base_url)
    now_ts = as_utc(now if now is not None else pd.Timestamp.now("UTC"), "ns")
    with _symbol_lock(store, exchange, symbol):
        todo, report, old = _plan(
            store, client, symbol, start, end, exchange, now_ts, recheck_confirmed
        )
        before = client.stats.copy()
        waits = (client.budget.waits, client.budget.waited_s)
        run = _Ingest(store, client, report, flush_rows, progress, report.missing_before)
        try:
            unserved = run.fetch(todo, "download")
            if recheck and unserved:
                run.done, run.total = 0, sum(b - a for a, b in unserved)
                unserved = run.fetch(unserved, "recheck")
        finally:
            run.flush()  # keep every page received, also when interrupted
            delta = client.stats - before
            report.client = {
                **dict(sorted(delta.items())),
                "budget_waits": client.budget.waits - waits[0],
                "budget_wait_s": client.budget.waited_s - waits[1],
                "retries": sum(v for k, v in delta.items() if k[:6] == "retry_"),
            }
        cutoff = int(now_ts.value // NS_PER_SECOND - confirm_after_s) // SECONDS_PER_MINUTE
        confirm = [r for r in unserved if recheck and r[1] <= cutoff]
        if confirm:
            _save_confirmed(store, exchange, symbol, confirm, old, client.base_url)
        report.confirmed_gaps = [[str(minute_ts(a)), str(minute_ts(b)), b - a] for a, b in confirm]
        report.unconfirmed_gaps = [
            [str(minute_ts(a)), str(minute_ts(b)), b - a]
            for a, b in unserved
            if (a, b) not in confirm
        ]
    log.info("ingest %s/%s: %s", exchange, symbol, report.to_dict())
    return report


# ----------------------------------------------------------------------------- archives


def archive_name(symbol: str, period: str, when: pd.Timestamp) -> str:
    """``BTCUSDT-1m-2023-03.zip`` (monthly) or ``BTCUSDT-1m-2023-03-01.zip`` (daily)."""
    stamp = when.strftime("%Y-%m" if period == "monthly" else "%Y-%m-%d")
    return f"{symbol}-1m-{stamp}.zip"


def _parse_checksum(body: bytes) -> str:
    token = body.decode("utf-8", "replace").split()[:1]
    if not token or len(token[0]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in token[0]):
        raise ValueError("malformed .CHECKSUM; expected '<sha256 hex>  <file name>'")
    return token[0].lower()


def import_archives(
    store: OHLCVStore,
    symbol: str,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    *,
    period: str = "monthly",
    base_url: str = ARCHIVE_BASE_URL,
    exchange: str = "binance",
    client: BinanceClient | None = None,
    on_conflict: Conflict = "merge",
) -> list[dict[str, Any]]:
    """Import the 1m archives (``period`` monthly or daily) covering [start, end).

    Per archive: fetch its ``.CHECKSUM``; skip it when that checksum was already imported; else
    download the zip, verify it against the checksum and parse it (header or headerless, ms or µs
    timestamps), and only then write it. A *re-published* archive (a new checksum for an archive
    imported before) replaces the stored minutes (``on_conflict='replace'``). A bad checksum or an
    unparseable archive writes nothing. Returns one report line per archive.
    """
    if period not in ("monthly", "daily"):
        raise DataError(f"archive period {period!r}: must be 'monthly' or 'daily'")
    symbol = validate_symbol(symbol.upper())
    client = client or BinanceClient(base_url, budget=WeightBudget(10**9))
    freq = "MS" if period == "monthly" else "D"
    first = as_utc(start, "ns").floor("D")
    first = first.replace(day=1) if period == "monthly" else first
    stamps = list(pd.date_range(first, as_utc(end, "ns"), freq=freq, inclusive="left"))
    record = store.symbol_dir(exchange, symbol).parent / "archives.json"
    with _symbol_lock(store, exchange, symbol):
        seen = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        return [
            _import_one(store, client, symbol, exchange, period, t, seen, on_conflict, record)
            for t in stamps
        ]


def _import_one(
    store: OHLCVStore,
    client: BinanceClient,
    symbol: str,
    exchange: str,
    period: str,
    when: pd.Timestamp,
    seen: dict[str, Any],
    on_conflict: Conflict,
    record: Path,
) -> dict[str, Any]:
    name = archive_name(symbol, period, when)
    path = f"/data/spot/{period}/klines/{symbol}/1m/{name}"
    line: dict[str, Any] = {"archive": name, "url": client.base_url + path}
    try:
        checksum = client.get(path + ".CHECKSUM", {}, 0, _parse_checksum)
    except DataError as err:
        if "HTTP 404" not in str(err):
            raise
        return {**line, "status": "skipped", "reason": "not published (404)"}
    previous = seen.get(name, {}).get("sha256")
    if previous == checksum:
        return {**line, "status": "skipped", "reason": "already imported", "sha256": checksum}
    body = client.get(path, {}, 0, check=lambda b: b)
    republished = previous is not None
    with tempfile.TemporaryDirectory(prefix=".download-", dir=store.root) as tmp:
        zpath = Path(tmp) / name
        atomic_write_bytes(zpath, body)
        atomic_write_bytes(zpath.with_name(name + ".CHECKSUM"), f"{checksum}  {name}\n".encode())
        try:
            parsed = read_file(zpath, symbol=symbol, exchange=exchange, verify_checksum=True)
        except DataError as err:
            log.error("archive %s rejected: %s", name, err)
            return {**line, "status": "error", "error": str(err), "sha256": checksum}
    frame = pd.concat([p.frame for p in parsed]).sort_index()
    policy: Conflict = "replace" if republished else on_conflict
    rep = store.write(
        frame,
        exchange=exchange,
        symbol=symbol,
        on_conflict=policy,
        source=f"archive {name} sha256 {checksum[:12]}",
    )
    seen[name] = {
        "sha256": checksum,
        "rows": len(frame),
        "imported_at": now_iso(),
    }
    atomic_write_json(record, seen)
    return {
        **line,
        "status": "republished" if republished else "imported",
        "sha256": checksum,
        "rows": len(frame),
        "added": rep.added,
        "replaced": rep.conflicts_resolved,
        "months_written": rep.months_written,
    }
