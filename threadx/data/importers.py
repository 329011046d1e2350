"""Parse every supported source file into normalised 1-minute OHLCV frames.

Formats (:func:`detect_format` names them; :func:`read_file` reads them):

* ``csv-header``: CSV with a header (Binance.US exports ``open_time,open,high,low,close,volume``),
  ISO-8601 or epoch timestamps; header names are matched case-insensitively against aliases and
  extra columns (trades, ...) are ignored.
* ``csv-unix``: headerless CSV ``time, open, high, low, close, volume[, ...]`` with epoch times
  (Kraken: unix seconds plus a trade count).
* ``binance-archive``: Binance bulk-archive CSV (12 columns, open time in ms, or in µs from 2025 on;
  with or without a header line) and zip files holding such CSVs, checked against their
  ``.CHECKSUM`` file when one lies next to them.
* ``json``: a list of records, a list of Binance REST kline arrays, or ``{"data": [...]}``.
* ``parquet``: our own layout, or any frame with a timestamp index or column.

Normalisation is the same for all: a ``datetime64[ns, UTC]`` index named ``time`` floored to the
minute, float64 columns ``open, high, low, close, volume`` parsed correctly rounded (Arrow's
parser: bit-identical to ``float(text)``), sorted, exact duplicates dropped and counted, conflicting
duplicates rejected, the still-open minute dropped and flagged, and the schema checked.  Every
problem raises :class:`DataError` naming the file, the row (line number, record or timestamp) and
the rule; a file either parses completely or returns nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from threadx.data.schema import COLUMNS, INDEX_NAME, validate_ohlcv
from threadx.errors import DataError

KINDS: tuple[str, ...] = ("csv-header", "csv-unix", "binance-archive", "json", "parquet")
KNOWN_EXCHANGES: frozenset[str] = frozenset(
    {"binance", "binance_us", "kraken", "coinbase", "bybit", "okx", "bitfinex", "bitstamp",
     "kucoin", "gemini", "huobi", "htx", "gateio", "mexc", "bitget", "deribit", "bitmex"}
)
_EXCHANGE_ALIASES = {"binanceus": "binance_us", "binance-us": "binance_us",
                     "binance.us": "binance_us", "gate": "gateio", "gate.io": "gateio"}
TIME_ALIASES: tuple[str, ...] = ("open_time", "timestamp", "time", "date", "datetime",
                                 "open time", "opentime", "ts", "t")
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "open": ("open", "o"), "high": ("high", "h"), "low": ("low", "l"),
    "close": ("close", "c"), "volume": ("volume", "vol", "v", "base_volume"),
}
_ARCHIVE_MARKERS = frozenset({"close_time", "quote_volume", "quote_asset_volume",
                              "taker_buy_volume", "taker_buy_base_asset_volume", "ignore"})
ARCHIVE_COLUMNS = 12
MAX_MEMBER_BYTES = 1 << 30  # refuse zip members that would inflate past 1 GiB
_MINUTE_NS = 60_000_000_000
_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_NUMBER_RE = re.compile(_NUMBER)
_TF = r"[0-9]+(?:s|m|h|d|w|M)"
_ARCHIVE_NAME = re.compile(rf"([A-Za-z0-9]+)-({_TF})-[0-9]{{4}}-[0-9]{{2}}(?:-[0-9]{{2}})?")
_SYMBOL_TF_NAME = re.compile(rf"([A-Za-z0-9.-]+)_({_TF})(?:_.*)?")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SUFFIXES = (".zip", ".csv", ".json", ".parquet", ".pq", ".txt", ".checksum")
# Epoch magnitudes: below 1e11 seconds, below 1e14 ms, below 1e17 µs, else ns.
_UNIT_LIMITS = (1e11, 1e14, 1e17)
_UNIT_NAMES = ("seconds", "milliseconds", "microseconds", "nanoseconds")

Where = Callable[[int], str]


@dataclass(frozen=True)
class ParsedFile:
    """One normalised frame and what is known about where it came from."""

    frame: pd.DataFrame
    symbol: str | None
    exchange: str | None
    timeframe: str
    source: Path
    kind: str  # 'csv-header' | 'csv-unix' | 'binance-archive' | 'json' | 'parquet'
    dropped_open_minute: bool = False
    duplicates_dropped: int = 0


@dataclass(frozen=True)
class _Raw:
    """Unconverted columns of one source: field -> (name in the source, values)."""

    columns: dict[str, tuple[str, Any]]
    where: Where
    kind: str


# ----------------------------------------------------------------------------- names and paths


def _check_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{what} {value!r}: must be a string")
    if "/" in value or "\\" in value:
        raise DataError(f"{what} {value!r}: must not contain a path separator ('/' or '\\')")
    if ".." in value:
        raise DataError(f"{what} {value!r}: must not contain '..'")
    if not 1 <= len(value) <= 40:
        raise DataError(f"{what} {value!r}: must be 1 to 40 characters long, got {len(value)}")
    if not _NAME_RE.fullmatch(value):
        raise DataError(f"{what} {value!r}: only A-Z, 0-9, '-', '_' and '.' are allowed, "
                        "starting with a letter or digit")
    return value


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` upper-cased if it is safe as a folder name, else raise DataError.

    Rules: a string of 1..40 ASCII letters, digits, ``-``, ``_`` or ``.``, starting with a letter
    or digit, with no path separator and no ``..``.
    """
    return _check_name(symbol, "symbol").upper()


