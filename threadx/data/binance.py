"""Binance: REST klines client, incremental 1m ingest, bulk archive import, verification.

* :class:`WeightBudget` -- the request-weight budget (1,200 per minute by default). Every request
  reserves its weight first; the exchange's ``X-MBX-USED-WEIGHT-1M`` header is read back after
  each response so that weight used by other clients of the same IP is respected too. Clock and
  sleep are injectable (tests run minutes of simulated time instantly).
* :class:`BinanceClient` -- ``GET /api/v3/klines`` (1,000 per page, paged by start time),
  ``Retry-After`` on 429/418, jittered exponential backoff on timeouts, 5xx and garbled pages.
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
import datetime as _dt
import fcntl
import http.client
import json
import random
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from threadx.data.importers import read_file
from threadx.data.resample import timeframe_minutes
from threadx.data.schema import COLUMNS, INDEX_NAME, validate_ohlcv, validate_symbol
from threadx.data.store import Conflict, OHLCVStore
from threadx.errors import DataError, ThreadXError
from threadx.io import atomic_write_bytes, atomic_write_json
from threadx.log import get_logger

log = get_logger(__name__)
DEFAULT_BASE_URL = "https://api.binance.com"
ARCHIVE_BASE_URL = "https://data.binance.vision"
KLINES_PATH = "/api/v3/klines"
PAGE_LIMIT = 1000
KLINES_WEIGHT = 2  # request weight of /api/v3/klines (any limit)
DEFAULT_WEIGHT_LIMIT = 1200
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
EXCHANGE_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d",
                      "1w")  # fmt: skip  # served by Binance *and* produced by resample()
_NS_PER_MIN = 60_000_000_000
Progress = Callable[[dict[str, Any]], None]


# ----------------------------------------------------------------------------- weight budget


class WeightBudget:
    """Request weight allowed per ``window_s`` seconds, shared by every client that holds it.

    Own requests are kept in a sliding window, so no ``window_s`` interval ever carries more than
    ``limit`` of our weight. The exchange's used-weight header (which also counts other clients
    of the IP) caps it further: after a response reporting ``used``, the projection until that
    reading expires is ``used`` plus the weight sent since that request.
    """

    def __init__(self, limit: int = DEFAULT_WEIGHT_LIMIT, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:  # fmt: skip
        if limit < 1 or window_s <= 0:
            raise ThreadXError(f"weight budget: limit {limit} must be >= 1 and window > 0")
        self.limit, self.window_s, self.clock, self.sleep = limit, window_s, clock, sleep
        self._sent: deque[tuple[float, int, int]] = deque()  # (time, seq, weight)
        self._server: tuple[float, int, int] | None = None  # (time, seq, used)
        self._blocked_until = 0.0
        self._seq = 0
        self._lock = threading.Lock()
        self.waits = 0
        self.waited_s = 0.0

    def _projected(self, now: float) -> int:
        while self._sent and self._sent[0][0] <= now - self.window_s:
            self._sent.popleft()
        own = sum(w for _, _, w in self._sent)
        if self._server is None or now >= self._server[0] + self.window_s:
            return own
        _, seq, used = self._server
        return max(own, used + sum(w for _, s, w in self._sent if s > seq))

    def _wait_time(self, now: float, weight: int) -> float:
        if now < self._blocked_until:
            return self._blocked_until - now
        if self._projected(now) + weight <= self.limit:
            return 0.0
        expiries = [t + self.window_s for t, _, _ in self._sent]
        if self._server is not None and self._server[0] + self.window_s > now:
            expiries.append(self._server[0] + self.window_s)
        return max(min(expiries) - now, 1e-3)

    def acquire(self, weight: int) -> int:
        """Block until ``weight`` fits, reserve it and return the request's sequence number."""
        if weight > self.limit:
            raise ThreadXError(f"request weight {weight} exceeds the budget of {self.limit}")
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_time(now, weight)
                if wait == 0.0:
                    self._seq += 1
                    self._sent.append((now, self._seq, weight))
                    return self._seq
                self.waits += 1
                self.waited_s += wait
            self.sleep(wait)

    def observe(self, seq: int, used: int) -> None:
        """Record the exchange's used weight as reported in the response to request ``seq``."""
        with self._lock:
            if self._server is None or seq >= self._server[1]:
                self._server = (self.clock(), seq, int(used))

    def block(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (Retry-After of a 429/418)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + seconds)


_SHARED: dict[str, WeightBudget] = {}
_SHARED_LOCK = threading.Lock()


def shared_budget(base_url: str, limit: int = DEFAULT_WEIGHT_LIMIT) -> WeightBudget:
    """The process-wide budget of one base URL (concurrent ingests share one IP's weight)."""
    with _SHARED_LOCK:
        return _SHARED.setdefault(base_url.rstrip("/"), WeightBudget(limit))


