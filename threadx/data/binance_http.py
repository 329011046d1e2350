"""Binance REST: the klines client and the request-weight budget it shares per exchange.

* :class:`WeightBudget` -- the request-weight budget (1,200 per minute by default). Every request
  reserves its weight first; the exchange's ``X-MBX-USED-WEIGHT-1M`` header is read back after
  each response so that weight used by other clients of the same IP is respected too. Clock and
  sleep are injectable (tests run minutes of simulated time instantly).
* :class:`BinanceClient` -- ``GET /api/v3/klines`` (1,000 per page, paged by start time),
  ``Retry-After`` on 429/418, jittered exponential backoff on timeouts, 5xx and garbled pages.
* :func:`parse_klines` -- a page of klines as a schema frame.

Ingest and archive import (what is fetched and stored) live in :mod:`threadx.data.binance`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.errors import DataError, ThreadXError
from threadx.core.log import get_logger
from threadx.core.units import NS_PER_MICROSECOND, NS_PER_MILLISECOND, NS_PER_MINUTE
from threadx.core.utc import as_ns, utc_index
from threadx.data.resample import timeframe_minutes
from threadx.data.schema import COLUMNS, INDEX_NAME, validate_ohlcv

log = get_logger(__name__)

DEFAULT_BASE_URL = "https://api.binance.com"
ARCHIVE_BASE_URL = "https://data.binance.vision"
KLINES_PATH = "/api/v3/klines"
PAGE_LIMIT = 1000
KLINES_WEIGHT = 2  # request weight of /api/v3/klines (any limit)
DEFAULT_WEIGHT_LIMIT = 1200
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
EXCHANGE_INTERVALS = (
    "1m",
    "3m",
    "5m",
    "15m",
    "30m",
    "1h",
    "2h",
    "4h",
    "6h",
    "8h",
    "12h",
    "1d",
    "1w",
)  # served by Binance *and* produced by resample()
Progress = Callable[[dict[str, Any]], None]


# ----------------------------------------------------------------------------- weight budget


class WeightBudget:
    """Request weight allowed per ``window_s`` seconds, shared by every client that holds it.

    Own requests are kept in a sliding window, so no ``window_s`` interval ever carries more than
    ``limit`` of our weight. The exchange's used-weight header (which also counts other clients
    of the IP) caps it further: after a response reporting ``used``, the projection until that
    reading expires is ``used`` plus the weight sent since that request.
    """

    def __init__(
        self,
        limit: int = DEFAULT_WEIGHT_LIMIT,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
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

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        budget: WeightBudget | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 5,
        max_rate_limited: int = 10,
        backoff_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        max_retry_after_s: float = 600.0,
        seed: int | None = None,
    ) -> None:
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
            raise ThreadXError(
                f"GET {url}: gave up after {self.max_retries} retries (last: {cause})"
            )
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

    def get(
        self,
        path: str,
        params: dict[str, Any],
        weight: int,
        check: Callable[[bytes], Any] = json.loads,
    ) -> Any:
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

    def klines(
        self, symbol: str, interval: str, start_ms: int, end_ms: int, limit: int = PAGE_LIMIT
    ) -> pd.DataFrame:
        """One page of klines with open time in [start_ms, end_ms] as a schema frame."""
        params = {
            "symbol": symbol,
            "interval": interval,
            "startTime": int(start_ms),
            "endTime": int(end_ms),
            "limit": int(limit),
        }
        return self.get(KLINES_PATH, params, KLINES_WEIGHT, check=parse_klines)

    def pages(
        self, symbol: str, interval: str, start: pd.Timestamp, end: pd.Timestamp
    ) -> Iterator[pd.DataFrame]:
        """Pages of klines with open time in [start, end), paged by start time; ends at the first
        empty page. Rows outside the range and before the page's start are dropped."""
        step = timeframe_minutes(interval) * NS_PER_MINUTE
        cur, stop = as_ns(start), as_ns(end)
        while cur < stop:
            ms, stop_ms = cur // NS_PER_MILLISECOND, (stop - 1) // NS_PER_MILLISECOND
            page = self.klines(symbol, interval, ms, stop_ms)
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
    t = t * (NS_PER_MICROSECOND if len(t) and t[0] > 10**14 else NS_PER_MILLISECOND)  # µs/ms
    order = np.argsort(t, kind="stable")
    t, vals = t[order], vals.reshape(-1, 5)[order]
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = t[1:] != t[:-1]
    if np.any(~keep[1:] & np.any(vals[1:] != vals[:-1], axis=1)):
        raise ValueError("the same kline appears twice with different values")
    idx = utc_index(t[keep], name=INDEX_NAME)
    frame = pd.DataFrame(vals[keep], index=idx, columns=list(COLUMNS))
    frame.attrs["duplicates"] = int((~keep).sum())
    return validate_ohlcv(frame, source="klines page")