def _validate_exchange(exchange: str) -> str:
    return _check_name(exchange, "exchange").lower()


def _exchange_name(name: str) -> str | None:
    lowered = _EXCHANGE_ALIASES.get(name.lower(), name.lower())
    return lowered if lowered in KNOWN_EXCHANGES else None


def _stem(name: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name, changed = name[: -len(suffix)], True
    return name


def infer_symbol_exchange(path: Path) -> tuple[str | None, str | None, str | None]:
    """Guess (symbol, exchange, timeframe) from a file's name and folder; None where unknown.

    Understands ``binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv`` (exchange from a known parent
    folder), ``binance_us_BTCUSDT_1m.parquet``, Binance archive names ``BTCUSDT-1m-2023-03.zip``
    / ``BTCUSDT-1m-2023-03-01.csv`` (exchange binance unless the folder names one) and the store
    layout ``{exchange}/{SYMBOL}/1m/2023-03.parquet``.
    """
    path = Path(path)
    stem = _stem(path.name)
    folder = _exchange_name(path.parent.name)
    if m := _ARCHIVE_NAME.fullmatch(stem):
        return m[1].upper(), folder or "binance", m[2]
    prefixes = sorted(KNOWN_EXCHANGES | set(_EXCHANGE_ALIASES), key=len, reverse=True)
    for prefix in prefixes:
        if stem.lower().startswith(prefix + "_"):
            if m := _SYMBOL_TF_NAME.fullmatch(stem[len(prefix) + 1 :]):
                return m[1].upper(), _exchange_name(prefix), m[2]
    if m := _SYMBOL_TF_NAME.fullmatch(stem):
        return m[1].upper(), folder, m[2]
    parents = path.parents
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}", stem) and re.fullmatch(_TF, path.parent.name) \
            and len(parents) >= 3 and parents[1].name and parents[2].name:
        return parents[1].name.upper(), parents[2].name.lower(), path.parent.name
    return None, folder, None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _verify_checksum(path: Path) -> None:
    """Check ``X.zip`` against ``X.zip.CHECKSUM`` (or ``X.CHECKSUM``) when one exists."""
    for candidate in (path.with_name(path.name + ".CHECKSUM"), path.with_suffix(".CHECKSUM")):
        if candidate != path and candidate.is_file():
            break
    else:
        return
    tokens = candidate.read_text(encoding="utf-8", errors="replace").split()
    if not tokens or not re.fullmatch(r"[0-9a-fA-F]{64}", tokens[0]):
        raise DataError(f"{candidate}: malformed checksum file; expected '<sha256 hex>  <name>'")
    expected, got = tokens[0].lower(), sha256_file(path)
    if got != expected:
        raise DataError(f"{path}: checksum mismatch: expected {expected}, got {got} "
                        f"(from {candidate.name})")


# ----------------------------------------------------------------------------- format detection


def _is_number(text: str) -> bool:
    return bool(_NUMBER_RE.fullmatch(text.strip()))


