"""A local fake of the Binance endpoints ThreadX uses: a real HTTP server on 127.0.0.1.

Serves, from recorded 1m rows (the real CSVs of tests/data/real/, via ``real_data``):

* ``GET /api/v3/klines`` -- Binance semantics (``startTime``/``endTime`` inclusive, ``limit`` <=
  1000, ascending); 1m rows as recorded, every other interval aggregated from them exactly
  (``decimal`` sums), optionally with one corrupted bar;
* ``GET /api/v3/ticker/24hr`` and ``GET /api/v3/coins/markets`` -- JSON snapshots given to it;
* ``GET /data/spot/{monthly,daily}/klines/SYM/1m/SYM-1m-DATE.zip`` and ``.zip.CHECKSUM`` --
  archives built from the rows (headerless or with header, ms or µs timestamps);

and misbehaves on request: a fault per klines request number (``429``/``418`` with Retry-After,
``500``/``502``/``503``, ``timeout`` (a slow response), ``truncated`` (cut JSON), ``incomplete``
(connection closed mid-body), ``short`` (a valid half page)), duplicated rows, missing ranges
(for ever or only the first time they are asked for), and a request-weight limit it enforces
itself (429) while reporting ``X-MBX-USED-WEIGHT-1M`` with optional weight "used by other
clients". Time is an injectable clock so budget tests run on simulated minutes.
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import hashlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd

from threadx.data.binance_http import EXCHANGE_INTERVALS
from threadx.data.resample import TIMEFRAMES

MS_PER_MIN = 60_000
INTERVAL_MIN = {k: v for k, v in TIMEFRAMES.items() if k in EXCHANGE_INTERVALS}  # as Binance
KLINES_WEIGHT = 2
TICKER_WEIGHT_ALL = 80
WEEK_ORIGIN_MS = 4 * 1440 * MS_PER_MIN  # Monday 1970-01-05


class FakeClock:
    """Simulated seconds: ``clock()`` reads, ``clock.sleep(dt)`` advances (thread-safe)."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, seconds)
            self.slept.append(seconds)


def _pad8(text: str) -> str:
    """Binance prints 8 decimals: '23140.48' -> '23140.48000000', '9e-05' -> '0.00009000'
    (the same decimal value, hence the same float)."""
    value = Decimal(text)
    exponent = value.as_tuple().exponent
    return f"{value:.8f}" if isinstance(exponent, int) and exponent >= -8 else text