# ----------------------------------------------------------------------------- REST client


class BinanceClient:
    """Minimal Binance spot REST client (stdlib ``urllib``), polite by construction.

    ``stats`` counts ``requests``, ``retry_<cause>`` (timeout, connection, http-5xx, bad-body),
    ``rate_limited`` (429/418 answers) and ``rate_limit_wait_s`` (Retry-After seconds waited).
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, budget: WeightBudget | None = None,
                 timeout_s: float = 10.0, max_retries: int = 5, max_rate_limited: int = 10,
                 backoff_s: float = 0.5, backoff_cap_s: float = 30.0,
                 max_retry_after_s: float = 600.0, seed: int | None = None) -> None:  # fmt: skip
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ThreadXError(f"base URL {base_url!r}: must be http(s)://host[:port]")
        self.base_url = base_url.rstrip("/")
        self.budget = budget or shared_budget(self.base_url)
        self.timeout_s, self.max_retries, self.backoff_s = timeout_s, max_retries, backoff_s
        self.backoff_cap_s, self.max_retry_after_s = backoff_cap_s, max_retry_after_s
        self.max_rate_limited = max_rate_limited  # per request
        self.stats: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._opener = urllib.request.build_opener()

    def _send(self, url: str) -> tuple[int, Any, bytes]:
        req = urllib.request.Request(url, headers={"User-Agent": "threadx"})
        try:
            with self._opener.open(req, timeout=self.timeout_s) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            with contextlib.suppress(OSError, http.client.HTTPException):
                return err.code, err.headers, err.read()
            return err.code, err.headers, b""

    def _backoff(self, attempt: int, cause: str, url: str) -> None:
        self.stats[f"retry_{cause}"] += 1
        if attempt > self.max_retries:
            raise ThreadXError(f"GET {url}: gave up after {self.max_retries} retries "
                               f"(last: {cause})")  # fmt: skip
        delay = min(self.backoff_cap_s, self.backoff_s * 2 ** (attempt - 1))
        delay *= self._rng.uniform(0.5, 1.0)
        log.info("GET %s: %s; retry %d in %.3fs", url, cause, attempt, delay)
        self.budget.sleep(delay)

    def _rate_limited(self, status: int, headers: Any, url: str, times: int) -> None:
        self.stats["rate_limited"] += 1
        text = (headers.get("Retry-After") if headers else None) or "60"
        try:
            wait = max(0.0, float(text))
        except ValueError:
            wait = 60.0
        what = "IP banned (418)" if status == 418 else "rate limited (429)"
        if wait > self.max_retry_after_s or times > self.max_rate_limited:
            raise ThreadXError(
                f"GET {url}: {what}, Retry-After {wait:g}s; rule 'wait at most "
                f"{self.max_retry_after_s:g}s and {self.max_rate_limited} times'"
            )
        log.warning("GET %s: %s; waiting Retry-After %gs", url, what, wait)
        self.stats["rate_limit_wait_s"] += wait
        self.budget.block(wait)

    def get(self, path: str, params: dict[str, Any], weight: int,
            check: Callable[[bytes], Any] = json.loads) -> Any:  # fmt: skip
        """GET ``path`` and return ``check(body)``; retries transient failures.

        ``check`` parses the body and raises :class:`ValueError` for a garbled one (retried).
        """
        url = f"{self.base_url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        attempt = limited = 0
        while True:
            seq = self.budget.acquire(weight)
            self.stats["requests"] += 1
            try:
                status, headers, body = self._send(url)
            except (OSError, urllib.error.URLError, http.client.HTTPException) as err:
                attempt += 1
                timeout = isinstance(err, TimeoutError) or "timed out" in str(err)
                self._backoff(attempt, "timeout" if timeout else "connection", f"{url} ({err})")
                continue
            used = headers.get(WEIGHT_HEADER) if headers else None
            if used is not None and str(used).isdigit():
                self.budget.observe(seq, int(used))
            if status in (429, 418):
                limited += 1
                self._rate_limited(status, headers, url, limited)
                continue
            if status >= 500:
                attempt += 1
                self._backoff(attempt, f"http-{status}", url)
                continue
            if status != 200:
                text = body[:300].decode("utf-8", "replace")
                raise DataError(f"GET {url}: HTTP {status}: {text}")
            try:
                return check(body)
            except (ValueError, UnicodeDecodeError) as err:
                attempt += 1
                self._backoff(attempt, "bad-body", f"{url} ({str(err)[:120]})")

    def klines(self, symbol: str, interval: str, start_ms: int, end_ms: int,
               limit: int = PAGE_LIMIT) -> pd.DataFrame:  # fmt: skip
        """One page of klines with open time in [start_ms, end_ms] as a schema frame."""
        params = {"symbol": symbol, "interval": interval, "startTime": int(start_ms),
                  "endTime": int(end_ms), "limit": int(limit)}  # fmt: skip
        return self.get(KLINES_PATH, params, KLINES_WEIGHT, check=parse_klines)

    def pages(self, symbol: str, interval: str, start: pd.Timestamp,
              end: pd.Timestamp) -> Iterator[pd.DataFrame]:  # fmt: skip
        """Pages of klines with open time in [start, end), paged by start time; ends at the first
        empty page. Rows outside the range and before the page's start are dropped."""
        step = timeframe_minutes(interval) * _NS_PER_MIN
        cur, stop = _ns(start), _ns(end)
        while cur < stop:
            page = self.klines(symbol, interval, cur // 1_000_000, (stop - 1) // 1_000_000)
            ns = page.index.asi8
            page = page.loc[(ns >= cur) & (ns < stop)]
            if page.empty:
                return
            yield page
            cur = int(page.index.asi8[-1]) + step


def parse_klines(body: bytes) -> pd.DataFrame:
    """Kline arrays ``[open_time, open, high, low, close, volume, ...]`` -> schema frame.

    Sorted; exact duplicate rows dropped (count in ``frame.attrs['duplicates']``). A garbled page
    (invalid JSON, wrong shape, conflicting duplicates) raises :class:`ValueError`.
    """
    rows = json.loads(body)
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) >= 6 for r in rows):
        raise ValueError("expected a JSON array of kline arrays")
    try:
        t = np.array([int(r[0]) for r in rows], dtype=np.int64)
        vals = np.array([[float(x) for x in r[1:6]] for r in rows], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"non-numeric kline field ({err})") from None
    t = t * (1000 if len(t) and t[0] > 10**14 else 1_000_000)  # µs or ms -> ns
    order = np.argsort(t, kind="stable")
    t, vals = t[order], vals.reshape(-1, 5)[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    if np.any(~keep[1:] & np.any(vals[1:] != vals[:-1], axis=1)):
        raise ValueError("the same kline appears twice with different values")
    idx = pd.DatetimeIndex(t[keep].view("datetime64[ns]"), name=INDEX_NAME).tz_localize("UTC")
    frame = pd.DataFrame(vals[keep], index=idx, columns=list(COLUMNS))
    frame.attrs["duplicates"] = int((~keep).sum())
    return validate_ohlcv(frame, source="klines page")


# ----------------------------------------------------------------------------- helpers


def _ns(ts: pd.Timestamp | str) -> int:
    return int(_utc(ts).value)


def _utc(ts: pd.Timestamp | str) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).as_unit("ns")


