"""Warm-up of the sweep kernels: load them from numba's on-disk cache, or compile them once.

The CPU kernels (:mod:`threadx.kernels.cpu`) and the indicator loops (:mod:`threadx.indicators`)
are ``numba.njit(cache=True)`` functions. The first sweep on a machine (an empty or out-of-date
cache) compiles them, which takes seconds; every later process loads the machine code from the
cache (for this editable install: ``threadx/kernels/__pycache__`` and ``threadx/__pycache__``,
shared by every process using the checkout, Ray workers included) in well under a second.

:func:`warm_up` runs :func:`threadx.kernels.pack` + :func:`threadx.kernels.run_sweep` on one
combination of ~200 synthetic bars, so a sweep started afterwards measures only its own work, and
tells what happened: :attr:`WarmupReport.compiled` lists the cached functions that had to be
compiled (empty when everything came from the cache). :func:`kernel_cache_state` predicts it
beforehand without running anything, so a caller can say "compiling kernels" before it starts.

Numba's cache settings stay those of the kernel modules; nothing here changes them.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["COLD_SECONDS", "WarmupReport", "kernel_cache_state", "warm_up"]

#: Above this many seconds a warm-up counts as a compilation when numba's compile events cannot
#: be observed (a cache load of every kernel takes well under one second).
COLD_SECONDS = 5.0
WARMUP_BARS = 200
# modules whose module-level cached dispatchers :func:`kernel_cache_state` inspects
_KERNEL_MODULES = ("threadx.kernels.cpu",)


@dataclass(frozen=True)
class WarmupReport:
    """What :func:`warm_up` did.

    ``compiled``: the cached (``cache=True``) functions numba had to compile, qualified names;
    empty when all of them were loaded from the cache. ``uncached``: ThreadX functions without a
    cache of their own that were compiled (helpers inlined into a kernel compiled with it).
    ``predicted``: :func:`kernel_cache_state` before the run. ``events``: whether numba's compile
    events were observed (else ``cold`` falls back to the timing, above :data:`COLD_SECONDS`).
    """

    backend: str
    seconds: float
    compiled: tuple[str, ...] = ()
    uncached: tuple[str, ...] = ()
    predicted: str = "unknown"
    cache_dirs: tuple[str, ...] = ()
    events: bool = True
    n_bars: int = WARMUP_BARS
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cold(self) -> bool:
        """True when the kernels were compiled (not loaded from numba's cache)."""
        if self.events:
            return bool(self.compiled)
        return self.seconds > COLD_SECONDS

    @property
    def state(self) -> str:
        return "compiled" if self.cold else "loaded from cache"

    def message(self) -> str:
        """One line for a terminal, e.g. ``kernels compiled in 14.2 s (cached for next time)``."""
        if self.cold:
            return f"kernels compiled in {self.seconds:.1f} s (cached for next time)"
        return f"kernels loaded from cache in {self.seconds:.2f} s"


def _cached_dispatchers(module_names: tuple[str, ...] = _KERNEL_MODULES) -> list[Any]:
    """Module-level numba dispatchers with an on-disk cache in ``module_names``."""
    from importlib import import_module

    from numba.core.dispatcher import Dispatcher

    out = []
    for name in module_names:
        mod = import_module(name)
        for value in vars(mod).values():
            if isinstance(value, Dispatcher) and _is_cached(value):
                out.append(value)
    return out


def _is_cached(dispatcher: Any) -> bool:
    from numba.core.caching import NullCache

    cache = getattr(dispatcher, "_cache", None)
    return cache is not None and not isinstance(cache, NullCache)


def _name(dispatcher: Any) -> str:
    fn = getattr(dispatcher, "py_func", None)
    if fn is None:
        return repr(dispatcher)
    return f"{fn.__module__}.{fn.__qualname__}"


def kernel_cache_state(backend: str = "cpu") -> str:
    """Predict, without compiling anything, whether the CPU sweep kernels are in numba's cache:
    ``"warm"`` (every cached kernel has an up-to-date index), ``"cold"`` (no index yet: the first
    run on this machine), ``"stale"`` (an index exists but for another source or numba version:
    the kernels changed since they were cached) or ``"unknown"`` (numba's cache internals could
    not be read). Imports numba and the kernels, compiles nothing. Only the CPU kernels are
    inspected, whatever ``backend`` (the GPU kernels' cache is numba-cuda's business)."""
    del backend
    try:
        dispatchers = _cached_dispatchers()
        if not dispatchers:
            return "unknown"
        states = set()
        for d in dispatchers:
            cache_file = d._cache._cache_file  # numba internals: guarded by the except below
            if not Path(cache_file._index_path).is_file():
                states.add("cold")
            elif not cache_file._load_index():
                states.add("stale")
            else:
                states.add("warm")
    except Exception:  # a numba without these internals: say so rather than guess
        return "unknown"
    if states == {"warm"}:
        return "warm"
    return "cold" if "cold" in states else "stale"


def _synthetic_bars(n: int, seed: int = 7) -> tuple[Any, Any, Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.empty(n)
    open_[0] = 100.0
    open_[1:] = close[:-1]
    wiggle = np.abs(rng.normal(0.0, 0.003, n))
    high = np.maximum(open_, close) * (1.0 + wiggle)
    low = np.minimum(open_, close) * (1.0 - wiggle)
    return open_, high, low, close


def warm_up(
    backend: str = "cpu", n_bars: int = WARMUP_BARS, predicted: str | None = None
) -> WarmupReport:
    """Load (or compile, on a cold cache) the sweep kernels of ``backend`` by running
    :func:`threadx.kernels.pack` + :func:`threadx.kernels.run_sweep` on one default combination
    of ``n_bars`` synthetic bars; returns what happened and how long it took. ``predicted``: the
    caller's :func:`kernel_cache_state` (computed here when None)."""
    from threadx.kernels import pack, resolve_backend, run_sweep
    from threadx.strategy.params import StrategyParams

    resolved = resolve_backend(backend)
    if predicted is None:
        predicted = kernel_cache_state(resolved)
    params = [StrategyParams().model_dump()]
    o, h, lo, c = _synthetic_bars(n_bars)
    minute = 60 * 10**9
    t0_ns = 1_672_531_200 * 10**9  # 2023-01-01 UTC
    compiled: dict[str, None] = {}
    uncached: dict[str, None] = {}
    dirs: dict[str, None] = {}
    with contextlib.suppress(Exception):
        dirs.update((str(d._cache.cache_path), None) for d in _cached_dispatchers())
    events = True
    t0 = time.perf_counter()
    try:
        from numba.core import event as numba_event

        recorder_cm = numba_event.install_recorder("numba:compile")
    except Exception:  # pragma: no cover - a numba without the event API
        recorder_cm, events = None, False
    if recorder_cm is None:  # pragma: no cover
        run_sweep(pack(params, o, h, lo, c), t0_ns, t0_ns + (n_bars - 1) * minute, 1.0,
                  backend=resolved)  # fmt: skip
        buffer: list = []
    else:
        with recorder_cm as rec:
            run_sweep(pack(params, o, h, lo, c), t0_ns, t0_ns + (n_bars - 1) * minute, 1.0,
                      backend=resolved)  # fmt: skip
        buffer = rec.buffer
    seconds = time.perf_counter() - t0
    for _, ev in buffer:
        if not ev.is_start:
            continue
        disp = (ev.data or {}).get("dispatcher")
        if disp is None:
            continue
        name = _name(disp)
        if not name.startswith("threadx."):
            continue  # numba's own helpers compiled along with a kernel
        if _is_cached(disp):
            compiled[name] = None
            dirs[str(disp._cache.cache_path)] = None
        else:
            uncached[name] = None
    return WarmupReport(
        backend=resolved, seconds=seconds, compiled=tuple(compiled), uncached=tuple(uncached),
        predicted=predicted, cache_dirs=tuple(dirs), events=events, n_bars=n_bars,
    )  # fmt: skip
