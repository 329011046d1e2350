"""In-memory cache of indicator arrays: LRU by byte budget, TTL, hit statistics (no Ray).

The IndicatorCache actor (``actors/indicator_cache.py``) is a thin shell over this module. Keys of
indicator arrays are ``(data fingerprint, name, args, INDICATOR_CODE_VERSION)``
(:func:`indicator_cache_key`): different bars, a different indicator request or a change of the
indicator formulas (the source of ``threadx/strategy/indicators.py`` or the package version) never
share an entry.

* :class:`LRUTTLCache` -- numpy arrays under a byte budget: least recently used entries are evicted
  first, entries older than ``ttl_s`` expire, an array larger than the whole budget is returned
  but not stored. Thread-safe; concurrent :meth:`~LRUTTLCache.get_or_compute` calls for one key
  compute it once (the others wait and count as hits). Stored arrays are handed out as read-only
  views, so no caller can change a cached value in place.
* :class:`FingerprintMemo` -- remembers data fingerprints (a SHA-256 over every bar) per object,
  so a large dataset is hashed once, not on every request.
* :class:`LRUMap` -- the small least-recently-used map bounded by a number of entries that
  :class:`FingerprintMemo` and the DataStore actor's datasets (``actors/data_store.py``) use.
* :func:`cached_indicators` -- the indicator arrays of a list of requests, from the cache or
  computed with :func:`threadx.strategy.pack.compute_indicator`.
"""

from __future__ import annotations

import functools
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from threadx.core.hashing import source_version

__all__ = [
    "INDICATOR_CODE_VERSION",
    "FingerprintMemo",
    "LRUMap",
    "LRUTTLCache",
    "cached_indicators",
    "indicator_cache_key",
]

DEFAULT_TTL_S = 3600.0


def _indicator_code_version() -> str:
    """12 hex digits of SHA-256 over ``threadx/strategy/indicators.py`` and
    ``threadx.__version__``."""
    return source_version("strategy.indicators", version_last=True)


INDICATOR_CODE_VERSION: str = _indicator_code_version()


def indicator_cache_key(data_fingerprint: str, name: str, args: Iterable[Any]) -> tuple:
    """``(data_fingerprint, name, args, INDICATOR_CODE_VERSION)`` with ``args`` as a tuple."""
    return (str(data_fingerprint), str(name), tuple(args), INDICATOR_CODE_VERSION)


@dataclass(slots=True)
class _Entry:
    value: np.ndarray
    nbytes: int
    stored_at: float


def _read_only(value: Any) -> np.ndarray:
    """A read-only view of ``value`` (the caller's own array keeps its flags)."""
    if not isinstance(value, np.ndarray):
        raise TypeError(f"only numpy arrays can be cached, got {type(value).__name__}")
    view = value.view()
    view.flags.writeable = False
    return view


