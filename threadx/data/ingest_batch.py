"""Many symbols at once: concurrent ingests under one shared request-weight budget.

:func:`ingest_many` runs :func:`threadx.data.binance.ingest` for several symbols on a small thread
pool. Every client of a base URL draws on the same :class:`~threadx.data.binance_http.WeightBudget`
(the process-wide one by default), so the exchange's per-IP weight limit holds for the batch as a
whole, not per symbol. A symbol that fails is reported with its one-line error and the others go
on. ``dry_run`` asks only what each ingest would fetch (requests, rows, time at the budget).

:func:`update_stored` is the daily update: every stored symbol of an exchange brought up to the
last closed minute (only the missing minutes are fetched, see ``ingest``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from threadx.core.errors import DataError, ThreadXError
from threadx.core.log import get_logger
from threadx.data.binance import ingest, plan_ingest
from threadx.data.binance_http import (
    DEFAULT_BASE_URL,
    KLINES_WEIGHT,
    BinanceClient,
    Progress,
)
from threadx.data.schema import validate_symbol
from threadx.data.store import OHLCVStore

log = get_logger(__name__)

# Base URL of the REST API an exchange name of the store stands for (the default of --base-url).
EXCHANGE_URLS = {"binance": DEFAULT_BASE_URL, "binance_us": "https://api.binance.us"}
DEFAULT_WORKERS = 4
ClientFactory = Callable[[], BinanceClient]


@dataclass
class SymbolOutcome:
    """One symbol of a batch: its ingest report (or dry-run plan) as a dict, or its error."""

    symbol: str
    ok: bool
    seconds: float
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    requests: int = 0  # made (ingest) or needed (dry run)
    est_seconds: float = 0.0  # dry run: time at the weight budget, this symbol alone

    def line(self, dry_run: bool) -> str:
        """One line for the per-symbol summary."""
        if not self.ok:
            return f"{self.symbol:<12} FAILED  {self.error}"
        minutes = int(self.report.get("missing_before", 0))
        if dry_run:
            return (
                f"{self.symbol:<12} {self.requests:>7,} requests  {minutes:>10,} rows"
                f"  ~{self.est_seconds:,.0f} s  [{self.report['start']} .. {self.report['end']})"
            )
        return (
            f"{self.symbol:<12} ok  {int(self.report.get('rows_added', 0)):>10,} rows added"
            f"  {self.requests:>6,} requests  {self.seconds:,.1f} s"
        )


@dataclass
class BatchReport:
    """Every symbol's outcome, in the order asked for."""

    exchange: str
    base_url: str
    dry_run: bool
    weight_limit: int
    outcomes: list[SymbolOutcome]
    seconds: float

    @property
    def failed(self) -> list[SymbolOutcome]:
        return [o for o in self.outcomes if not o.ok]

    def lines(self) -> list[str]:
        """The per-symbol summary and a total line."""
        done = [o for o in self.outcomes if o.ok]
        requests = sum(o.requests for o in done)
        if self.dry_run:
            est = estimate_seconds(requests, self.weight_limit)
            total = (
                f"{len(done)} symbols: {requests:,} requests,"
                f" ~{est:,.0f} s at {self.weight_limit:,} weight/min shared"
            )
        else:
            rows = sum(int(o.report.get("rows_added", 0)) for o in done)
            total = (
                f"{len(done)} of {len(self.outcomes)} symbols ingested: {rows:,} rows added,"
                f" {requests:,} requests in {self.seconds:,.1f} s"
            )
        if self.failed:
            total += f"; {len(self.failed)} failed: {', '.join(o.symbol for o in self.failed)}"
        return [o.line(self.dry_run) for o in self.outcomes] + [total]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "failed": [o.symbol for o in self.failed]}


def estimate_seconds(requests: int, weight_limit: int) -> float:
    """Seconds ``requests`` klines requests take when the weight budget is what limits them."""
    return requests * KLINES_WEIGHT / weight_limit * 60.0


