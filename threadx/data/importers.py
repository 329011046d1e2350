"""Parse every supported source file into normalised OHLCV frames (1-minute bars, or the bars of
the timeframe a file's name says: the predecessor's 15m/1h/4h files).

Formats (named by :func:`detect_format`): ``csv-header`` (Binance.US exports; header aliases,
extra columns ignored), ``csv-unix`` (headerless epoch CSV, e.g. Kraken), ``binance-archive``
(12-column archive CSV in ms or µs, with or without header, and zips of them checked against their
``.CHECKSUM``), ``json`` (records, REST kline arrays or ``{"data": [...]}``) and ``parquet``.

Every format ends the same way: a ``datetime64[ns, UTC]`` index named ``time`` floored to the
minute; float64 ``open, high, low, close, volume`` parsed correctly rounded (Arrow's parser, equal
to ``float(text)`` to the bit); sorted; exact duplicates dropped and counted; conflicting duplicates
and bad values rejected with a :class:`DataError` naming file, row and rule; the still-open minute
dropped and flagged; the schema checked. A file parses completely or returns nothing.
"""

from __future__ import annotations

import csv
import functools
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

from threadx.core.errors import DataError
from threadx.core.hashing import sha256_file
from threadx.core.units import NS_PER_MINUTE
from threadx.core.utc import as_utc, from_ns, utc_index
from threadx.data import schema
from threadx.data.resample import timeframe_minutes
from threadx.data.schema import COLUMNS, INDEX_NAME, validate_ohlcv

KINDS = ("csv-header", "csv-unix", "binance-archive", "json", "parquet")
KNOWN_EXCHANGES = frozenset(
    "binance binance_us kraken coinbase bybit okx bitfinex bitstamp kucoin gemini huobi htx "
    "gateio mexc bitget deribit bitmex".split()
)
_EXCHANGE_ALIASES = {"binanceus": "binance_us", "binance-us": "binance_us", "gate": "gateio"}
# the predecessor (TradXPro) kept {SYMBOL}_{interval}.json / .parquet in these folders; its
# exchange is a known exchange folder right above them (else the import asks for --exchange)
PREDECESSOR_FOLDERS = frozenset({"crypto_data_json", "crypto_data_parquet"})
TIME_ALIASES = ("open_time", "timestamp", "time", "date", "datetime", "open time", "ts", "t")
FIELD_ALIASES = {
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c"),
    "volume": ("volume", "vol", "v", "base_volume"),
}
_FIELDS = ("time", *COLUMNS)
_ARCHIVE_MARKERS = frozenset("close_time quote_volume quote_asset_volume taker_buy_volume".split())
ARCHIVE_COLUMNS = 12
MAX_MEMBER_BYTES = 1 << 30  # refuse zip members that would inflate past 1 GiB
_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_TF = r"[0-9]+[smhdwM]"
_ARCHIVE_NAME = re.compile(rf"([A-Za-z0-9]+)-({_TF})-[0-9]{{4}}-[0-9]{{2}}(?:-[0-9]{{2}})?")
_SYMBOL_TF_NAME = re.compile(rf"([A-Za-z0-9.-]+)_({_TF})(?:_.*)?")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CHARSET_RULE = "only A-Z, 0-9, '-', '_' and '.' are allowed, starting with a letter or digit"
_UNIT_LIMITS = (1e11, 1e14, 1e17)  # epoch magnitude below which the unit is s, ms, µs (else ns)
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
    where: Where  # data row (0-based) -> "row 17" (file line) or "record 3"
    kind: str


def _err(src: str, where: str, text: str) -> DataError:
    return DataError(f"{src}: {where}: {text}")


# ----------------------------------------------------------------------------- names and paths


