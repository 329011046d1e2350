"""The OHLCV schema: one frame layout for every source, and the rules it must obey.

A valid frame has a tz-aware UTC ``DatetimeIndex`` named ``time`` that is strictly increasing, and
exactly the float64 columns ``open, high, low, close, volume`` with

* prices finite and > 0, ``volume`` finite and >= 0;
* ``high >= max(open, close)`` and ``low <= min(open, close)``.

``validate_ohlcv`` raises :class:`DataError` naming the source, the rule, how many rows break it and
the first offending timestamps. It never modifies its input.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from threadx.core.errors import DataError
from threadx.core.utc import utc_index

COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
INDEX_NAME = "time"
MAX_SHOWN = 5


def _fail(source: str, rule: str, index: pd.Index | np.ndarray, mask: np.ndarray) -> None:
    if not isinstance(index, pd.Index):  # int64 ns timestamps (the arrays' check)
        index = utc_index(index)
    bad = index[np.asarray(mask, dtype=bool)]
    shown = ", ".join(str(t) for t in bad[:MAX_SHOWN])
    more = "" if len(bad) <= MAX_SHOWN else f" (+{len(bad) - MAX_SHOWN} more)"
    raise DataError(
        f"{source}: rule '{rule}' violated by {len(bad)} row(s), first at: {shown}{more}"
    )


def empty_frame() -> pd.DataFrame:
    idx = pd.DatetimeIndex([], tz="UTC", name=INDEX_NAME).as_unit("ns")
    return pd.DataFrame({c: np.empty(0, dtype=np.float64) for c in COLUMNS}, index=idx)


def _check_structure(frame: pd.DataFrame, source: str) -> None:
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; required columns are {list(COLUMNS)}"
        )
    extra = [c for c in frame.columns if c not in COLUMNS]
    if extra:
        raise DataError(f"{source}: unexpected column(s) {extra}; allowed are {list(COLUMNS)}")
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"{source}: index must be a DatetimeIndex, got {type(idx).__name__}")
    if idx.tz is None or str(idx.tz) != "UTC":
        raise DataError(f"{source}: index must be tz-aware UTC, got tz={idx.tz}")
    for c in COLUMNS:
        if frame[c].dtype != np.float64:
            raise DataError(f"{source}: column '{c}' must be float64, got {frame[c].dtype}")


def _check_index(idx: pd.DatetimeIndex | np.ndarray, source: str) -> None:
    ns = idx.asi8 if isinstance(idx, pd.DatetimeIndex) else idx
    step = np.diff(ns)
    for rule, bad in (
        ("timestamps are unique", step == 0),
        ("timestamps strictly increasing", step < 0),
    ):
        if bad.any():
            _fail(source, rule, idx, np.concatenate(([False], bad)))


def _check_values(frame: pd.DataFrame, source: str) -> None:
    check_value_arrays(frame.index, *(frame[k].to_numpy() for k in COLUMNS), source=source)


def check_value_arrays(
    idx: pd.DatetimeIndex | np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    *,
    source: str,
) -> None:
    """The value rules on plain arrays (``idx``: the index, or int64 ns timestamps, for the
    message only); :class:`DataError` as :func:`validate_ohlcv` raises it."""
    checks: list[tuple[str, np.ndarray]] = [
        (f"{name} is finite (no NaN/inf)", ~np.isfinite(arr))
        for name, arr in zip(COLUMNS, (o, h, lo, c, v), strict=True)
    ]
    checks += [(f"{n} > 0", a <= 0) for n, a in zip(PRICE_COLUMNS, (o, h, lo, c), strict=True)]
    checks += [
        ("volume >= 0", v < 0),
        ("high >= low", h < lo),
        ("high >= max(open, close)", h < np.maximum(o, c)),
        ("low <= min(open, close)", lo > np.minimum(o, c)),
    ]
    for rule, bad in checks:
        if bad.any():
            _fail(source, rule, idx, bad)


def validate_arrays(times_ns: np.ndarray, columns: dict[str, np.ndarray], source: str) -> None:
    """:func:`validate_ohlcv` of a frame with these int64 ns timestamps and float64 ``columns``,
    without building it (a Parquet month file read as Arrow): the same rules, the same errors."""
    if list(columns) != list(COLUMNS):
        raise DataError(f"{source}: columns {list(columns)}; required columns are {list(COLUMNS)}")
    if len(times_ns):
        _check_index(times_ns, source)
        check_value_arrays(times_ns, *columns.values(), source=source)


def validate_ohlcv(frame: pd.DataFrame, source: str = "frame", values: bool = True) -> pd.DataFrame:
    """Check ``frame`` against the schema; return it unchanged or raise :class:`DataError`.
    ``values=False`` checks the columns, dtypes and index only: for rows whose values were
    checked already (a concatenation of validated frames)."""
    _check_structure(frame, source)
    if len(frame):
        _check_index(frame.index, source)
        if values:
            _check_values(frame, source)
    return frame


_SYMBOL_OK = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_EXCHANGE_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def validate_symbol(symbol: str) -> str:
    """Symbols name folders of the store: upper-case A-Z, 0-9 and ``- _ .`` only, 1..40 chars,
    no path separators and no ``..`` (so a symbol can never escape the data root)."""
    if not isinstance(symbol, str) or not 1 <= len(symbol) <= 40:
        raise DataError(f"symbol {symbol!r}: must be a string of 1 to 40 characters")
    if "/" in symbol or "\\" in symbol or ".." in symbol or symbol.startswith("."):
        raise DataError(f"symbol {symbol!r}: must not contain a path separator, '..' or lead '.'")
    if not set(symbol) <= _SYMBOL_OK:
        raise DataError(f"symbol {symbol!r}: only upper-case A-Z, 0-9 and '-_.' are allowed")
    return symbol


def validate_exchange(exchange: str) -> str:
    """Exchange names are folder names too: lower-case a-z, 0-9 and '_' only, 1..32 chars."""
    if not isinstance(exchange, str) or not 1 <= len(exchange) <= 32:
        raise DataError(f"exchange {exchange!r}: must be a string of 1 to 32 characters")
    if not set(exchange) <= _EXCHANGE_OK:
        raise DataError(f"exchange {exchange!r}: only lower-case a-z, 0-9 and '_' are allowed")
    return exchange