def _minute(ts: pd.Timestamp | str) -> int:
    return _ns(ts) // _NS_PER_MIN


def _ts(minute: int) -> pd.Timestamp:
    return pd.Timestamp(minute * _NS_PER_MIN, unit="ns", tz="UTC")


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


@contextlib.contextmanager
def _symbol_lock(store: OHLCVStore, exchange: str, symbol: str) -> Iterator[None]:
    """Serialise ingests of one symbol across threads and processes."""
    lock_dir = store.root / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"ingest__{exchange}__{symbol}.lock").open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


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
        raise DataError(f"{path}: corrupt record of confirmed gaps ({err}); delete it to "
                        "re-check every gap") from None  # fmt: skip


def _save_confirmed(store: OHLCVStore, exchange: str, symbol: str, runs: list[tuple[int, int]],
                    old: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:  # fmt: skip
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    known = {(e["start"], e["end"]): e for e in old}
    for a, b in runs:
        key = (str(_ts(a)), str(_ts(b)))
        known.setdefault(key, {"start": key[0], "end": key[1], "minutes": b - a,
                               "confirmed_at": stamp, "source": source})  # fmt: skip
    ranges = sorted(known.values(), key=lambda e: e["start"])
    atomic_write_json(missing_path(store, exchange, symbol),
                      {"version": 1, "exchange": exchange, "symbol": symbol,
                       "rule": "minutes the exchange did not serve on two separate requests",
                       "ranges": ranges})  # fmt: skip
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

    def __init__(self, store: OHLCVStore, client: BinanceClient, report: IngestReport,
                 flush_rows: int, progress: Progress | None, total: int) -> None:  # fmt: skip
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
            for page in self.client.pages(self.report.symbol, "1m", _ts(a), _ts(b)):
                mins = page.index.asi8 // _NS_PER_MIN
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
            self.progress({"symbol": self.report.symbol, "phase": phase,
                           "done_minutes": min(self.done, self.total),
                           "total_minutes": self.total, "rows": self.report.rows_received,
                           "requests": self.client.stats["requests"]})  # fmt: skip

    def flush(self) -> None:
        if not self.pending:
            return
        frame = pd.concat(self.pending)
        frame.attrs = {}
        self.pending, self.pending_rows = [], 0
        rep = self.store.write(frame, exchange=self.report.exchange, symbol=self.report.symbol,
                               source=f"binance-rest {self.client.base_url}")  # fmt: skip
        self.report.rows_added += rep.added
        self.report.months_written = sorted({*self.report.months_written, *rep.months_written})


def _first_kline(client: BinanceClient, symbol: str) -> pd.Timestamp:
    page = client.klines(symbol, "1m", 0, 2**53, limit=1)
    if page.empty:
        raise DataError(f"symbol {symbol!r}: the exchange at {client.base_url} has no 1m klines")
    return page.index[0]


def ingest(store: OHLCVStore, symbol: str, start: pd.Timestamp | str | None = None,
           end: pd.Timestamp | str | None = None, *, base_url: str = DEFAULT_BASE_URL,
           exchange: str = "binance", client: BinanceClient | None = None,
           now: pd.Timestamp | None = None, flush_rows: int = 20_000, recheck: bool = True,
           recheck_confirmed: bool = False, confirm_after_s: float = 3600.0,
           progress: Progress | None = None) -> IngestReport:  # fmt: skip
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
    now_ts = _utc(now if now is not None else pd.Timestamp.now("UTC"))
    open_min = now_ts.value // _NS_PER_MIN
    with _symbol_lock(store, exchange, symbol):
        old = load_confirmed(store, exchange, symbol)
        stored = (store.read(symbol, exchange).index.asi8 // _NS_PER_MIN
                  if (exchange, symbol) in store.symbols() else np.empty(0, np.int64))  # fmt: skip
        if start is None:
            start = _ts(int(stored[0])) if len(stored) else _first_kline(client, symbol)
        lo, hi = _minute(start), min(open_min, _minute(end) if end is not None else open_min)
        if hi <= lo:
            raise DataError(f"ingest {symbol}: empty range [{_ts(lo)}, {_ts(hi)}); rule 'start "
                            "< end, and end not after the still-open minute'")  # fmt: skip
        gaps = missing_runs(stored, lo, hi)
        known = [] if recheck_confirmed else [(_minute(e["start"]), _minute(e["end"])) for e in old]
        todo = subtract_runs(gaps, known)
        report = IngestReport(symbol, exchange, client.base_url, str(_ts(lo)), str(_ts(hi)))
        report.missing_before = sum(b - a for a, b in todo)
        report.skipped_confirmed = sum(b - a for a, b in gaps) - report.missing_before
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
        cutoff = int(now_ts.value // 1_000_000_000 - confirm_after_s) // 60
        confirm = [r for r in unserved if recheck and r[1] <= cutoff]
        if confirm:
            _save_confirmed(store, exchange, symbol, confirm, old, client.base_url)
        report.confirmed_gaps = [[str(_ts(a)), str(_ts(b)), b - a] for a, b in confirm]
        report.unconfirmed_gaps = [[str(_ts(a)), str(_ts(b)), b - a]
                                   for a, b in unserved if (a, b) not in confirm]  # fmt: skip
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


def import_archives(store: OHLCVStore, symbol: str, start: pd.Timestamp | str,
                    end: pd.Timestamp | str, *, period: str = "monthly",
                    base_url: str = ARCHIVE_BASE_URL, exchange: str = "binance",
                    client: BinanceClient | None = None,
                    on_conflict: Conflict = "merge") -> list[dict[str, Any]]:  # fmt: skip
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
    first = _utc(start).floor("D")
    first = first.replace(day=1) if period == "monthly" else first
    stamps = list(pd.date_range(first, _utc(end), freq=freq, inclusive="left"))
    record = store.symbol_dir(exchange, symbol).parent / "archives.json"
    with _symbol_lock(store, exchange, symbol):
        seen = json.loads(record.read_text(encoding="utf-8")) if record.exists() else {}
        return [_import_one(store, client, symbol, exchange, period, t, seen, on_conflict, record)
                for t in stamps]  # fmt: skip


def _import_one(store: OHLCVStore, client: BinanceClient, symbol: str, exchange: str,
                period: str, when: pd.Timestamp, seen: dict[str, Any],
                on_conflict: Conflict, record: Path) -> dict[str, Any]:  # fmt: skip
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
    rep = store.write(frame, exchange=exchange, symbol=symbol, on_conflict=policy,
                      source=f"archive {name} sha256 {checksum[:12]}")  # fmt: skip
    seen[name] = {
        "sha256": checksum,
        "rows": len(frame),
        "imported_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write_json(record, seen)
    return {**line, "status": "republished" if republished else "imported", "sha256": checksum,
            "rows": len(frame), "added": rep.added, "replaced": rep.conflicts_resolved,
            "months_written": rep.months_written}  # fmt: skip
