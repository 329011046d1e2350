"""DataStore actor: owns the catalog and the Parquet store; serves bars as object refs.

Thin shell over :class:`threadx.data.store.OHLCVStore` and
:func:`threadx.sweep.dataset.load_dataset`. A returned :class:`~threadx.sweep.dataset.Dataset` lives
in the object store as plain float64 arrays, so workers on the same node read it zero-copy.
Writers are serialised per symbol (and the store's own file locks serialise processes).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ray

NAME = "data_store"
MAX_DATASETS = 16  # loaded datasets kept for reuse (least recently used dropped first)


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

    def get_dataset(
        self,
        symbol: str,
        timeframe: str,
        exchange: str | None = None,
        start: str | None = None,
        end: str | None = None,
        allow_gaps: bool = False,
    ) -> Any:
        """Bars of (symbol, timeframe) after the gap policy, as a Dataset (kept for reuse)."""
        from threadx.sweep.dataset import load_dataset

        key = (symbol, timeframe, exchange, start, end, allow_gaps, self._catalog_stamp())
        with self._guard:
            found = self._datasets.get(key)
        if found is not None:
            return found
        with self._lock(symbol):
            ds = load_dataset(
                self.store,
                symbol,
                timeframe,
                exchange=exchange,
                start=start,
                end=end,
                allow_gaps=allow_gaps,
            )
        with self._guard:
            self._datasets.put(key, ds)
        return ds

    def _catalog_stamp(self) -> int:
        p = self.store.catalog_path
        return p.stat().st_mtime_ns if p.exists() else 0

    def catalog(self) -> Any:
        return self.store.list_frame()

    def symbols(self) -> list[tuple[str, str]]:
        return self.store.symbols()

    def import_path(
        self,
        path: str,
        symbol: str | None = None,
        exchange: str | None = None,
        on_conflict: str = "merge",
        dry_run: bool = False,
    ) -> dict[str, Any]:
        from threadx.data.migrate import import_path

        with self._lock(symbol or "*import*"):
            report = import_path(
                self.store,
                Path(path),
                symbol=symbol,
                exchange=exchange,
                on_conflict=on_conflict,
                dry_run=dry_run,
            )
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

    def ingest(
        self,
        symbol: str,
        start: str | None = None,
        end: str | None = None,
        base_url: str = "https://api.binance.com",
        exchange: str = "binance",
    ) -> dict[str, Any]:
        """Download the missing 1m bars of ``symbol`` (serialised per symbol); poll
        :meth:`ingest_progress` meanwhile."""
        from threadx.data.binance import ingest

        def progress(p: dict[str, Any]) -> None:
            with self._guard:
                self._progress[symbol] = {**p, "done": False}

        with self._lock(symbol):
            report = ingest(
                self.store,
                symbol,
                start,
                end,
                base_url=base_url,
                exchange=exchange,
                progress=progress,
            )
        with self._guard:
            self._progress[symbol] = {**self._progress.get(symbol, {}), "done": True}
        return report.to_dict()

    def ingest_progress(self, symbol: str) -> dict[str, Any] | None:
        with self._guard:
            return self._progress.get(symbol)
