"""Bars of one (symbol, timeframe) as plain arrays, ready for the kernels, with a fingerprint.

Loading applies the gap policy on the 1-minute truth first (fill <= 5 % missing, else keep gaps
only with ``allow_gaps``) and then resamples. A window that the 1m bars do not cover is served by
the coarsest imported timeframe that divides the requested one, with the same gap policy on its
bars (:func:`threadx.data.timeframes.choose_source`; ``source_timeframe``). The fingerprint hashes
the index and every OHLCV column, so any change of data gives a new run id and new cache keys.

**Bars cache.** A loaded dataset is kept on disk under ``{data_root}/cache/bars/`` (one ``.npz``
of its arrays, fingerprint and gap facts per key, at most :data:`BARS_CACHE_KEEP` per symbol),
keyed by the month files it was read from (name, size, modification time, inode: the store only
ever replaces a file atomically, which gives it a new inode), the window, the timeframe and the
stored timeframe it is made from, the gap policy and the source of the loading code
(:data:`BARS_CODE_VERSION`). A sweep on the same data then loads its bars in about a millisecond
instead of reading, checking and resampling the 1m truth again (a year of 1m -> 1h: 65 ms).
Anything that does not match, or a cache file that cannot be read, is a miss: the bars are
loaded from the store and the cache file rewritten. The cache is derived data: deleting the
folder is always safe.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from threadx.core.hashing import sha256_arrays, sha256_json, source_version
from threadx.core.units import NS_PER_MINUTE
from threadx.core.utc import from_ns, utc_index
from threadx.data.gaps import apply_gap_policy
from threadx.data.resample import resample, timeframe_minutes
from threadx.data.schema import COLUMNS
from threadx.data.store import OHLCVStore
from threadx.data.timeframes import choose_source


@dataclass(frozen=True)
class Dataset:
    symbol: str
    exchange: str
    timeframe: str
    bar_minutes: int
    times_ns: np.ndarray  # int64, bar open times
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled_minutes: int
    missing_ratio: float
    gap_action: str
    fold: int | None = None  # a walk-forward fold's train slice (see window)
    source_timeframe: str = "1m"  # the stored bars it was made from (imported old data: not 1m)

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    @property
    def key(self) -> str:
        return f"{self.exchange}/{self.symbol}/{self.timeframe}"

    def fingerprint(self) -> str:
        """Hash of the bars (index and every column); computed once per Dataset object (the
        arrays are never modified; :meth:`window` and ``dataclasses.replace`` make new objects,
        which hash their own arrays)."""
        fp = self.__dict__.get("_fingerprint")
        if fp is None:
            fp = _frame_fingerprint(
                self.times_ns, self.open, self.high, self.low, self.close, self.volume
            )
            object.__setattr__(self, "_fingerprint", fp)
        return fp

    def window(self, start_ns: int, end_ns: int, fold: int | None = None) -> Dataset:
        """The bars lying wholly inside ``[start_ns, end_ns)`` (open time >= start and open time
        + bar length <= end) as a dataset of their own: own arrays, own fingerprint."""
        bar_ns = self.bar_minutes * NS_PER_MINUTE
        lo = int(np.searchsorted(self.times_ns, start_ns, side="left"))
        hi = max(lo, int(np.searchsorted(self.times_ns, end_ns - bar_ns, side="right")))
        cols = ("times_ns", "open", "high", "low", "close", "volume")
        return dataclasses.replace(
            self, fold=fold, **{c: getattr(self, c)[lo:hi].copy() for c in cols}
        )

    def head(self, n: int) -> Dataset:
        """The first ``n`` bars as a dataset of their own (views of these arrays; a halving
        search's early stages, :mod:`threadx.sweep.halving`)."""
        cols = ("times_ns", "open", "high", "low", "close", "volume")
        return dataclasses.replace(self, **{c: getattr(self, c)[:n] for c in cols})

    def to_frame(self) -> pd.DataFrame:
        idx = utc_index(self.times_ns, name="time")
        return pd.DataFrame(
            dict(
                zip(COLUMNS, (self.open, self.high, self.low, self.close, self.volume), strict=True)
            ),
            index=idx,
        )

    def describe(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "timeframe": self.timeframe,
            "bars": self.n_bars,
            "first": str(from_ns(self.times_ns[0])),
            "last": str(from_ns(self.times_ns[-1])),
            "fingerprint": self.fingerprint(),
            "gap_action": self.gap_action,
            "filled_minutes": self.filled_minutes,
            "missing_ratio": self.missing_ratio,
            **(
                {"source_timeframe": self.source_timeframe} if self.source_timeframe != "1m" else {}
            ),
        }


def _frame_fingerprint(*arrays: np.ndarray) -> str:
    """The data fingerprint of bar arrays (:func:`threadx.core.hashing.sha256_arrays`)."""
    return sha256_arrays(*arrays)


def dataset_from_frame(
    frame: pd.DataFrame,
    symbol: str,
    exchange: str,
    timeframe: str,
    *,
    allow_gaps: bool = False,
    source: str = "1m",
) -> Dataset:
    """Gap policy on a frame of ``source`` bars (the 1-minute truth by default), then
    resampling to ``timeframe``."""
    width = timeframe_minutes(source)
    what = f"{exchange}/{symbol}" + ("" if source == "1m" else f" ({source} bars)")
    pol = apply_gap_policy(frame, allow_gaps=allow_gaps, what=what, bar_minutes=width)
    bars = resample(pol.frame, timeframe, source).frame
    if len(bars) < 2:
        from threadx.core.errors import DataError

        raise DataError(f"{exchange}/{symbol} {timeframe}: {len(bars)} bar(s); at least 2 needed")
    return Dataset(
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        # resample made these arrays (a copy even at 1m): no further copy
        bar_minutes=timeframe_minutes(timeframe),
        times_ns=_own(bars.index.asi8),
        open=_own(bars["open"].to_numpy()),
        high=_own(bars["high"].to_numpy()),
        low=_own(bars["low"].to_numpy()),
        close=_own(bars["close"].to_numpy()),
        volume=_own(bars["volume"].to_numpy()),
        filled_minutes=int(pol.filled.sum()) * width,
        missing_ratio=pol.report.missing_ratio,
        gap_action=pol.action,
        source_timeframe=source,
    )


def _own(a: np.ndarray) -> np.ndarray:
    """``a`` as a C-contiguous array (copied only when it is not)."""
    return np.ascontiguousarray(a)


BARS_CACHE_DIR = ("cache", "bars")
BARS_CACHE_KEEP = 8  # cached datasets kept per (exchange, symbol): the most recently written
_ARRAYS = ("times_ns", "open", "high", "low", "close", "volume")


# the source of the modules that turn month files into bars (and the package version)
BARS_CODE_VERSION = source_version(
    "data.store", "data.schema", "data.gaps", "data.resample", "data.timeframes", "sweep.dataset"
)


def bars_cache_key(paths: list[Path], **what: object) -> str:
    """The cache key of the bars read from ``paths`` as ``what`` says (symbol, timeframe, ...)."""
    files = []
    for p in paths:
        st = p.stat()
        files.append([p.name, st.st_size, st.st_mtime_ns, st.st_ino])
    key = {"files": files, "what": what, "code": BARS_CODE_VERSION}
    return sha256_json(key, compact=False)[:24]  # json's default separators: keys stay valid


def _cache_folder(store: OHLCVStore, exchange: str, symbol: str) -> Path:
    return store.data_root.joinpath(*BARS_CACHE_DIR, exchange, symbol)


def _cache_read(path: Path, key: str) -> Dataset | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {name: z[name] for name in _ARRAYS}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # missing, torn or foreign: a miss
    if not isinstance(meta, dict) or meta.get("key") != key:
        return None
    try:
        ds = Dataset(**meta["fields"], **arrays)
    except (TypeError, KeyError):  # written by other code: a miss
        return None
    object.__setattr__(ds, "_fingerprint", meta["fingerprint"])
    return ds


def _cache_write(folder: Path, path: Path, key: str, ds: Dataset) -> None:
    from threadx.core.io import atomic_write

    fields = {f.name: getattr(ds, f.name) for f in dataclasses.fields(ds) if f.name not in _ARRAYS}
    meta = json.dumps({"key": key, "fields": fields, "fingerprint": ds.fingerprint()})

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, meta=np.array(meta), **{n: getattr(ds, n) for n in _ARRAYS})

    try:  # derived data: no fsync (a torn file is a miss); a failed write is only a miss later
        atomic_write(path, write, durable=False)
        kept = sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[BARS_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def load_dataset(
    store: OHLCVStore,
    symbol: str,
    timeframe: str,
    *,
    exchange: str | None = None,
    start: str | None = None,
    end: str | None = None,
    allow_gaps: bool = False,
    cache: bool = True,
) -> Dataset:
    """The bars of ``symbol`` at ``timeframe`` (gap policy on the 1m truth, or on the imported
    timeframe that serves the window, then resampling), from the bars cache when the month files
    and the code are those it was made from (``cache=False``: always from the store; see the
    module docstring)."""
    exchange = store.resolve_exchange(symbol, exchange)
    source = choose_source(store, symbol, exchange, timeframe, start, end)

    def from_store() -> Dataset:
        frame = store.read(symbol, exchange, start, end, timeframe=source)
        return dataset_from_frame(
            frame, symbol, exchange, timeframe, allow_gaps=allow_gaps, source=source
        )

    if not cache:
        return from_store()
    paths = store.month_paths(symbol, exchange, start, end, source)
    key = bars_cache_key(
        paths,
        symbol=symbol,
        exchange=exchange,
        timeframe=timeframe,
        source_timeframe=source,
        start=start,
        end=end,
        allow_gaps=allow_gaps,
    )
    folder = _cache_folder(store, exchange, symbol)
    path = folder / f"{timeframe}-{key}.npz"
    ds = _cache_read(path, key)
    if ds is None:
        ds = from_store()
        _cache_write(folder, path, key, ds)
    return ds