def _check_name(value: object, what: str) -> str:
    rules = [
        (isinstance(value, str), "must be a string"),
        ("/" not in str(value) and "\\" not in str(value), "must not contain a path separator"),
        (".." not in str(value), "must not contain '..'"),
        (1 <= len(str(value)) <= 40, f"must be 1 to 40 characters long, got {len(str(value))}"),
        (bool(_NAME_RE.fullmatch(str(value))), _CHARSET_RULE),
    ]
    broken = next((rule for ok, rule in rules if not ok), None)
    if broken:
        raise DataError(f"{what} {value!r}: {broken}")
    return str(value)


def validate_symbol(symbol: str) -> str:
    """Return ``symbol`` upper-cased if it is safe as a folder name, else raise DataError.

    Rules: a string of 1..40 ASCII letters, digits, ``-``, ``_`` or ``.``, starting with a letter
    or digit, with no path separator and no ``..``. The result also passes the store's own
    :func:`threadx.data.schema.validate_symbol`.
    """
    return schema.validate_symbol(_check_name(symbol, "symbol").upper())


def _validate_exchange(exchange: str) -> str:
    return schema.validate_exchange(_check_name(exchange, "exchange").lower())


def _exchange_name(name: str) -> str | None:
    lowered = _EXCHANGE_ALIASES.get(name.lower(), name.lower())
    return lowered if lowered in KNOWN_EXCHANGES else None


def infer_symbol_exchange(path: Path) -> tuple[str | None, str | None, str | None]:
    """Guess (symbol, exchange, timeframe) from a file's name and folder; None where unknown.

    Understands ``binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv`` (exchange from a known parent
    folder), ``binance_us_BTCUSDT_1m.parquet``, Binance archive names ``BTCUSDT-1m-2023-03.zip``
    / ``BTCUSDT-1m-2023-03-01.csv`` (exchange binance unless the folder names one), the store
    layout ``{exchange}/{SYMBOL}/1m/2023-03.parquet`` and the predecessor's tree
    ``{exchange}/crypto_data_json/BTCUSDT_1h.json`` (and ``crypto_data_parquet/``: the exchange
    is a known exchange folder above them, else unknown).
    """
    path = Path(path)
    stem = re.sub(r"(?:\.(?:zip|csv|json|parquet|pq|txt|checksum))+$", "", path.name, flags=re.I)
    parent = path.parent.parent if path.parent.name.lower() in PREDECESSOR_FOLDERS else path.parent
    folder = _exchange_name(parent.name)
    if m := _ARCHIVE_NAME.fullmatch(stem):
        return m[1].upper(), folder or "binance", m[2]
    for prefix in sorted(KNOWN_EXCHANGES | set(_EXCHANGE_ALIASES), key=len, reverse=True):
        m = _SYMBOL_TF_NAME.fullmatch(stem[len(prefix) + 1 :])
        if stem.lower().startswith(prefix + "_") and m:
            return m[1].upper(), _exchange_name(prefix), m[2]
    if m := _SYMBOL_TF_NAME.fullmatch(stem):
        return m[1].upper(), folder, m[2]
    up = path.parents
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}", stem) and re.fullmatch(_TF, up[0].name) and len(up) > 3:
        return up[1].name.upper(), up[2].name.lower(), up[0].name
    return None, folder, None


def _verify_checksum(path: Path) -> None:
    """Check ``X.zip`` against ``X.zip.CHECKSUM`` (or ``X.CHECKSUM``) when one exists."""
    names = (path.with_name(path.name + ".CHECKSUM"), path.with_suffix(".CHECKSUM"))
    candidate = next((c for c in names if c != path and c.is_file()), None)
    if candidate is None:
        return
    tokens = candidate.read_text(encoding="utf-8", errors="replace").split()
    if not tokens or not re.fullmatch(r"[0-9a-fA-F]{64}", tokens[0]):
        raise DataError(f"{candidate}: malformed checksum file; expected '<sha256 hex>  <name>'")
    expected, got = tokens[0].lower(), sha256_file(path)
    if got != expected:
        msg = f"checksum mismatch: expected {expected}, got {got} (from {candidate.name})"
        raise DataError(f"{path}: {msg}")


# ----------------------------------------------------------------------------- format detection