def _first_line(data: bytes, src: str) -> str:
    line = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{src}: row 1: not UTF-8 text ({err.reason})") from err
    if not text.strip():
        raise DataError(f"{src}: row 1: empty line; expected a header or a data row")
    return text


def _split_line(line: str) -> list[str]:
    return [f.strip() for f in next(csv.reader([line]))]


def _classify(fields: Sequence[str]) -> str:
    if _is_number(fields[0]):
        return "binance-archive" if len(fields) == ARCHIVE_COLUMNS else "csv-unix"
    lowered = {f.lower() for f in fields}
    return "binance-archive" if lowered & _ARCHIVE_MARKERS else "csv-header"


def detect_format(path: Path) -> str:
    """Name the format of ``path`` (one of :data:`KINDS`), by extension, else by its first line."""
    path = Path(path)
    by_suffix = {".zip": "binance-archive", ".parquet": "parquet", ".pq": "parquet",
                 ".json": "json"}
    if path.suffix.lower() in by_suffix:
        return by_suffix[path.suffix.lower()]
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from err
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return "binance-archive"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DataError(f"{path}: empty file")
    if stripped[:1] in (b"[", b"{"):
        return "json"
    return _classify(_split_line(_first_line(head, str(path))))


# ----------------------------------------------------------------------------- source parsers


def _find_columns(names: Sequence[str], src: str, where: str) -> dict[str, tuple[str, int]]:
    """Map each field (time + COLUMNS) to (its name in the source, its position)."""
    lowered = [str(n).strip().lower() for n in names]
    found: dict[str, tuple[str, int]] = {}
    for field, aliases in (("time", TIME_ALIASES), *FIELD_ALIASES.items()):
        hit = next((a for a in aliases if a in lowered), None)
        if hit is None:
            raise DataError(f"{src}: {where}: missing column '{field}' (found {list(names)}; "
                            f"accepted names: {', '.join(aliases)})")
        pos = lowered.index(hit)
        found[field] = (str(names[pos]), pos)
    return found


def _line_locator(data: bytes) -> Callable[[int], int]:
    """Map a 1-based count of non-empty rows (what Arrow counts) to the file's line number."""
    cache: list[list[int]] = []

    def line(row: int) -> int:
        if not cache:
            cache.append([n for n, text in enumerate(data.split(b"\n"), 1)
                          if text not in (b"", b"\r")])
        return cache[0][row - 1] if row - 1 < len(cache[0]) else row

    return line


def _parse_csv(data: bytes, src: str) -> _Raw:
    fields = _split_line(_first_line(data, src))
    kind = _classify(fields)
    header = not _is_number(fields[0])
    if header:
        cols = _find_columns(fields, src, "row 1 (header)")
    elif len(fields) < 6:
        raise DataError(f"{src}: row 1: expected at least 6 columns "
                        f"(time, open, high, low, close, volume), got {len(fields)}")
    else:
        cols = {f: (f, i) for i, f in enumerate(("time", *COLUMNS))}
    wanted = {f"f{pos}": pa.string() for _, pos in cols.values()}
    line = _line_locator(data)
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(skip_rows=int(header), autogenerate_column_names=True,
                                           use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types=wanted, include_columns=list(wanted),
                                                 strings_can_be_null=False),
        )
    except pa.ArrowInvalid as err:
        if invalid:
            row = invalid[0]
            raise DataError(f"{src}: row {line(row.number)}: expected {row.expected_columns} "
                            f"columns, got {row.actual_columns} ({row.text[:80]!r})") from err
        raise DataError(f"{src}: not a valid CSV file ({err})") from err
    skip = int(header)
    columns = {f: (name, table.column(f"f{pos}")) for f, (name, pos) in cols.items()}
    return _Raw(columns, lambda i: f"row {line(i + 1 + skip)}", kind)


def _json_texts(values: list[Any], label: str, where: Where, src: str) -> pa.Array:
    """JSON scalars as text for the one numeric parser (repr of a float round-trips exactly)."""
    out: list[str | None] = []
    for i, v in enumerate(values):
        if isinstance(v, str) or v is None:
            out.append(v)
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append(repr(v))
        else:
            raise DataError(f"{src}: {where(i)}: column '{label}' is not numeric ({v!r})")
    return pa.array(out, type=pa.string())