def _one(
    store: OHLCVStore,
    symbol: str,
    start: pd.Timestamp | str | None,
    end: pd.Timestamp | str | None,
    exchange: str,
    client: BinanceClient,
    dry_run: bool,
    now: pd.Timestamp | None,
    progress: Progress | None,
    kwargs: dict[str, Any],
) -> SymbolOutcome:
    t0 = time.perf_counter()
    try:
        if dry_run:
            rep, requests = plan_ingest(
                store, symbol, start, end, exchange=exchange, client=client, now=now
            )
            est = estimate_seconds(requests, client.budget.limit)
            return SymbolOutcome(
                rep.symbol, True, time.perf_counter() - t0, rep.to_dict(), None, requests, est
            )
        rep = ingest(
            store,
            symbol,
            start,
            end,
            exchange=exchange,
            client=client,
            now=now,
            progress=progress,
            **kwargs,
        )
        requests = int(rep.client.get("requests", 0))
        return SymbolOutcome(
            rep.symbol, True, time.perf_counter() - t0, rep.to_dict(), None, requests
        )
    except Exception as err:  # one symbol's failure is reported; the batch goes on
        text = str(err) if isinstance(err, ThreadXError) else f"{type(err).__name__}: {err}"
        log.warning("ingest %s/%s failed: %s", exchange, symbol, text)
        return SymbolOutcome(symbol, False, time.perf_counter() - t0, error=text)


def ingest_many(
    store: OHLCVStore,
    symbols: Sequence[str],
    start: pd.Timestamp | str | None = None,
    end: pd.Timestamp | str | None = None,
    *,
    exchange: str = "binance",
    base_url: str | None = None,
    workers: int = DEFAULT_WORKERS,
    dry_run: bool = False,
    client_factory: ClientFactory | None = None,
    now: pd.Timestamp | None = None,
    progress: Progress | None = None,
    **kwargs: Any,
) -> BatchReport:
    """Ingest (or with ``dry_run`` plan) ``symbols`` concurrently, ``workers`` at a time.

    Each symbol gets its own client from ``client_factory`` (default: a client of ``base_url``,
    which defaults to the exchange's REST API); clients of one base URL share the process-wide
    weight budget, so the batch never sends more weight per minute than one ingest may. Symbols are
    validated (and upper-cased) first: a bad name fails the call before any request. ``kwargs``
    go to :func:`~threadx.data.binance.ingest` (``flush_rows``, ``recheck``, ...).
    """
    if workers < 1:
        raise ThreadXError(f"ingest: workers must be >= 1, got {workers}")
    names = list(dict.fromkeys(validate_symbol(s.upper()) for s in symbols))
    if not names:
        raise ThreadXError("ingest: no symbols given (name them, or --universe FILE / --stored)")
    url = base_url or EXCHANGE_URLS.get(exchange, DEFAULT_BASE_URL)
    factory = client_factory or (lambda: BinanceClient(url))
    clients = {s: factory() for s in names}
    budget = next(iter(clients.values())).budget
    t0 = time.perf_counter()
    with ThreadPoolExecutor(
        max_workers=min(workers, len(names)), thread_name_prefix="ingest"
    ) as ex:
        futures = [
            ex.submit(
                _one, store, s, start, end, exchange, clients[s], dry_run, now, progress, kwargs
            )
            for s in names
        ]
        outcomes = [f.result() for f in futures]
    return BatchReport(exchange, url, dry_run, budget.limit, outcomes, time.perf_counter() - t0)


def stored_symbols(store: OHLCVStore, exchange: str) -> list[str]:
    """The symbols the store holds for ``exchange``, sorted."""
    return sorted(sym for exch, sym in store.symbols() if exch == exchange)


def update_stored(store: OHLCVStore, *, exchange: str = "binance", **kwargs: Any) -> BatchReport:
    """The daily update: every stored symbol of ``exchange`` up to the last closed minute (each
    from its first stored minute, so internal gaps are filled too; confirmed gaps are skipped)."""
    return ingest_many(store, to_update(store, exchange), None, None, exchange=exchange, **kwargs)


def to_update(store: OHLCVStore, exchange: str) -> list[str]:
    """The stored symbols of ``exchange`` (what the daily update fetches); DataError when none."""
    symbols = stored_symbols(store, exchange)
    if not symbols:
        raise DataError(
            f"data update: the store at {store.root} holds no pair of exchange {exchange!r} "
            "(ingest one first, or pass --exchange)"
        )
    return symbols
