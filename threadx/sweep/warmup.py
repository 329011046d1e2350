"""Warm-up of the sweep kernels: load them from numba's on-disk cache, or compile them once.

The CPU kernels (:mod:`threadx.kernels.cpu`) and the indicator loops
(:mod:`threadx.strategy.indicators`) are ``numba.njit(cache=True)`` functions. The first sweep on a
machine (an empty or out-of-date cache) compiles them, which takes seconds; every later process
loads the machine code from the cache (for this editable install: ``threadx/kernels/__pycache__``
and ``threadx/__pycache__``, shared by every process using the checkout, Ray workers included) in
well under a second.

Numba caches one entry per argument *types*, and read-only arrays are a type of their own. Ray
workers get their bars from the object store read-only, so :func:`threadx.strategy.pack.pack`
hands the kernels writable copies whatever it gets: in-process sweeps and every Ray worker of the
machine use ONE cache entry per kernel, compiled once.

:func:`warm_up` runs :func:`threadx.strategy.pack.pack` + :func:`threadx.kernels.run_sweep` on one
combination of ~200 synthetic bars, so a sweep started afterwards measures only its
own work, and tells what happened: :attr:`WarmupReport.compiled` lists the cached functions that
had to be compiled (empty when everything came from the cache), observed through numba's
``numba:compile`` events. :func:`kernel_cache_state` predicts it beforehand from the cache index
without compiling anything.

Numba's cache settings stay those of the kernel modules; nothing here changes them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from threadx.core.units import NS_PER_MINUTE, NS_PER_SECOND

__all__ = ["COLD_SECONDS", "WarmupReport", "kernel_cache_state", "warm_up"]

#: Above this many seconds a warm-up counts as a compilation when numba's compile events cannot
#: be observed (a cache load of every kernel takes well under one second).
COLD_SECONDS = 5.0
WARMUP_BARS = 200
# modules whose module-level cached dispatchers kernel_cache_state inspects
_KERNEL_MODULES = ("threadx.kernels.cpu",)

OnCompile = Callable[[str, bool], None]


@dataclass(frozen=True)
class WarmupReport:
    """What :func:`warm_up` did.

    ``compiled``: the cached (``cache=True``) functions numba had to compile, qualified names;
    empty when all of them were loaded from the cache. ``uncached``: ThreadX functions without a
    cache of their own that were compiled (numba-cuda kernels, compiled by every process).
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

    @property
    def cold(self) -> bool:
        """True when kernels were compiled into the cache (not loaded from it)."""
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


def _has_entry(dispatcher: Any, index: dict) -> bool:
    """The fresh ``index`` holds an entry compiled on this machine (CPU and numba as here)."""
    here = dispatcher._cache._index_key((), dispatcher.targetctx.codegen())[1:]
    return any(tuple(key[1:]) == here for key in index)


def kernel_cache_state() -> str:
    """Predict, without compiling anything, whether the CPU sweep kernels are in numba's cache:
    ``"warm"`` (an entry for this machine and these kernels' code), ``"cold"`` (no cache index
    yet: the first run on this machine), ``"stale"`` (an index for another source or numba
    version: the kernels changed since they were cached), ``"partial"`` (an up-to-date index
    without an entry of this machine, e.g. a cache shared with another kind of CPU) or
    ``"unknown"`` (numba's cache internals could not be read). Imports numba and the kernels.
    Only the CPU kernels are inspected (GPU kernels are not cached)."""
    try:
        dispatchers = _cached_dispatchers()
        if not dispatchers:
            return "unknown"
        states = set()
        for d in dispatchers:
            cache_file = d._cache._cache_file  # numba internals: guarded by the except below
            if not Path(cache_file._index_path).is_file():
                states.add("cold")
                continue
            index = cache_file._load_index()
            if not index:
                states.add("stale")
            elif _has_entry(d, index):
                states.add("warm")
            else:
                states.add("partial")
    except Exception:  # a numba without these internals: say so rather than guess
        return "unknown"
    for state in ("cold", "stale", "partial"):
        if state in states:
            return state
    return "warm"


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


class _CompileListener:
    """Records the ThreadX functions numba compiles; calls ``on_compile(name, cached)`` at the
    start of the first one."""

    def __init__(self, on_compile: OnCompile | None) -> None:
        self.on_compile = on_compile
        self.compiled: dict[str, None] = {}
        self.uncached: dict[str, None] = {}
        self.dirs: dict[str, None] = {}
        self.announced = False

    def listener(self) -> Any:
        from numba.core.event import Listener

        outer = self

        class _L(Listener):
            def on_start(self, event: Any) -> None:
                outer.started(event)

            def on_end(self, event: Any) -> None:
                pass

        return _L()

    def started(self, event: Any) -> None:
        disp = (event.data or {}).get("dispatcher")
        if disp is None:
            return
        name = _name(disp)
        if not name.startswith("threadx."):
            return  # numba's own helpers, compiled along with a kernel
        cached = _is_cached(disp)
        if cached:
            self.compiled[name] = None
            with contextlib.suppress(Exception):
                self.dirs[str(disp._cache.cache_path)] = None
        else:
            self.uncached[name] = None
        if not self.announced and self.on_compile is not None:
            self.announced = True
            self.on_compile(name, cached)


def warm_up(
    backend: str = "cpu",
    n_bars: int = WARMUP_BARS,
    predicted: str | None = None,
    *,
    on_compile: OnCompile | None = None,
) -> WarmupReport:
    """Load (or compile, on a cold cache) the sweep kernels of ``backend`` by running
    :func:`threadx.strategy.pack.pack` + :func:`threadx.kernels.run_sweep` on one default
    combination of ``n_bars`` synthetic bars; returns what happened and how long it took.
    ``predicted``: the caller's :func:`kernel_cache_state` (computed here when None).
    ``on_compile(name, cached)`` is called when numba starts compiling the first ThreadX function
    (e.g. to say "compiling kernels ..." before the wait)."""
    from threadx.kernels import resolve_backend, run_sweep
    from threadx.strategy.pack import pack
    from threadx.strategy.params import StrategyParams

    resolved = resolve_backend(backend)
    if predicted is None:
        predicted = kernel_cache_state()
    params = [StrategyParams().model_dump()]
    bars = _synthetic_bars(n_bars)
    minute = NS_PER_MINUTE
    t0_ns = 1_672_531_200 * NS_PER_SECOND  # 2023-01-01 UTC
    rec = _CompileListener(on_compile)
    with contextlib.suppress(Exception):
        rec.dirs.update((str(d._cache.cache_path), None) for d in _cached_dispatchers())
    events = True
    try:
        from numba.core import event as numba_event

        listening = numba_event.install_listener("numba:compile", rec.listener())
    except Exception:  # pragma: no cover - a numba without the event API
        listening, events = contextlib.nullcontext(), False
    t0 = time.perf_counter()
    with listening:
        run_sweep(pack(params, *bars), t0_ns, t0_ns + (n_bars - 1) * minute, 1.0, backend=resolved)
    seconds = time.perf_counter() - t0
    return WarmupReport(
        backend=resolved,
        seconds=seconds,
        compiled=tuple(rec.compiled),
        uncached=tuple(rec.uncached),
        predicted=predicted,
        cache_dirs=tuple(rec.dirs),
        events=events,
        n_bars=n_bars,
    )
