"""IndicatorCache actor: LRU + TTL of indicator arrays keyed by (data fingerprint, indicator, args).

Thin shell over :mod:`threadx.sweep.cache`. Callers pass the dataset boxed, ``[dataset_ref]``, so
Ray hands the ref through unresolved: the actor fetches the bars (zero-copy on its node) only on a
miss, and remembers each ref's fingerprint, so a dataset is hashed once, not on every call.
Threaded (``max_concurrency``): hits are not held up by another caller's computation, and
concurrent requests for one array compute it once.
"""

from __future__ import annotations

import functools
from typing import Any

import ray

from threadx.sweep.cache import DEFAULT_TTL_S

NAME = "indicator_cache"
DEFAULT_MAX_BYTES = 2 * 1024**3


@ray.remote(num_cpus=0, max_concurrency=4)
class IndicatorCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, ttl_s: float = DEFAULT_TTL_S) -> None:
        from threadx.sweep.cache import FingerprintMemo, LRUTTLCache

        self.cache = LRUTTLCache(int(max_bytes), ttl_s)
        self.memo = FingerprintMemo()

    def get_many(
        self, datasets: list, requests: list, code_version: str | None = None
    ) -> dict[tuple[str, tuple], Any]:
        """Arrays of ``requests`` (``[(name, args), ...]``) on the one dataset in ``datasets``
        (``[dataset_ref]`` or ``[dataset]``), keyed ``(name, args)``. A caller may pass its
        ``INDICATOR_CODE_VERSION``: a cache running other indicator code then refuses."""
        from threadx.sweep.cache import INDICATOR_CODE_VERSION, cached_indicators

        if code_version is not None and code_version != INDICATOR_CODE_VERSION:
            raise RuntimeError(
                f"IndicatorCache runs indicator code {INDICATOR_CODE_VERSION}, "
                f"the caller {code_version}; restart the cache actor"
            )
        if len(datasets) != 1:
            raise ValueError(f"get_many takes one dataset, boxed as [ref]; got {len(datasets)}")
        item = datasets[0]
        if isinstance(item, ray.ObjectRef):
            load, token = functools.partial(ray.get, item), ("ref", item.hex())
        else:
            load, token = (lambda: item), None
        return cached_indicators(self.cache, self.memo, load, requests, token=token)

    def stats(self) -> dict[str, Any]:
        """The cache's counters plus ``fingerprints_computed`` and ``code_version``."""
        from threadx.sweep.cache import INDICATOR_CODE_VERSION

        return {
            **self.cache.stats(),
            "fingerprints_computed": self.memo.computed,
            "code_version": INDICATOR_CODE_VERSION,
        }

    def clear(self) -> int:
        """Drop every cached array and remembered fingerprint; returns the arrays dropped."""
        self.memo.clear()
        return self.cache.clear()
