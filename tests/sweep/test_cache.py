"""Indicator cache library (no Ray): LRU + byte budget + TTL, statistics, thread safety, keys,
fingerprint memo; indicator requests of a sweep and ``pack(..., indicator_fn=...)`` parity."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import threadx
from threadx.strategy.pack import compute_indicator, pack, required_indicators
from threadx.sweep import cache as C
from threadx.sweep.cache import (
    INDICATOR_CODE_VERSION,
    FingerprintMemo,
    LRUTTLCache,
    cached_indicators,
    indicator_cache_key,
)
from threadx.sweep.dataset import Dataset

ITEM = 80  # bytes of one np.zeros(10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def arr(v: float, n: int = 10) -> np.ndarray:
    return np.full(n, float(v))


def bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality (NaN payloads and signed zeros included)."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def random_bars(n: int = 3000, seed: int = 7) -> Dataset:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    open_ = np.r_[close[0], close[:-1]]
    spread = np.abs(rng.normal(0.0, 0.003, n)) * close
    high, low = np.maximum(open_, close) + spread, np.minimum(open_, close) - spread
    times = np.arange(n, dtype=np.int64) * 3_600_000_000_000
    return Dataset(
        "BTCUSDT",
        "binance",
        "1h",
        60,
        times,
        open_,
        high,
        low,
        close,
        rng.uniform(1, 10, n),
        0,
        0.0,
        "none",
    )


def sweep_grid() -> pd.DataFrame:
    names = ("bb_period", "bb_std", "atr_period", "atr_method", "trend_period")
    values = ((20, 10, 35), (1.5, 2.5), (14, 7), ("ema", "sma", "wilder"), (0, 50, 9))
    rows = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]
    return pd.DataFrame(rows)


# --- LRUTTLCache --------------------------------------------------------------------------------


def test_lru_evicts_least_recently_used_first() -> None:
    c = LRUTTLCache(3 * ITEM)
    for k in "abc":
        c.put(k, arr(ord(k)))
    assert c.get("a")[0] == ord("a")  # a is now the most recently used
    c.put("d", arr(4))
    assert "b" not in c and all(k in c for k in "acd")
    c.get("c")
    c.put("e", arr(5))  # LRU order now: a, d, c -> a goes
    assert "a" not in c and all(k in c for k in "cde")
    st = c.stats()
    assert st["evictions"] == 2 and st["entries"] == 3 and st["bytes"] == 3 * ITEM


def test_byte_budget_with_mixed_sizes() -> None:
    c = LRUTTLCache(1000)
    c.put("small1", arr(1, 10))  # 80
    c.put("small2", arr(2, 10))  # 80
    c.put("big", arr(3, 100))  # 800 -> 960 in all
    assert c.stats()["bytes"] == 960
    c.put("mid", arr(4, 30))  # 240: both smalls and then big must go
    st = c.stats()
    assert st["bytes"] <= 1000 and "mid" in c and "big" not in c
    assert st["bytes"] == sum(v.nbytes for v in (arr(4, 30),))
    assert st["evictions"] == 3


def test_put_replaces_and_readers_get_read_only_views() -> None:
    c = LRUTTLCache(10 * ITEM)
    mine = arr(1)
    view = c.put("k", mine)
    assert mine.flags.writeable, "the caller's own array keeps its flags"
    assert not view.flags.writeable and not c.get("k").flags.writeable
    with pytest.raises(ValueError):
        c.get("k")[0] = 5.0
    c.put("k", arr(2, 20))
    assert c.get("k")[0] == 2.0 and c.stats()["bytes"] == 2 * ITEM and len(c) == 1
    with pytest.raises(TypeError, match="numpy arrays"):
        c.put("x", [1.0, 2.0])


def test_ttl_expiry_with_a_fake_clock() -> None:
    clock = FakeClock()
    c = LRUTTLCache(10 * ITEM, ttl_s=60, clock=clock)
    c.put("a", arr(1))
    clock.now = 59.9
    assert c.get("a") is not None  # a read does not extend the lifetime
    clock.now = 60.0
    assert c.get("a") is None and "a" not in c
    st = c.stats()
    assert (st["hits"], st["misses"], st["expirations"], st["entries"], st["bytes"]) == (
        1,
        1,
        1,
        0,
        0,
    )
    c.put("b", arr(2))
    clock.now = 100.0
    c.put("b", arr(3))  # a new put restarts the clock
    clock.now = 150.0
    assert c.get("b")[0] == 3.0


def test_default_ttl_is_one_hour() -> None:
    clock = FakeClock()
    c = LRUTTLCache(10 * ITEM, clock=clock)
    assert c.ttl_s == 3600.0
    c.put("a", arr(1))
    clock.now = 3599.0
    assert "a" in c
    clock.now = 3600.0
    assert "a" not in c


def test_expired_entries_go_before_live_ones_are_evicted() -> None:
    clock = FakeClock()
    c = LRUTTLCache(3 * ITEM, ttl_s=10, clock=clock)
    c.put("old", arr(1))
    clock.now = 5.0
    c.put("x", arr(2))
    c.put("y", arr(3))
    c.get("old")  # most recently used, but stored first
    clock.now = 12.0  # old expired, x and y alive
    c.put("z", arr(4))
    assert all(k in c for k in "xyz") and "old" not in c
    st = c.stats()
    assert st["expirations"] == 1 and st["evictions"] == 0


def test_stats_and_hit_rate() -> None:
    c = LRUTTLCache(10 * ITEM)
    assert c.stats()["hit_rate"] == 0.0
    calls = []
    for _ in range(4):
        c.get_or_compute("k", lambda: calls.append(1) or arr(1))
    c.get("missing")
    st = c.stats()
    assert len(calls) == 1
    assert (st["hits"], st["misses"]) == (3, 2)
    assert st["hit_rate"] == pytest.approx(3 / 5)
    assert set(st) >= {"hits", "misses", "evictions", "expirations", "entries", "bytes", "hit_rate"}
    c.reset_stats()
    assert c.stats()["hits"] == 0 and c.stats()["entries"] == 1
    assert c.clear() == 1 and c.stats()["bytes"] == 0


def test_oversize_item_is_returned_but_not_stored() -> None:
    c = LRUTTLCache(5 * ITEM)
    c.put("keep", arr(1))
    calls = []
    big = c.get_or_compute("big", lambda: calls.append(1) or arr(9, 100))
    assert big.shape == (100,) and big[0] == 9.0
    again = c.get_or_compute("big", lambda: calls.append(1) or arr(9, 100))
    assert bits_equal(big, again) and len(calls) == 2
    st = c.stats()
    assert "big" not in c and "keep" in c and st["rejected"] == 2 and st["evictions"] == 0
    assert st["bytes"] == ITEM


def test_compute_errors_store_nothing() -> None:
    c = LRUTTLCache(10 * ITEM)

    def boom() -> np.ndarray:
        raise ArithmeticError("no")

    with pytest.raises(ArithmeticError):
        c.get_or_compute("k", boom)
    assert "k" not in c and c.get_or_compute("k", lambda: arr(1))[0] == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_bytes": -1},
        {"max_bytes": 1.5},
        {"max_bytes": True},
        {"max_bytes": 10, "ttl_s": 0},
        {"max_bytes": 10, "ttl_s": math.nan},
    ],
)
def test_bad_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        LRUTTLCache(**kwargs)


def test_thread_safety_smoke() -> None:
    c = LRUTTLCache(40 * ITEM)
    n_threads, n_calls, n_keys = 8, 400, 60
    computed: dict[int, int] = {}
    guard = threading.Lock()
    errors: list[BaseException] = []

    def compute(k: int) -> np.ndarray:
        with guard:
            computed[k] = computed.get(k, 0) + 1
        return arr(k)

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for k in rng.integers(0, n_keys, n_calls):
                got = c.get_or_compute(int(k), lambda k=int(k): compute(k))
                assert got[0] == k
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    st = c.stats()
    assert st["hits"] + st["misses"] == n_threads * n_calls
    assert st["misses"] == sum(computed.values())
    assert st["bytes"] == st["entries"] * ITEM <= 40 * ITEM


def test_concurrent_requests_for_one_key_compute_once() -> None:
    c = LRUTTLCache(10 * ITEM)
    start, release = threading.Barrier(6), threading.Event()
    calls: list[int] = []
    results: list[np.ndarray] = []

    def slow() -> np.ndarray:
        calls.append(1)
        release.wait(5)
        return arr(7)

    def work() -> None:
        start.wait()
        results.append(c.get_or_compute("k", slow))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    while not calls:
        threading.Event().wait(0.001)
    threading.Event().wait(0.05)  # let the others reach the in-flight wait
    release.set()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(results) == 6 and all(r[0] == 7.0 for r in results)
    assert c.stats()["misses"] == 1 and c.stats()["hits"] == 5


# --- keys and code version ----------------------------------------------------------------------


def test_key_includes_fingerprint_request_and_code_version() -> None:
    key = indicator_cache_key("abc", "atr", [14, "ema"])
    assert key == ("abc", "atr", (14, "ema"), INDICATOR_CODE_VERSION)
    assert indicator_cache_key("abd", "atr", (14, "ema")) != key
    assert indicator_cache_key("abc", "atr", (14, "sma")) != key
    assert indicator_cache_key("abc", "bb", (14,)) != indicator_cache_key("abc", "ema", (14,))
    hash(key)


def test_code_version_hashes_indicator_source_and_package_version(monkeypatch) -> None:
    src = (Path(threadx.__file__).parent / "strategy" / "indicators.py").read_bytes()
    want = hashlib.sha256(src + b"\0threadx " + threadx.__version__.encode()).hexdigest()[:12]
    assert INDICATOR_CODE_VERSION == want == C._indicator_code_version()
    monkeypatch.setattr(threadx, "__version__", threadx.__version__ + ".post1")
    assert C._indicator_code_version() != INDICATOR_CODE_VERSION


# --- fingerprints and cached indicators ---------------------------------------------------------


def test_fingerprint_memo_hashes_each_dataset_once() -> None:
    ds = random_bars(500)
    memo = FingerprintMemo()
    fp = memo.fingerprint(ds)
    assert fp == ds.fingerprint() and memo.fingerprint(ds) == fp and memo.computed == 1
    # same times_ns object, other close: a different dataset, a different fingerprint
    other = dataclasses.replace(ds, close=ds.close * 1.01)
    assert other.times_ns is ds.times_ns
    assert memo.fingerprint(other) == other.fingerprint() != fp and memo.computed == 2
    assert memo.fingerprint(ds, token="ref-1") == fp and memo.known("ref-1") == fp
    assert memo.known("ref-2") is None
    memo.clear()
    assert memo.known("ref-1") is None


def test_fingerprint_memo_never_trusts_a_recycled_identity() -> None:
    memo = FingerprintMemo()
    for seed in range(20):  # freed arrays' ids are often reused by the next ones
        ds = random_bars(200, seed=seed)
        assert memo.fingerprint(ds) == ds.fingerprint()
        del ds


def test_cached_indicators_second_call_is_all_hits_and_does_not_load() -> None:
    ds = random_bars(800)
    cache, memo = LRUTTLCache(64 * 2**20), FingerprintMemo()
    loads: list[int] = []

    def load() -> Dataset:
        loads.append(1)
        return ds

    reqs = [("bb", (20,)), ("atr", (14, "wilder")), ("ema", (50,)), ("bb", (20,))]
    first = cached_indicators(cache, memo, load, reqs, token="t")
    assert set(first) == {("bb", (20,)), ("atr", (14, "wilder")), ("ema", (50,))}
    assert len(loads) == 1 and cache.stats()["misses"] == 3
    second = cached_indicators(cache, memo, load, [list(r) for r in reqs[:3]], token="t")
    assert len(loads) == 1, "fingerprint known and all hits: the dataset is not loaded"
    assert cache.stats()["hits"] == 3
    for k, v in first.items():
        assert second[k] is not None and bits_equal(second[k], v)
        assert bits_equal(v, compute_indicator(*k, ds.open, ds.high, ds.low, ds.close))
    other = dataclasses.replace(ds, close=ds.close[::-1].copy())
    cached_indicators(cache, memo, lambda: other, reqs[:1])
    assert cache.stats()["misses"] == 4


# --- indicator requests and pack(indicator_fn=...) ----------------------------------------------


def test_required_indicators_are_distinct_ordered_and_match_pack_banks() -> None:
    ds, grid = random_bars(600), sweep_grid()
    reqs = required_indicators(grid)
    assert len(reqs) == len(set(reqs))
    assert reqs == (
        [("bb", (p,)) for p in (20, 10, 35)]
        + [("atr", (p, m)) for p in (14, 7) for m in ("ema", "sma", "wilder")]
        + [("ema", (50,)), ("ema", (9,))]
    )
    assert all(type(a) in (int, str) for _, args in reqs for a in args)
    assert required_indicators(grid.to_dict("records")) == reqs
    assert required_indicators(grid.sample(frac=1.0, random_state=1)) != [] and sorted(
        required_indicators(grid.sample(frac=1.0, random_state=1))
    ) == sorted(reqs)
    packed = pack(grid, ds.open, ds.high, ds.low, ds.close)
    assert [("bb", (p,)) for p in packed.bb_periods] == [r for r in reqs if r[0] == "bb"]
    assert [("atr", k) for k in packed.atr_keys] == [r for r in reqs if r[0] == "atr"]
    assert [("ema", (p,)) for p in packed.trend_periods] == [r for r in reqs if r[0] == "ema"]
    # defaults: bb 20, atr (14, ema), trend off
    assert required_indicators([{}]) == [("bb", (20,)), ("atr", (14, "ema"))]


def test_compute_indicator_shapes_and_errors() -> None:
    ds = random_bars(300)
    bars = (ds.open, ds.high, ds.low, ds.close)
    bb = compute_indicator("bb", (20,), *bars)
    assert bb.shape == (2, 300) and bb.dtype == np.float64 and bb.flags.c_contiguous
    assert np.isnan(bb[:, :19]).all() and not np.isnan(bb[:, 19:]).any()
    assert compute_indicator("atr", (14, "sma"), *bars).shape == (300,)
    assert compute_indicator("ema", (9,), *bars).shape == (300,)
    with pytest.raises(ValueError, match="unknown indicator"):
        compute_indicator("rsi", (14,), *bars)
    with pytest.raises(ValueError, match="argument"):
        compute_indicator("atr", (14,), *bars)


def test_pack_with_indicator_fn_is_bit_identical() -> None:
    ds, grid = random_bars(), sweep_grid()
    bars = (ds.open, ds.high, ds.low, ds.close)
    plain = pack(grid, *bars)
    cache, memo = LRUTTLCache(256 * 2**20), FingerprintMemo()
    asked: list[tuple] = []

    def from_cache(name: str, args: tuple) -> np.ndarray:
        asked.append((name, args))
        return cached_indicators(cache, memo, lambda: ds, [(name, args)])[(name, args)]

    for _ in range(2):  # cold, then warm (every row from the cache)
        got = pack(grid, *bars, indicator_fn=from_cache)
        for field in dataclasses.fields(plain):
            a, b = getattr(plain, field.name), getattr(got, field.name)
            if isinstance(a, np.ndarray):
                assert bits_equal(a, b), field.name
            else:
                assert a == b, field.name
    assert asked == required_indicators(grid) * 2, "one request per bank row, in order"
    assert cache.stats()["hits"] == len(required_indicators(grid))
    assert memo.computed == 1


def test_pack_checks_what_indicator_fn_returns() -> None:
    ds = random_bars(300)
    bars = (ds.open, ds.high, ds.low, ds.close)
    with pytest.raises(ValueError, match="shape"):
        pack([{}], *bars, indicator_fn=lambda name, args: np.zeros(300))  # bb must be 2 x n

    def as_float32(name: str, args: tuple) -> np.ndarray:
        return compute_indicator(name, args, *bars).astype(np.float32)

    with pytest.raises(ValueError, match="float64"):
        pack([{}], *bars, indicator_fn=as_float32)
    assert pack([{}], *bars).n_combos == 1, "an empty mapping is one all-defaults combination"
