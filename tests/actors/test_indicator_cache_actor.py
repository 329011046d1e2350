"""IndicatorCache actor on a real local Ray cluster: hits on repeated requests, misses on changed
data, statistics, a sweep-like access pattern, and parity of the arrays it serves."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import ray

from actors.indicator_cache import IndicatorCache
from threadx.strategy.pack import compute_indicator, pack, required_indicators
from threadx.sweep.cache import INDICATOR_CODE_VERSION
from threadx.sweep.dataset import Dataset

pytestmark = [pytest.mark.ray, pytest.mark.timeout(120)]

REQS = [("bb", (20,)), ("bb", (30,)), ("atr", (14, "ema")), ("atr", (14, "wilder")), ("ema", (50,))]


@pytest.fixture(scope="module")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture
def cache(ray_local):
    actor = IndicatorCache.remote(max_bytes=256 * 2**20, ttl_s=3600)
    yield actor
    ray.kill(actor)


def make_dataset(n: int = 5000, seed: int = 3) -> Dataset:
    rng = np.random.default_rng(seed)
    close = 30_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n)))
    open_ = np.r_[close[0], close[:-1]]
    wick = np.abs(rng.normal(0.0, 0.002, n)) * close
    times = np.arange(n, dtype=np.int64) * 60_000_000_000
    return Dataset(
        "BTCUSDT",
        "binance",
        "1m",
        1,
        times,
        open_,
        np.maximum(open_, close) + wick,
        np.minimum(open_, close) - wick,
        close,
        rng.uniform(1, 5, n),
        0,
        0.0,
        "none",
    )


def bars(ds: Dataset) -> tuple[np.ndarray, ...]:
    return ds.open, ds.high, ds.low, ds.close


def delta(after: dict, before: dict) -> dict:
    return {k: after[k] - before[k] for k in ("hits", "misses")}


def test_second_call_for_the_same_data_is_all_hits(cache) -> None:
    ds = make_dataset()
    ref = ray.put(ds)
    first = ray.get(cache.get_many.remote([ref], REQS))
    s1 = ray.get(cache.stats.remote())
    assert (s1["hits"], s1["misses"], s1["entries"]) == (0, len(REQS), len(REQS))
    second = ray.get(cache.get_many.remote([ref], REQS, code_version=INDICATOR_CODE_VERSION))
    s2 = ray.get(cache.stats.remote())
    assert delta(s2, s1) == {"hits": len(REQS), "misses": 0}
    assert s2["fingerprints_computed"] == 1, "the ref's fingerprint is remembered"
    assert s2["code_version"] == INDICATOR_CODE_VERSION
    assert set(first) == set(second) == set(REQS)
    for name, args in REQS:
        want = compute_indicator(name, args, *bars(ds))
        for got in (first, second):
            assert got[(name, args)].tobytes() == want.tobytes()
            assert got[(name, args)].shape == want.shape


def test_changed_data_misses_and_stats_reflect_it(cache) -> None:
    ds = make_dataset()
    ray.get(cache.get_many.remote([ray.put(ds)], REQS))
    s1 = ray.get(cache.stats.remote())
    # the same bars under a new ref: fingerprint equal, so every request hits
    ray.get(cache.get_many.remote([ray.put(ds)], REQS))
    s2 = ray.get(cache.stats.remote())
    assert delta(s2, s1) == {"hits": len(REQS), "misses": 0}
    changed = dataclasses.replace(ds, close=ds.close * (1 + 1e-12))
    assert changed.fingerprint() != ds.fingerprint()
    got = ray.get(cache.get_many.remote([ray.put(changed)], REQS[:3]))
    s3 = ray.get(cache.stats.remote())
    assert delta(s3, s2) == {"hits": 0, "misses": 3}
    assert s3["entries"] == len(REQS) + 3 and s3["fingerprints_computed"] == 3
    assert got[("bb", (20,))].tobytes() == compute_indicator("bb", (20,), *bars(changed)).tobytes()
    # a dataset passed by value works too (hashed on each call: no ref to remember it by)
    ray.get(cache.get_many.remote([changed], REQS[:3]))
    s4 = ray.get(cache.stats.remote())
    assert delta(s4, s3) == {"hits": 3, "misses": 0}
    assert ray.get(cache.clear.remote()) == len(REQS) + 3
    assert ray.get(cache.stats.remote())["entries"] == 0


def test_refuses_a_caller_with_other_indicator_code(cache) -> None:
    ref = ray.put(make_dataset(300))
    with pytest.raises(ray.exceptions.RayTaskError, match="restart the cache actor"):
        ray.get(cache.get_many.remote([ref], REQS, code_version="000000000000"))
    with pytest.raises(ray.exceptions.RayTaskError, match="one dataset"):
        ray.get(cache.get_many.remote([ref, ref], REQS))


def test_sweep_like_pattern_reaches_a_high_hit_rate(cache) -> None:
    ds = make_dataset(3000)
    ref = ray.put(ds)
    grid = pd.DataFrame(
        [
            {"bb_period": bp, "bb_std": s, "atr_period": ap, "atr_method": m}
            for bp in range(10, 40, 3)
            for s in (1.5, 2.0, 2.5)
            for ap in (7, 14)
            for m in ("ema", "wilder")
        ]
    )
    chunks = [grid.iloc[i : i + 12] for i in range(0, len(grid), 12)]
    plain = {i: pack(c, *bars(ds)) for i, c in enumerate(chunks[:3])}
    for _ in range(5):  # five passes over the chunks, as workers of repeated sweeps would ask
        for i, chunk in enumerate(chunks):
            arrays = ray.get(cache.get_many.remote([ref], required_indicators(chunk)))
            got = pack(chunk, *bars(ds), indicator_fn=lambda n, a, arrays=arrays: arrays[(n, a)])
            if i in plain:
                for name in ("middle", "sd", "atr", "trend", "params"):
                    assert getattr(got, name).tobytes() == getattr(plain[i], name).tobytes()
    st = ray.get(cache.stats.remote())
    distinct = len(required_indicators(grid))
    assert st["misses"] == distinct and st["entries"] == distinct
    assert st["hit_rate"] > 0.9, st


def test_a_worker_using_the_cache_returns_the_same_results(cache) -> None:
    from actors.worker import BacktestWorker
    from threadx.sweep import spec_from_dict
    from threadx.sweep.execute import execute_task
    from threadx.sweep.plan import Task

    spec = spec_from_dict(
        {
            "name": "c",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["1m"]},
            "grid": {"bb_period": [10, 20], "bb_std": [1.5, 2.0], "atr_method": ["ema", "wilder"]},
        }
    )
    ds = make_dataset(2000)
    ref = ray.put(ds)
    task = Task(0, 0, 0, spec.combos_per_dataset(), 0)
    want = execute_task(ds, spec, task, "cpu", device="cpu").to_pandas()
    # two workers, two tasks each: each worker prepares the dataset once (one request for all
    # the grid's indicators), the second worker's request is all hits
    workers = [BacktestWorker.remote("cpu", "cpu", 1, cache) for _ in range(2)]
    try:
        for worker in workers:
            for _ in range(2):
                got = ray.get(
                    worker.run_task.remote([ref], spec.model_dump_json(), dataclasses.astuple(task))
                )
                pd.testing.assert_frame_equal(got.to_pandas(), want)
            assert ray.get(worker.info.remote())["tasks_done"] == 2
    finally:
        for worker in workers:
            ray.kill(worker)
    st = ray.get(cache.stats.remote())
    n = len(required_indicators(spec.param_frame()))
    assert (st["misses"], st["hits"], st["fingerprints_computed"]) == (n, n, 1)