def load_rows(csv_path: Path) -> list[list[Any]]:
    """``[open_ms, open, high, low, close, volume]`` (texts, 8 decimals) from a Binance.US CSV
    with a header (e.g. ``real_data / "binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv"``)."""
    with Path(csv_path).open(newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        return [
            [int(pd.Timestamp(r[0]).value // 1_000_000)] + [_pad8(x) for x in r[1:6]]
            for r in reader
        ]


def _kline(row: list[Any], minutes: int) -> list[Any]:
    """A full 12-field Binance kline from ``[open_ms, o, h, l, c, v]``."""
    t, o, h, lo, c, v = row
    quote = f"{Decimal(v) * Decimal(c):.8f}"
    return [
        t,
        o,
        h,
        lo,
        c,
        v,
        t + minutes * MS_PER_MIN - 1,
        quote,
        1,
        "0.00000000",
        "0.00000000",
        "0",
    ]


def aggregate(rows: list[list[Any]], minutes: int) -> list[list[Any]]:
    """Exact exchange-style aggregation of 1m rows into ``minutes`` buckets (UTC, weeks Monday)."""
    width = minutes * MS_PER_MIN
    origin = WEEK_ORIGIN_MS if minutes == 10080 else 0
    out: list[list[Any]] = []
    for t, o, h, lo, c, v in rows:
        b = (t - origin) // width * width + origin
        if out and out[-1][0] == b:
            cur = out[-1]
            cur[2] = max(cur[2], h, key=Decimal)
            cur[3] = min(cur[3], lo, key=Decimal)
            cur[4], cur[5] = c, cur[5] + Decimal(v)
        else:
            out.append([b, o, h, lo, c, Decimal(v)])
    return [[b, o, h, lo, c, f"{v:.8f}"] for b, o, h, lo, c, v in out]


@dataclass
class Faults:
    """Misbehaviour switches (all off by default)."""

    by_request: dict[int, str] = field(default_factory=dict)  # klines request no. (from 1) -> fault
    retry_after: int = 7
    slow_s: float = 1.0  # delay of a 'timeout' response (real seconds)
    duplicate_rows: bool = False  # repeat rows inside pages and the row before startTime
    missing: list[tuple[str, str]] = field(default_factory=list)  # [start, end) never served
    missing_once: list[tuple[str, str]] = field(default_factory=list)  # served from the 2nd ask
    corrupt: tuple[str, str] | None = None  # (interval, open time) bar whose close is altered
    weight_limit: int | None = None  # server-enforced weight per window (429 when exceeded)
    foreign_weight: int = 0  # weight other clients use at the start of every window
    window_s: float = 60.0
    hold_at: int | None = None  # klines request no. held open until `release` is set
    bad_checksum: set[str] = field(default_factory=set)  # archive names with a wrong .CHECKSUM
    archive_header: bool = False
    archive_unit: str = "ms"  # or "us" (the 2025+ archive format)


@dataclass
class Hit:
    t: float  # clock() at arrival
    path: str
    params: dict[str, str]
    status: int
    weight: int
    fault: str | None


class FakeExchange:
    """``with FakeExchange({'BTCUSDT': rows}) as ex: ... ex.base_url``."""

    def __init__(
        self,
        data: dict[str, list[list[Any]]],
        *,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.monotonic,
        tickers: Any = None,
        markets: Any = None,
    ) -> None:
        self.data = {s: sorted(r, key=lambda x: x[0]) for s, r in data.items()}
        self.faults = faults or Faults()
        self.clock, self.tickers, self.markets = clock, tickers, markets
        self.hits: list[Hit] = []
        self.klines_requests = 0
        self.window_used: dict[int, int] = {}
        self.release = threading.Event()
        self.held = threading.Event()
        self.archive_edits: dict[str, Callable[[list[list[Any]]], list[list[Any]]]] = {}
        self._asked: set[tuple[str, str]] = set()
        self._agg: dict[tuple[str, str], list[list[Any]]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeExchange:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    # -- accounting -----------------------------------------------------------------------------
    def _charge(self, weight: int) -> tuple[int, bool]:
        """Charge ``weight`` in the current window; (used after, over the enforced limit?)."""
        f = self.faults
        w = int(self.clock() // f.window_s)
        used = self.window_used.get(w, f.foreign_weight)
        over = f.weight_limit is not None and used + weight > f.weight_limit
        self.window_used[w] = used + weight
        return used + weight, over

    def max_window_weight(self) -> int:
        return max(self.window_used.values(), default=0)

    def klines_hits(self) -> list[Hit]:
        return [h for h in self.hits if h.path == "/api/v3/klines"]

    # -- data -----------------------------------------------------------------------------------
    def _rows(self, symbol: str, interval: str) -> list[list[Any]]:
        rows = self.data[symbol]
        gone = [
            (pd.Timestamp(a).value // 10**6, pd.Timestamp(b).value // 10**6)
            for a, b in self.faults.missing
        ]
        if gone:
            rows = [r for r in rows if not any(a <= r[0] < b for a, b in gone)]
        if interval == "1m":
            return rows
        key = (symbol, interval)
        if key not in self._agg:
            agg = aggregate(rows, INTERVAL_MIN[interval])
            if self.faults.corrupt and self.faults.corrupt[0] == interval:
                at = pd.Timestamp(self.faults.corrupt[1]).value // 10**6
                for r in agg:
                    if r[0] == at:
                        r[4] = f"{Decimal(r[4]) * Decimal('1.001'):.8f}"  # close +0.1 %
                        r[2] = max(r[2], r[4], key=Decimal)
            self._agg[key] = agg
        return self._agg[key]

    def _select(self, q: dict[str, str]) -> list[list[Any]]:
        interval = q.get("interval", "")
        rows = self._rows(q["symbol"], interval)
        limit = min(int(q.get("limit", 500)), 1000)
        lo, hi = int(q.get("startTime", 0)), int(q.get("endTime", 2**62))
        times = [r[0] for r in rows]
        i = bisect.bisect_left(times, lo)
        j = bisect.bisect_right(times, hi)
        page = rows[i : min(j, i + limit)] if "startTime" in q else rows[max(i, j - limit) : j]
        page = self._drop_once(page, q)
        if self.faults.duplicate_rows and page:
            before = rows[i - 1 : i] if i > 0 else []
            page = before + page[:3] + page[2:]  # previous row + a repeated row
        return [_kline(r, INTERVAL_MIN[interval]) for r in page]

    def _drop_once(self, page: list[list[Any]], q: dict[str, str]) -> list[list[Any]]:
        for a, b in self.faults.missing_once:
            key = (q["symbol"], a)
            lo, hi = pd.Timestamp(a).value // 10**6, pd.Timestamp(b).value // 10**6
            if q.get("interval") == "1m" and any(lo <= r[0] < hi for r in page):
                if key not in self._asked:
                    self._asked.add(key)
                    page = [r for r in page if not lo <= r[0] < hi]
        return page

    def archive(self, symbol: str, name: str) -> bytes | None:
        """The zip bytes of one archive, built from the rows it covers (None when none)."""
        stamp = name.removesuffix(".zip").split("-1m-")[1]
        start = pd.Timestamp(stamp + ("-01" if len(stamp) == 7 else ""), tz="UTC")
        end = start + (pd.offsets.MonthBegin(1) if len(stamp) == 7 else pd.Timedelta(days=1))
        lo, hi = start.value // 10**6, end.value // 10**6
        rows = [r for r in self.data.get(symbol, []) if lo <= r[0] < hi]
        if not rows:
            return None
        rows = self.archive_edits.get(name, lambda r: r)(rows)
        scale = 1000 if self.faults.archive_unit == "us" else 1
        text = io.StringIO()
        if self.faults.archive_header:
            text.write(
                "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                "taker_buy_volume,taker_buy_quote_volume,ignore\n"
            )
        for r in rows:
            k = _kline(r, 1)
            k[0], k[6] = k[0] * scale, k[6] * scale
            text.write(",".join(str(x) for x in k) + "\n")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(name.replace(".zip", ".csv"), date_time=(2024, 1, 1, 0, 0, 0))
            zf.writestr(info, text.getvalue())
        return buf.getvalue()

    # -- HTTP -----------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        ex = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    ex._dispatch(self)

        return Handler

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/v3/klines":
            return self._klines(h, q)
        if url.path.startswith("/data/spot/"):
            return self._archive_file(h, url.path)
        snapshot = {"/api/v3/ticker/24hr": self.tickers, "/api/v3/coins/markets": self.markets}
        if url.path in snapshot and snapshot[url.path] is not None:
            doc = snapshot[url.path]
            if url.path.endswith("markets"):
                per, page = int(q.get("per_page", 100)), int(q.get("page", 1))
                doc = doc[(page - 1) * per : page * per]
            with self._lock:
                weight = TICKER_WEIGHT_ALL if url.path.endswith("24hr") else 0
                used, _ = self._charge(weight)
                self.hits.append(Hit(self.clock(), url.path, q, 200, weight, None))
            return self._send(h, 200, json.dumps(doc).encode(), {"X-MBX-USED-WEIGHT-1M": str(used)})
        self._send(h, 404, b'{"code": -1, "msg": "not found"}')

    def _klines(self, h: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        with self._lock:
            self.klines_requests += 1
            n = self.klines_requests
            used, over = self._charge(KLINES_WEIGHT)
            fault = "over-budget" if over else self.faults.by_request.get(n)
            status = {
                "429": 429,
                "418": 418,
                "over-budget": 429,
                "500": 500,
                "502": 502,
                "503": 503,
            }.get(fault or "", 200)
            if q.get("symbol") not in self.data:
                status, fault = 400, "bad-symbol"
            elif q.get("interval") not in INTERVAL_MIN:
                status, fault = 400, "bad-interval"
            self.hits.append(Hit(self.clock(), "/api/v3/klines", q, status, KLINES_WEIGHT, fault))
        if n == self.faults.hold_at:
            self.held.set()
            self.release.wait(30)
        headers = {"X-MBX-USED-WEIGHT-1M": str(used), "Content-Type": "application/json"}
        if status == 400:
            msg = "Invalid symbol." if fault == "bad-symbol" else "Invalid interval."
            return self._send(h, 400, json.dumps({"code": -1121, "msg": msg}).encode(), headers)
        if status in (429, 418):
            wait = self.faults.retry_after
            if fault == "over-budget":
                wait = int(self.faults.window_s - self.clock() % self.faults.window_s) + 1
            body = json.dumps({"code": -1003, "msg": "Too many requests"}).encode()
            return self._send(h, status, body, {**headers, "Retry-After": str(wait)})
        if status >= 500:
            return self._send(h, status, b"<html>Bad Gateway</html>", headers)
        body = json.dumps(self._select(q)).encode()
        if fault == "timeout":
            time.sleep(self.faults.slow_s)
        elif fault == "truncated":
            body = body[: len(body) // 2]
        elif fault == "short":
            rows = json.loads(body)
            body = json.dumps(rows[: len(rows) // 2]).encode()
        elif fault == "incomplete":
            return self._send(h, 200, body[: len(body) // 2], headers, length=len(body))
        self._send(h, 200, body, headers)

    def _archive_file(self, h: BaseHTTPRequestHandler, path: str) -> None:
        parts = path.split("/")  # '', data, spot, period, klines, SYM, 1m, NAME
        name = parts[-1]
        with self._lock:
            self.hits.append(Hit(self.clock(), path, {}, 200, 0, None))
        zname = name.removesuffix(".CHECKSUM")
        body = self.archive(parts[5], zname) if len(parts) == 8 else None
        if body is None:
            return self._send(h, 404, b"<Error><Code>NoSuchKey</Code></Error>")
        if name.endswith(".CHECKSUM"):
            digest = hashlib.sha256(body).hexdigest()
            if zname in self.faults.bad_checksum:
                digest = hashlib.sha256(body + b"tampered").hexdigest()
            body = f"{digest}  {zname}\n".encode()
        self._send(h, 200, body)


def data_cli(argv: list[str], data_root: Path, config_dir: Path | None = None) -> int:
    """Run ``threadx data VERB ...`` with the verbs of :mod:`threadx.cli.exchange` (the commands
    that talk to this server) on a store at ``data_root``; returns the exit code."""
    import argparse

    from threadx.cli.args import Context
    from threadx.cli.exchange import register_data_verbs
    from threadx.core.config import config_from_dict

    parser = argparse.ArgumentParser(prog="threadx")
    data = parser.add_subparsers(dest="verb", required=True).add_parser("data")
    register_data_verbs(data.add_subparsers(dest="data_verb", required=True))
    args = parser.parse_args(["data", *argv])
    paths = {"data_root": str(data_root), "allow_absolute_paths": True}
    cfg = config_from_dict({"paths": paths}, "<test>", config_dir or data_root)
    return args.func(Context(cfg), args)


def sliding_max_weight(hits: list[Hit], window_s: float) -> int:
    """Largest weight the server saw within any ``window_s`` interval (own requests)."""
    times = [(h.t, h.weight) for h in hits]
    best = 0
    for i, (t0, _) in enumerate(times):
        best = max(best, sum(w for t, w in times[i:] if t < t0 + window_s))
    return best
