"""DataStore actor: owns the catalog and the Parquet store; serves bars as object refs.

Thin shell over :class:`threadx.data.store.OHLCVStore` and
:func:`threadx.sweep.dataset.load_dataset`. A returned :class:`~threadx.sweep.dataset.Dataset` lives
in the object store as plain float64 arrays, so workers on the same node read it zero-copy.
Writers are serialised per symbol (and the store's own file locks serialise processes).

Requests with several arguments travel as frozen dataclasses (:class:`DatasetRequest`,
:class:`ImportRequest`, :class:`IngestRequest`, :class:`IngestManyRequest`): their fields are
the library function's keyword arguments, so a request is written once, from the client to
the library.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

if TYPE_CHECKING:
    from threadx.sweep.spec import SweepSpec

NAME = "data_store"
MAX_DATASETS = 16  # loaded datasets kept for reuse (least recently used dropped first)


@dataclass(frozen=True)
class DatasetRequest:
    """Bars of (symbol, timeframe) in a window after the gap policy: the arguments of
    :func:`threadx.sweep.dataset.load_dataset`; hashable, so it keys the loaded datasets."""

    symbol: str
    timeframe: str
    exchange: str | None = None
    start: str | None = None
    end: str | None = None
    allow_gaps: bool = False

    @classmethod
    def of(cls, spec: SweepSpec, symbol: str, timeframe: str) -> DatasetRequest:
        """The dataset (symbol, timeframe) of ``spec`` (its exchange, window and gap policy)."""
        d = spec.data
        return cls(symbol, timeframe, d.exchange, d.start, d.end, d.allow_gaps)


@dataclass(frozen=True)
class ImportRequest:
    """A file or folder of bars to import: the arguments of
    :func:`threadx.data.migrate.import_path`."""

    path: str
    symbol: str | None = None
    exchange: str | None = None
    on_conflict: str = "merge"
    dry_run: bool = False


@dataclass(frozen=True)
class IngestRequest:
    """The missing 1m bars of ``symbol`` to download: the arguments of
    :func:`threadx.data.binance.ingest`."""

    symbol: str
    start: str | None = None
    end: str | None = None
    base_url: str = "https://api.binance.com"
    exchange: str = "binance"


@dataclass(frozen=True)
class IngestManyRequest:
    """Several symbols downloaded at once under one weight budget: the arguments of
    :func:`threadx.data.ingest_batch.ingest_many` (``stored``: also every stored symbol of
    ``exchange``, the daily update)."""

    symbols: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    base_url: str | None = None
    exchange: str = "binance"
    workers: int = 4
    dry_run: bool = False
    stored: bool = False


@ray.remote(num_cpus=0, max_concurrency=8)
class DataStore:
    def __init__(self, data_root: str) -> None:
        from threadx.data.store import OHLCVStore
        from threadx.sweep.cache import LRUMap

        self.store = OHLCVStore(Path(data_root))
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()  # also guards _datasets (an LRUMap is not locked)
        self._datasets: LRUMap[tuple, Any] = LRUMap(MAX_DATASETS)
        self._progress: dict[str, dict[str, Any]] = {}

    def _lock(self, symbol: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(symbol, threading.Lock())

    def data_root(self) -> str:
        return str(self.store.data_root)

    def get_dataset(self, request: DatasetRequest) -> Any:
        """The requested bars as a Dataset (kept for reuse while the catalog is unchanged)."""
        from threadx.sweep.dataset import load_dataset

        key = (request, self._catalog_stamp())
        with self._guard:
            found = self._datasets.get(key)
        if found is not None:
            return found
        with self._lock(request.symbol):
            ds = load_dataset(self.store, **asdict(request))
        with self._guard:
            self._datasets.put(key, ds)
        return ds

    def _catalog_stamp(self) -> int:
        p = self.store.catalog_path
        return p.stat().st_mtime_ns if p.exists() else 0

    def catalog(self, timeframes: bool = False) -> Any:
        """The catalog frame (1m data; ``timeframes``: also coarser imported timeframes)."""
        return self.store.list_frame(timeframes)

    def symbols(self) -> list[tuple[str, str]]:
        return self.store.symbols()

    def import_path(self, request: ImportRequest) -> dict[str, Any]:
        """Import a file or folder of bars (serialised per symbol); its report as a dict."""
        from threadx.data.migrate import import_path

        with self._lock(request.symbol or "*import*"):
            report = import_path(self.store, **{**asdict(request), "path": Path(request.path)})
        return report.to_dict()

    def resample(self, symbol: str, timeframe: str, exchange: str | None = None) -> Any:
        from threadx.data.resample import resample

        return resample(self.store.read(symbol, exchange), timeframe).frame

    def gaps(self, symbol: str, exchange: str | None = None) -> dict[str, Any]:
        rep = self.store.gaps(symbol, exchange)
        return {
            "summary": rep.summary(),
            "missing": rep.missing,
            "expected": rep.expected,
            "missing_ratio": rep.missing_ratio,
            "runs": [(str(t), n) for t, n in rep.runs[:1000]],
        }

    def ingest(self, request: IngestRequest) -> dict[str, Any]:
        """Download the missing 1m bars of the request's symbol (serialised per symbol); poll
        :meth:`ingest_progress` meanwhile."""
        from threadx.data.binance import ingest

        symbol = request.symbol
        with self._lock(symbol):
            report = ingest(self.store, **asdict(request), progress=self._note_progress)
        self._note_done([symbol])
        return report.to_dict()

    def ingest_many(self, request: IngestManyRequest) -> dict[str, Any]:
        """Download several symbols at once (one shared weight budget); the batch report as a
        dict; each symbol's progress through :meth:`ingest_progress`."""
        from threadx.data.ingest_batch import ingest_many, stored_symbols

        args = asdict(request)
        symbols = list(args.pop("symbols"))
        if args.pop("stored"):
            symbols += stored_symbols(self.store, request.exchange)
        report = ingest_many(self.store, symbols, **args, progress=self._note_progress)
        self._note_done([o.symbol for o in report.outcomes])
        return report.to_dict()

    def _note_progress(self, p: dict[str, Any]) -> None:
        with self._guard:
            self._progress[p["symbol"]] = {**p, "done": False}

    def _note_done(self, symbols: list[str]) -> None:
        with self._guard:
            for s in symbols:
                self._progress[s] = {**self._progress.get(s, {}), "done": True}

    def ingest_progress(self, symbol: str) -> dict[str, Any] | None:
        with self._guard:
            return self._progress.get(symbol)