def _parse_json(data: bytes, src: str) -> _Raw:
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as err:
        raise DataError(f"{src}: row {err.lineno}: invalid JSON ({err.msg})") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{src}: not UTF-8 text ({err.reason})") from err
    if isinstance(doc, dict):
        if "data" not in doc:
            raise DataError(f"{src}: expected a list of candles or {{\"data\": [...]}}, got an "
                            f"object with keys {sorted(doc)[:10]}")
        doc = doc["data"]
    if not isinstance(doc, list):
        raise DataError(f"{src}: expected a list of candles, got {type(doc).__name__}")

    def where(i: int) -> str:
        return f"record {i + 1}"

    if not doc:
        rows: list[list[Any]] = []
        names = {f: f for f in ("time", *COLUMNS)}
    elif isinstance(doc[0], dict):
        names, rows = _json_records(doc, src, where)
    else:
        names, rows = _json_klines(doc, src, where)
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return _Raw({f: (names[f], _json_texts(list(col), names[f], where, src))
                 for f, col in zip(names, columns, strict=True)}, where, "json")


def _json_records(doc: list[Any], src: str, where: Where) -> tuple[dict[str, str], list[list]]:
    keys = [k for k, _ in _find_columns(list(doc[0]), src, where(0)).values()]
    rows = []
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            raise DataError(f"{src}: {where(i)}: expected an object, got {type(rec).__name__}")
        missing = [k for k in keys if k not in rec]
        if missing:
            raise DataError(f"{src}: {where(i)}: missing key '{missing[0]}'")
        rows.append([rec[k] for k in keys])
    return dict(zip(("time", *COLUMNS), keys, strict=True)), rows


def _json_klines(doc: list[Any], src: str, where: Where) -> tuple[dict[str, str], list[list]]:
    for i, row in enumerate(doc):
        if not isinstance(row, list) or len(row) < 6:
            raise DataError(f"{src}: {where(i)}: expected an array [open_time, open, high, low, "
                            f"close, volume, ...], got {str(row)[:80]}")
    return {f: f for f in ("time", *COLUMNS)}, [row[:6] for row in doc]


def _parse_parquet(path: Path, src: str) -> _Raw:
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise DataError(f"{src}: not a readable Parquet file ({err})") from err

    def where(i: int) -> str:
        return f"row {i + 1}"

    names = [str(c) for c in frame.columns]
    if isinstance(frame.index, pd.DatetimeIndex):
        found = _find_columns([*names, "time"], src, "columns")
        time: tuple[str, Any] = (str(frame.index.name or "index"), frame.index)
    else:
        found = _find_columns(names, src, "columns")
        time = (found["time"][0], frame.iloc[:, found["time"][1]])
    columns = {f: (name, frame.iloc[:, pos]) for f, (name, pos) in found.items() if f != "time"}
    return _Raw({"time": time, **columns}, where, "parquet")


# ----------------------------------------------------------------------------- conversion


