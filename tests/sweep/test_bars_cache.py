"""The on-disk bars cache of threadx.sweep.dataset: a hit is the very dataset the store gives,
and any change of the month files (or a torn cache file) is a miss."""

from __future__ import annotations

import dataclasses

import numpy as np

from threadx.data.store import OHLCVStore
from threadx.data.synth import gbm_ohlcv
from threadx.sweep import dataset as D


def _same(a: D.Dataset, b: D.Dataset) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), f.name
        else:
            assert x == y, f.name
    assert a.fingerprint() == b.fingerprint()


def _cache_files(store: OHLCVStore) -> list:
    return sorted(store.data_root.joinpath(*D.BARS_CACHE_DIR).rglob("*.npz"))


def test_hit_equals_the_store_and_a_rewrite_is_a_miss(tmp_path):
    store = OHLCVStore(tmp_path)
    bars = gbm_ohlcv(3 * 1440, seed=5)
    store.write(bars, exchange="synth", symbol="GBM")
    fresh = D.load_dataset(store, "GBM", "15m", cache=False)
    first = D.load_dataset(store, "GBM", "15m")  # miss: loaded and cached
    assert len(_cache_files(store)) == 1
    hit = D.load_dataset(store, "GBM", "15m")
    _same(fresh, first)
    _same(fresh, hit)
    assert "_fingerprint" in hit.__dict__  # stored with the bars, not hashed again

    changed = bars.copy()
    changed.iloc[-1, changed.columns.get_loc("volume")] += 1.0  # one volume of the last month
    store.write(changed, exchange="synth", symbol="GBM", on_conflict="replace")
    after = D.load_dataset(store, "GBM", "15m")
    _same(D.load_dataset(store, "GBM", "15m", cache=False), after)
    assert after.fingerprint() != fresh.fingerprint()


def test_window_timeframe_and_gap_policy_are_part_of_the_key(tmp_path):
    store = OHLCVStore(tmp_path)
    store.write(gbm_ohlcv(2 * 1440, seed=6), exchange="synth", symbol="GBM")
    a = D.load_dataset(store, "GBM", "1h")
    b = D.load_dataset(store, "GBM", "1h", start="2023-01-02")
    c = D.load_dataset(store, "GBM", "5m")
    assert a.n_bars == 48 and b.n_bars == 24 and c.n_bars == 576
    _same(b, D.load_dataset(store, "GBM", "1h", start="2023-01-02", cache=False))
    assert len(_cache_files(store)) == 3


def test_torn_or_foreign_cache_file_is_a_miss(tmp_path):
    store = OHLCVStore(tmp_path)
    store.write(gbm_ohlcv(1440, seed=7), exchange="synth", symbol="GBM")
    want = D.load_dataset(store, "GBM", "1h")
    (path,) = _cache_files(store)
    path.write_bytes(b"")  # torn by a power loss (the cache is written without fsync)
    _same(want, D.load_dataset(store, "GBM", "1h"))
    path.write_bytes(b"PK\x03\x04 not a zip")
    _same(want, D.load_dataset(store, "GBM", "1h"))
    assert path.stat().st_size > 1000  # rewritten


def test_at_most_keep_files_per_symbol(tmp_path, monkeypatch):
    monkeypatch.setattr(D, "BARS_CACHE_KEEP", 2)
    store = OHLCVStore(tmp_path)
    store.write(gbm_ohlcv(1440, seed=8), exchange="synth", symbol="GBM")
    for tf in ("5m", "15m", "30m", "1h"):
        D.load_dataset(store, "GBM", tf)
    assert len(_cache_files(store)) == 2