def _is_number(text: str) -> bool:
    return re.fullmatch(_NUMBER, text.strip()) is not None


def _first_fields(data: bytes, src: str) -> list[str]:
    """The first line of a CSV, split into stripped fields."""
    try:
        text = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise _err(src, "row 1", f"not UTF-8 text ({err.reason})") from err
    if not text.strip():
        raise _err(src, "row 1", "empty line; expected a header or a data row")
    return [f.strip() for f in next(csv.reader([text]))]


def _classify(fields: Sequence[str]) -> str:
    if _is_number(fields[0]):
        return "binance-archive" if len(fields) == ARCHIVE_COLUMNS else "csv-unix"
    archive = {f.lower() for f in fields} & _ARCHIVE_MARKERS
    return "binance-archive" if archive else "csv-header"


def detect_format(path: Path) -> str:
    """Name the format of ``path`` (one of :data:`KINDS`), by extension, else by its first line."""
    path = Path(path)
    by_suffix = {".zip": "binance-archive", ".parquet": "parquet", ".json": "json"}
    if path.suffix.lower() in by_suffix:
        return by_suffix[path.suffix.lower()]
    try:
        with path.open("rb") as fh:
            head = fh.read(1 << 16)
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror})") from err
    for magic, kind in ((b"PAR1", "parquet"), (b"PK\x03\x04", "binance-archive")):
        if head.startswith(magic):
            return kind
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise DataError(f"{path}: empty file")
    return "json" if stripped[:1] in b"[{" else _classify(_first_fields(head, str(path)))


# ----------------------------------------------------------------------------- source parsers


def _find_columns(names: Sequence[str], src: str, where: str) -> dict[str, tuple[str, int]]:
    """Map each field (time + COLUMNS) to (its name in the source, its position)."""
    lowered = [str(n).strip().lower() for n in names]
    found: dict[str, tuple[str, int]] = {}
    for field, aliases in (("time", TIME_ALIASES), *FIELD_ALIASES.items()):
        hit = next((a for a in aliases if a in lowered), None)
        if hit is None:
            accepted = ", ".join(aliases)
            text = f"missing column '{field}' (found {list(names)}; accepted: {accepted})"
            raise _err(src, where, text)
        found[field] = (str(names[lowered.index(hit)]), lowered.index(hit))
    return found