def _strings(values: Any) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not isinstance(values, pa.Array):
        objs = np.asarray(values, dtype=object)
        try:
            values = pa.array(objs, type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            values = pa.array([None if v is None else str(v) for v in objs], type=pa.string())
    return pc.utf8_trim_whitespace(values)


def _bad(src: str, where: str, label: str, text: str | None, what: str) -> DataError:
    if text is None or text == "":
        return DataError(f"{src}: {where}: column '{label}' has a missing value")
    return DataError(f"{src}: {where}: column '{label}' is not {what} ({text!r})")


def _check_numeric(texts: pa.Array, label: str, where: Where, src: str) -> None:
    ok = pc.fill_null(pc.match_substring_regex(texts, _NUMBER), False).to_numpy(
        zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise _bad(src, where(i), label, texts[i].as_py(), "numeric")


def _is_plain_numeric(values: Any) -> bool:
    dtype = getattr(values, "dtype", None)
    return dtype is not None and pd.api.types.is_numeric_dtype(dtype) \
        and not pd.api.types.is_bool_dtype(dtype)


def _floats(values: Any, label: str, where: Where, src: str) -> np.ndarray:
    """Exact float64 values of a column; DataError on the first missing or non-numeric value."""
    if _is_plain_numeric(values):
        out = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(out)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"{src}: {where(i)}: column '{label}' has a missing or non-finite "
                            f"value ({out[i]})")
        return out
    texts = _strings(values)
    _check_numeric(texts, label, where, src)
    out = pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _bad(src, where(i), label, texts[i].as_py(), "within float64 range")
    return out


def _epoch_ns(values: np.ndarray, label: str, where: Where, src: str) -> np.ndarray:
    """Epoch numbers (unit chosen by magnitude, one unit per file) to int64 nanoseconds."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    units = np.searchsorted(_UNIT_LIMITS, np.abs(values.astype(np.float64)), side="right")
    if (units != units[0]).any():
        i = int(np.flatnonzero(units != units[0])[0])
        raise DataError(f"{src}: {where(i)}: column '{label}' mixes timestamp units "
                        f"({_UNIT_NAMES[units[i]]} here, {_UNIT_NAMES[units[0]]} in the first row)")
    factor = 10 ** (9 - 3 * int(units[0]))
    bad = (values < 0) | (values.astype(np.float64) * factor >= 2**63)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{src}: {where(i)}: column '{label}' is outside 1970..2262 "
                        f"({values[i]} {_UNIT_NAMES[units[0]]})")
    if values.dtype.kind == "f":
        if not np.array_equal(values, np.floor(values)):
            return np.round(values * factor).astype(np.int64)
        values = values.astype(np.int64)
    return values.astype(np.int64) * factor


def _times_ns(values: Any, label: str, where: Where, src: str) -> np.ndarray:
    """Timestamps of any source type to int64 UTC nanoseconds."""
    if pd.api.types.is_datetime64_any_dtype(getattr(values, "dtype", None)):
        idx = pd.DatetimeIndex(values)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        if idx.hasnans:
            raise DataError(f"{src}: {where(int(np.argmax(idx.isna())))}: column '{label}' "
                            "has a missing value")
        return idx.as_unit("ns").asi8.copy()
    if _is_plain_numeric(values):
        numbers = _floats(values, label, where, src)  # rejects missing values first
        if pd.api.types.is_integer_dtype(values.dtype):
            numbers = pd.Series(values).to_numpy(dtype=np.int64)  # exact beyond 2**53
        return _epoch_ns(numbers, label, where, src)
    texts = _strings(values)
    first = next((t for t in texts.to_pylist() if t), None)
    if first is not None and _is_number(first):
        _check_numeric(texts, label, where, src)
        try:
            numbers = pc.cast(texts, pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            numbers = _floats(texts, label, where, src)
        return _epoch_ns(numbers, label, where, src)
    parsed = pd.to_datetime(np.asarray(texts.to_pylist(), dtype=object), utc=True,
                            format="ISO8601", errors="coerce")
    if parsed.hasnans:
        i = int(np.argmax(parsed.isna()))
        raise _bad(src, where(i), label, texts[i].as_py(), "an ISO-8601 timestamp")
    return pd.DatetimeIndex(parsed).as_unit("ns").asi8.copy()


def _conflict_error(src: str, ns: np.ndarray, rows: np.ndarray, conflict: np.ndarray,
                    where: Where) -> DataError:
    stamps = np.unique(ns[1:][conflict])
    parts = []
    for stamp in stamps[:5]:
        where_rows = ", ".join(where(int(r)) for r in sorted(rows[ns == stamp])[:4])
        parts.append(f"{pd.Timestamp(int(stamp), tz='UTC')} ({where_rows})")
    more = f" (+{len(stamps) - 5} more)" if len(stamps) > 5 else ""
    return DataError(f"{src}: rule 'one candle per minute' violated: {len(stamps)} timestamp(s) "
                     f"appear more than once with different values: {'; '.join(parts)}{more}")


def _open_minute_ns(now: pd.Timestamp | None) -> int:
    stamp = pd.Timestamp.now("UTC") if now is None else pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.floor("min").as_unit("ns").value)


def _normalise(raw: _Raw, src: str, now: pd.Timestamp | None) -> tuple[pd.DataFrame, bool, int]:
    """Convert, floor, sort, dedupe, drop the open minute and validate one source's columns."""
    label, values = raw.columns["time"]
    ns = _times_ns(values, label, raw.where, src)
    ns = ns - ns % _MINUTE_NS
    vals = np.empty((len(ns), len(COLUMNS)), dtype=np.float64)
    for j, field in enumerate(COLUMNS):
        label, values = raw.columns[field]
        vals[:, j] = _floats(values, label, raw.where, src)
    order = np.argsort(ns, kind="stable")
    ns, vals = ns[order], vals[order]
    same_time = ns[1:] == ns[:-1]
    conflict = same_time & ~(vals[1:] == vals[:-1]).all(axis=1)
    if conflict.any():
        raise _conflict_error(src, ns, order, conflict, raw.where)
    keep = np.ones(len(ns), dtype=bool)
    keep[1:] = ~same_time
    ns, vals = ns[keep], vals[keep]
    still_open = ns >= _open_minute_ns(now)
    ns, vals = ns[~still_open], vals[~still_open]
    index = pd.DatetimeIndex(ns.view("datetime64[ns]"), name=INDEX_NAME).tz_localize("UTC")
    frame = pd.DataFrame({c: vals[:, j].copy() for j, c in enumerate(COLUMNS)}, index=index)
    validate_ohlcv(frame, source=src)
    return frame, bool(still_open.any()), int(len(keep) - keep.sum())


# ----------------------------------------------------------------------------- entry point


def _read_zip(path: Path, src: str) -> list[tuple[str, str, _Raw]]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{src}: not a valid zip archive ({err})") from err
    out = []
    with archive:
        members = sorted((i for i in archive.infolist() if not i.is_dir()
                          and i.filename.lower().endswith(".csv")
                          and not i.filename.startswith("__MACOSX/")), key=lambda i: i.filename)
        if not members:
            raise DataError(f"{src}: the zip holds no CSV file ({archive.namelist()[:5]})")
        for info in members:
            member_src = f"{src}[{info.filename}]"
            if info.file_size > MAX_MEMBER_BYTES:
                raise DataError(f"{member_src}: inflates to {info.file_size} bytes, more than "
                                f"the {MAX_MEMBER_BYTES} allowed")
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as err:
                raise DataError(f"{member_src}: cannot be read ({err})") from err
            out.append((info.filename, member_src, _parse_csv(data, member_src)))
    return out


def _is_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return path.suffix.lower() == ".zip" or fh.read(4) == b"PK\x03\x04"


def read_file(path: Path, *, symbol: str | None = None, exchange: str | None = None,
              now: pd.Timestamp | None = None, verify_checksum: bool = True) -> list[ParsedFile]:
    """Parse one source file (a zip may hold several CSVs) into normalised frames.

    ``symbol``/``exchange`` override what :func:`infer_symbol_exchange` guesses from the path;
    ``now`` (default: the wall clock) decides which minute is still open. Raises DataError, naming
    the file, row and rule, on any problem; nothing is returned unless everything parsed.
    """
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise DataError(f"{src}: no such file")
    if verify_checksum:
        _verify_checksum(path)
    kind = detect_format(path)
    if kind == "parquet":
        items = [(path.name, src, _parse_parquet(path, src))]
    elif kind == "json":
        items = [(path.name, src, _parse_json(path.read_bytes(), src))]
    elif _is_zip(path):
        items = _read_zip(path, src)
    else:
        items = [(path.name, src, _parse_csv(path.read_bytes(), src))]
    symbol = validate_symbol(symbol) if symbol is not None else None
    exchange = _validate_exchange(exchange) if exchange is not None else None
    out = []
    for name, item_src, raw in items:
        sym, exch, timeframe = infer_symbol_exchange(path.parent / PurePosixPath(name).name)
        if sym is None and name != path.name:
            sym, exch, timeframe = infer_symbol_exchange(path)
        frame, dropped, dups = _normalise(raw, item_src, now)
        out.append(ParsedFile(
            frame=frame,
            symbol=symbol or (validate_symbol(sym) if sym else None),
            exchange=exchange or (_validate_exchange(exch) if exch else None),
            timeframe=timeframe or "1m",
            source=path,
            kind=raw.kind,
            dropped_open_minute=dropped,
            duplicates_dropped=dups,
        ))
    return out