class LRUTTLCache:
    """Numpy arrays by key, within ``max_bytes``, each kept at most ``ttl_s`` seconds.

    ``clock`` (seconds, monotonic) is injectable for tests. Expiry counts from the time an entry
    was stored (a ``put`` of an existing key replaces it and restarts its clock); a read refreshes
    its LRU position only. Expired entries are dropped when met and before any LRU eviction.
    """

    def __init__(
        self,
        max_bytes: int,
        ttl_s: float = DEFAULT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be an integer >= 0, got {max_bytes!r}")
        if not isinstance(ttl_s, int | float) or math.isnan(ttl_s) or ttl_s <= 0:
            raise ValueError(f"ttl_s must be a number > 0 (math.inf: never), got {ttl_s!r}")
        self.max_bytes, self.ttl_s, self._clock = max_bytes, float(ttl_s), clock
        self._lock = threading.Lock()
        self._lru: OrderedDict[Hashable, _Entry] = OrderedDict()  # least recently used first
        self._born: dict[Hashable, None] = {}  # keys in order of storage (oldest first)
        self._inflight: dict[Hashable, threading.Event] = {}
        self._bytes = 0
        self.reset_stats()

    # --- reads ------------------------------------------------------------------------------
    def get(self, key: Hashable) -> np.ndarray | None:
        """The cached array (read-only) or ``None``; counts a hit or a miss."""
        with self._lock:
            value = self._peek(key)
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
            return value

    def __contains__(self, key: Hashable) -> bool:
        """Whether a live entry exists (no statistics, no LRU refresh)."""
        with self._lock:
            entry = self._lru.get(key)
            return entry is not None and not self._expired(entry, self._clock())

    def __len__(self) -> int:
        with self._lock:
            return len(self._lru)

    # --- writes -----------------------------------------------------------------------------
    def put(self, key: Hashable, value: np.ndarray) -> np.ndarray:
        """Store ``value`` (evicting least recently used entries as needed); returns the
        read-only view that readers get. An array larger than ``max_bytes`` is not stored
        (counted as ``rejected``) and any previous entry of ``key`` is dropped."""
        view = _read_only(value)
        with self._lock:
            self._store(key, view)
        return view

    def get_or_compute(self, key: Hashable, fn: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached array, or ``fn()`` stored and returned (read-only). One caller computes a
        given key at a time; concurrent callers of the same key wait for it and count as hits.
        If ``fn`` raises, nothing is stored and the exception propagates."""
        while True:
            with self._lock:
                value = self._peek(key)
                if value is not None:
                    self._hits += 1
                    return value
                event = self._inflight.get(key)
                if event is None:
                    self._misses += 1
                    event = self._inflight[key] = threading.Event()
                    break
            event.wait()  # another thread computes this key; then look again
        try:
            view = _read_only(fn())
            with self._lock:
                self._store(key, view)
            return view
        finally:
            with self._lock:
                self._inflight.pop(key, None)
            event.set()

    def clear(self) -> int:
        """Drop every entry (statistics are kept); returns how many were dropped."""
        with self._lock:
            n = len(self._lru)
            self._lru.clear()
            self._born.clear()
            self._bytes = 0
            return n

    def reset_stats(self) -> None:
        """Zero the hit/miss/eviction/expiration/rejection counters."""
        self._hits = self._misses = self._evictions = self._expirations = self._rejected = 0

    def stats(self) -> dict[str, Any]:
        """Counters and occupancy; ``hit_rate = hits / (hits + misses)`` (0.0 before any read)."""
        with self._lock:
            reads = self._hits + self._misses
            return {
                "hits": self._hits,
                "misses": self._misses,
                "evictions": self._evictions,
                "expirations": self._expirations,
                "rejected": self._rejected,
                "entries": len(self._lru),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "ttl_s": self.ttl_s,
                "hit_rate": self._hits / reads if reads else 0.0,
            }

    # --- internals (lock held) --------------------------------------------------------------
    def _expired(self, entry: _Entry, now: float) -> bool:
        return now - entry.stored_at >= self.ttl_s

    def _drop(self, key: Hashable) -> None:
        entry = self._lru.pop(key)
        del self._born[key]
        self._bytes -= entry.nbytes

    def _peek(self, key: Hashable) -> np.ndarray | None:
        entry = self._lru.get(key)
        if entry is None:
            return None
        if self._expired(entry, self._clock()):
            self._drop(key)
            self._expirations += 1
            return None
        self._lru.move_to_end(key)
        return entry.value

    def _purge_expired(self, now: float) -> None:
        expired = []
        for key in self._born:  # oldest first: stop at the first live one
            if not self._expired(self._lru[key], now):
                break
            expired.append(key)
        for key in expired:
            self._drop(key)
        self._expirations += len(expired)

    def _store(self, key: Hashable, view: np.ndarray) -> None:
        if key in self._lru:
            self._drop(key)
        nbytes = int(view.nbytes)
        if nbytes > self.max_bytes:
            self._rejected += 1
            return
        now = self._clock()
        self._purge_expired(now)
        while self._bytes + nbytes > self.max_bytes:
            self._drop(next(iter(self._lru)))
            self._evictions += 1
        self._lru[key] = _Entry(view, nbytes, now)
        self._born[key] = None
        self._bytes += nbytes


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRUMap(Generic[K, V]):
    """At most ``max_entries`` values by key (any objects, by count: unlike
    :class:`LRUTTLCache`, no byte budget, no expiry, no read-only views); storing one more drops
    the least recently used. Reading (:meth:`get`) or storing a key makes it the most recently
    used. Not locked: callers that share one between threads hold their own lock."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max(1, int(max_entries))
        self._items: OrderedDict[K, V] = OrderedDict()  # least recently used first

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key`` (now the most recently used), or ``default``."""
        try:
            self._items.move_to_end(key)
        except KeyError:
            return default
        return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Store ``value`` under ``key``, dropping the least recently used beyond the bound."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def pop(self, key: K, default: V | None = None) -> V | None:
        return self._items.pop(key, default)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


_BAR_FIELDS = ("times_ns", "open", "high", "low", "close", "volume")


class FingerprintMemo:
    """Data fingerprints remembered per object, so hashing a large dataset happens once.

    A dataset (anything with ``fingerprint()`` and the arrays ``times_ns, open, high, low, close,
    volume``, e.g. :class:`threadx.sweep.dataset.Dataset`) is recognised by the identity of all
    its arrays, guarded by weak references so a recycled ``id()`` never matches; or by an explicit
    ``token`` naming immutable data (e.g. a Ray object ref's id). Arrays are treated as immutable:
    changing bars in place is not detected. At most ``max_entries`` are kept (LRU).
    """

    def __init__(self, max_entries: int = 1024) -> None:
        self._lock = threading.Lock()
        self._memo: LRUMap[Hashable, tuple[tuple[weakref.ref, ...], str]] = LRUMap(max_entries)
        self.max_entries = self._memo.max_entries
        self.computed = 0

    def known(self, token: Hashable) -> str | None:
        """The fingerprint remembered for ``token``, or ``None``."""
        with self._lock:
            item = self._memo.get(("token", token))
            return None if item is None else item[1]

    def fingerprint(self, dataset: Any, token: Hashable | None = None) -> str:
        """``dataset.fingerprint()``, computed at most once per token / set of arrays."""
        if token is not None:
            key, refs = ("token", token), ()
            fp = self.known(token)
        else:
            arrays = [getattr(dataset, f) for f in _BAR_FIELDS]
            key, refs = ("ids", *(id(a) for a in arrays)), tuple(weakref.ref(a) for a in arrays)
            fp = self._by_identity(key, arrays)
        if fp is None:
            fp = str(dataset.fingerprint())
            with self._lock:
                self.computed += 1
                self._memo.put(key, (refs, fp))
        return fp

    def _by_identity(self, key: Hashable, arrays: list[Any]) -> str | None:
        with self._lock:
            item = self._memo.get(key)
            if item is None:
                return None
            refs, fp = item
            if any(r() is not a for r, a in zip(refs, arrays, strict=True)):
                self._memo.pop(key)  # an id() recycled by a new array
                return None
            return fp

    def clear(self) -> None:
        with self._lock:
            self._memo.clear()


def _compute(load: Callable[[], Any], name: str, args: tuple) -> np.ndarray:
    from threadx.strategy.pack import compute_indicator

    ds = load()
    return compute_indicator(name, args, ds.open, ds.high, ds.low, ds.close)


def cached_indicators(
    cache: LRUTTLCache,
    memo: FingerprintMemo,
    load: Callable[[], Any],
    requests: Iterable[tuple[str, Iterable[Any]]],
    token: Hashable | None = None,
) -> dict[tuple[str, tuple], np.ndarray]:
    """The arrays of indicator ``requests`` (``(name, args)`` as from
    :func:`threadx.strategy.pack.required_indicators`) on one dataset, keyed ``(name, args)``.

    ``load()`` returns the dataset; it is called at most once, and not at all when the
    fingerprint is known for ``token`` and every request is a hit. Misses are computed with
    :func:`~threadx.strategy.pack.compute_indicator` and stored.
    """
    load = functools.cache(load)
    fp = memo.known(token) if token is not None else None
    if fp is None:
        fp = memo.fingerprint(load(), token)
    out: dict[tuple[str, tuple], np.ndarray] = {}
    for name, args in requests:
        req = (str(name), tuple(args))
        if req not in out:
            key = indicator_cache_key(fp, *req)
            out[req] = cache.get_or_compute(key, functools.partial(_compute, load, *req))
    return out