def _parse_csv(data: bytes, src: str) -> _Raw:
    fields = _first_fields(data, src)
    header = not _is_number(fields[0])
    if header:
        cols = _find_columns(fields, src, "row 1 (header)")
    elif len(fields) < 6:
        text = f"expected at least 6 columns (time, open, high, low, close, volume), not {fields}"
        raise _err(src, "row 1", text)
    else:
        cols = {f: (f, i) for i, f in enumerate(_FIELDS)}

    @functools.cache
    def lines() -> list[int]:  # Arrow counts non-empty rows; map them to file line numbers
        return [n for n, text in enumerate(data.split(b"\n"), 1) if text not in (b"", b"\r")]

    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row)
        return "error"

    names = [f"f{i}" for i in range(len(fields))]  # every row must have row 1's width
    wanted = {names[pos]: pa.string() for _, pos in cols.values()}
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data),
            read_options=pacsv.ReadOptions(
                skip_rows=int(header), column_names=names, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=wanted, include_columns=list(wanted), strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as err:
        if not invalid:
            raise DataError(f"{src}: not a valid CSV file ({err})") from err
        row = invalid[0]
        text = f"expected {row.expected_columns} columns, got {row.actual_columns}"
        raise _err(src, f"row {lines()[row.number - 1]}", f"{text} ({row.text[:80]!r})") from err
    columns = {f: (name, table.column(f"f{pos}")) for f, (name, pos) in cols.items()}
    return _Raw(columns, lambda i: f"row {lines()[i + int(header)]}", _classify(fields))


def _json_texts(values: Sequence[Any], label: str, where: Where, src: str) -> pa.Array:
    """JSON scalars as text for the one numeric parser (repr of a float round-trips exactly)."""
    out: list[str | None] = []
    for i, v in enumerate(values):
        if not (v is None or isinstance(v, str | int | float)) or isinstance(v, bool):
            raise _err(src, where(i), f"column '{label}' is not numeric ({v!r})")
        out.append(v if v is None or isinstance(v, str) else repr(v))
    return pa.array(out, type=pa.string())


def _json_rows(doc: list[Any], src: str, where: Where) -> tuple[list[str], list[list[Any]]]:
    """Records or kline arrays -> (column labels, rows of the six fields)."""
    if isinstance(doc[0], dict):
        keys = [name for name, _ in _find_columns(list(doc[0]), src, where(0)).values()]
        for i, rec in enumerate(doc):
            if not isinstance(rec, dict) or not set(keys) <= rec.keys():
                missing = [k for k in keys if k not in rec] if isinstance(rec, dict) else keys
                raise _err(src, where(i), f"expected an object with keys {missing}")
        return keys, [[rec[k] for k in keys] for rec in doc]
    for i, rec in enumerate(doc):
        if not isinstance(rec, list) or len(rec) < 6:
            text = f"expected an array [open_time, open, high, low, close, volume, ...], got {rec}"
            raise _err(src, where(i), text[:160])
    return list(_FIELDS), [rec[:6] for rec in doc]


def _parse_json(data: bytes, src: str) -> _Raw:
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as err:
        raise _err(src, f"row {err.lineno}", f"invalid JSON ({err.msg})") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{src}: not UTF-8 text ({err.reason})") from err
    if isinstance(doc, dict) and "data" not in doc:
        keys = sorted(doc)[:10]
        raise DataError(f'{src}: expected a list of candles or {{"data": [...]}}, got keys {keys}')
    doc = doc["data"] if isinstance(doc, dict) else doc
    if not isinstance(doc, list):
        raise DataError(f"{src}: expected a list of candles, got {type(doc).__name__}")

    def where(i: int) -> str:
        return f"record {i + 1}"

    labels, rows = _json_rows(doc, src, where) if doc else (list(_FIELDS), [])
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_FIELDS)
    texts = [_json_texts(c, lab, where, src) for c, lab in zip(columns, labels, strict=True)]
    return _Raw(dict(zip(_FIELDS, zip(labels, texts, strict=True), strict=True)), where, "json")


def _parse_parquet(path: Path, src: str) -> _Raw:
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError, ValueError) as err:
        raise DataError(f"{src}: not a readable Parquet file ({err})") from err
    names = [str(c) for c in frame.columns]
    on_index = isinstance(frame.index, pd.DatetimeIndex)
    found = _find_columns([*names, "time"] if on_index else names, src, "columns")
    columns = {f: (name, frame.iloc[:, pos]) for f, (name, pos) in found.items() if f != "time"}
    time_name = str(frame.index.name or "index") if on_index else found["time"][0]
    time = frame.index if on_index else frame.iloc[:, found["time"][1]]
    return _Raw({"time": (time_name, time), **columns}, lambda i: f"row {i + 1}", "parquet")


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


def _first_bad(src: str, where: Where, label: str, texts: pa.Array, bad: Any, what: str) -> None:
    """Raise for the first ``bad`` entry: a missing value, or one that is not ``what``."""
    bad = np.asarray(bad, dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        text = texts[i].as_py()
        rule = "has a missing value" if not text else f"is not {what} ({text!r})"
        raise _err(src, where(i), f"column '{label}' {rule}")


def _is_plain_numeric(values: Any) -> bool:
    dtype = getattr(values, "dtype", None)
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _floats(values: Any, label: str, where: Where, src: str) -> np.ndarray:
    """Exact float64 values of a column; DataError on the first missing or non-numeric value."""
    if _is_plain_numeric(values):
        out = pd.Series(values).to_numpy(dtype=np.float64, na_value=np.nan)
        bad = np.flatnonzero(~np.isfinite(out))
        if len(bad):
            text = f"column '{label}' has a missing or non-finite value ({out[bad[0]]})"
            raise _err(src, where(int(bad[0])), text)
        return out
    texts = _strings(values)
    ok = pc.fill_null(pc.match_substring_regex(texts, _NUMBER), False)
    _first_bad(src, where, label, texts, ~ok.to_numpy(zero_copy_only=False), "numeric")
    out = pc.cast(texts, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    _first_bad(src, where, label, texts, ~np.isfinite(out), "within float64 range")
    return out


def _epoch_ns(values: np.ndarray, label: str, where: Where, src: str) -> np.ndarray:
    """Epoch numbers (unit chosen by magnitude, one unit per file) to int64 nanoseconds."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    units = np.searchsorted(_UNIT_LIMITS, np.abs(values.astype(np.float64)), side="right")
    factor = 10 ** (9 - 3 * int(units[0]))
    mixed = np.flatnonzero(units != units[0])
    if len(mixed):
        names = f"{_UNIT_NAMES[units[mixed[0]]]} here, {_UNIT_NAMES[units[0]]} in the first row"
        raise _err(src, where(int(mixed[0])), f"column '{label}' mixes timestamp units ({names})")
    bad = np.flatnonzero((values < 0) | (values.astype(np.float64) * factor >= 2**63))
    if len(bad):
        text = f"column '{label}' is outside 1970..2262 ({values[bad[0]]} {_UNIT_NAMES[units[0]]})"
        raise _err(src, where(int(bad[0])), text)
    if values.dtype.kind == "f" and not np.array_equal(values, np.floor(values)):
        return np.round(values * factor).astype(np.int64)
    return values.astype(np.int64) * factor


def _times_ns(values: Any, label: str, where: Where, src: str) -> np.ndarray:
    """Timestamps of any source type to int64 UTC nanoseconds."""
    if pd.api.types.is_datetime64_any_dtype(getattr(values, "dtype", None)):
        idx = pd.DatetimeIndex(values)
        idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
        _first_bad(src, where, label, pa.nulls(len(idx), pa.string()), idx.isna(), "a timestamp")
        return idx.as_unit("ns").asi8.copy()
    if _is_plain_numeric(values):
        numbers = _floats(values, label, where, src)  # rejects missing values first
        if pd.api.types.is_integer_dtype(values.dtype):
            numbers = pd.Series(values).to_numpy(dtype=np.int64)  # exact beyond 2**53
        return _epoch_ns(numbers, label, where, src)
    texts = _strings(values)
    first = next((t for t in texts.to_pylist() if t), None)
    if first is not None and _is_number(first):
        try:
            numbers = pc.cast(texts, pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:
            numbers = _floats(texts, label, where, src)
        return _epoch_ns(numbers, label, where, src)
    objs = np.asarray(texts.to_pylist(), dtype=object)
    parsed = pd.DatetimeIndex(pd.to_datetime(objs, utc=True, format="ISO8601", errors="coerce"))
    _first_bad(src, where, label, texts, parsed.isna(), "an ISO-8601 timestamp")
    return parsed.as_unit("ns").asi8.copy()


def _conflict_error(src: str, ns: np.ndarray, rows: np.ndarray, where: Where) -> DataError:
    """``ns`` sorted, ``rows`` the original row of each entry."""
    stamps = np.unique(ns[1:][ns[1:] == ns[:-1]])
    parts = []
    for stamp in stamps[:5]:
        where_rows = ", ".join(where(int(r)) for r in sorted(rows[ns == stamp])[:4])
        parts.append(f"{from_ns(stamp)} ({where_rows})")
    more = f" (+{len(stamps) - 5} more)" if len(stamps) > 5 else ""
    return DataError(
        f"{src}: rule 'one candle per minute' violated: {len(stamps)} timestamp(s) appear more "
        f"than once with different values: {'; '.join(parts)}{more}"
    )


def _open_minute_ns(now: pd.Timestamp | None) -> int:
    stamp = as_utc(pd.Timestamp.now("UTC") if now is None else now)
    return int(stamp.floor("min").as_unit("ns").value)


def _bar_minutes(timeframe: str | None) -> int:
    """Minutes per bar of an inferred timeframe (1 when unknown or not one ThreadX knows)."""
    try:
        return timeframe_minutes(timeframe or "1m")
    except DataError:
        return 1


def _normalise(
    raw: _Raw, src: str, now: pd.Timestamp | None, bar_minutes: int = 1
) -> tuple[pd.DataFrame, bool, int]:
    """Convert, floor, sort, dedupe, drop the still-open bar (the minute, or the bar of
    ``bar_minutes`` that has not ended yet) and validate one source's columns."""
    ns = _times_ns(raw.columns["time"][1], raw.columns["time"][0], raw.where, src)
    ns = ns - ns % NS_PER_MINUTE
    vals = np.empty((len(ns), len(COLUMNS)), dtype=np.float64)
    for j, field in enumerate(COLUMNS):
        vals[:, j] = _floats(raw.columns[field][1], raw.columns[field][0], raw.where, src)
    order = np.argsort(ns, kind="stable")
    ns, vals = ns[order], vals[order]
    keep = np.ones(len(ns), dtype=bool)
    keep[1:] = ns[1:] != ns[:-1]
    conflict = ~keep[1:] & (vals[1:] != vals[:-1]).any(axis=1)
    if conflict.any():
        bad = np.isin(ns, ns[1:][conflict])
        raise _conflict_error(src, ns[bad], order[bad], raw.where)
    ns, vals = ns[keep], vals[keep]
    still_open = ns + (bar_minutes - 1) * NS_PER_MINUTE >= _open_minute_ns(now)
    ns, vals = ns[~still_open], vals[~still_open]
    index = utc_index(ns, name=INDEX_NAME)
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
        members = [i for i in archive.infolist() if i.filename.lower().endswith(".csv")]
        members = [i for i in members if not i.filename.startswith("__MACOSX/")]
        if not members:
            raise DataError(f"{src}: the zip holds no CSV file ({archive.namelist()[:5]})")
        for info in sorted(members, key=lambda i: i.filename):
            member_src = f"{src}[{info.filename}]"
            if info.file_size > MAX_MEMBER_BYTES:
                size = f"{info.file_size} bytes, more than the {MAX_MEMBER_BYTES} allowed"
                raise DataError(f"{member_src}: inflates to {size}")
            try:
                data = archive.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as err:
                raise DataError(f"{member_src}: cannot be read ({err})") from err
            out.append((info.filename, member_src, _parse_csv(data, member_src)))
    return out


def read_file(
    path: Path,
    *,
    symbol: str | None = None,
    exchange: str | None = None,
    now: pd.Timestamp | None = None,
    verify_checksum: bool = True,
) -> list[ParsedFile]:
    """Parse one source file (a zip may hold several CSVs) into normalised frames.

    ``symbol``/``exchange`` override what :func:`infer_symbol_exchange` guesses from the path;
    ``now`` (default: the wall clock) decides which minute is still open: rows at or after it
    are dropped and flagged. Raises DataError, naming the file, row and rule, on any problem;
    nothing is returned unless everything parsed.
    """
    path, src = Path(path), str(path)
    if not path.is_file():
        raise DataError(f"{src}: no such file")
    if verify_checksum:
        _verify_checksum(path)
    kind = detect_format(path)
    if kind == "parquet":
        items = [(path.name, src, _parse_parquet(path, src))]
    elif kind == "json":
        items = [(path.name, src, _parse_json(path.read_bytes(), src))]
    elif path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
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
        frame, dropped, dups = _normalise(raw, item_src, now, _bar_minutes(timeframe))
        sym = symbol or (validate_symbol(sym) if sym else None)
        exch = exchange or (_validate_exchange(exch) if exch else None)
        out.append(ParsedFile(frame, sym, exch, timeframe or "1m", path, raw.kind, dropped, dups))
    return out
