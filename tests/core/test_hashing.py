"""threadx.core.hashing, the one home of SHA-256: the ids made with it are pinned to the values the
code gave before the helpers moved there (issue 13), so stored runs keep their ids."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

import threadx
from threadx.core.hashing import sha256_arrays, sha256_file, sha256_json, source_version
from threadx.sweep import spec_from_dict
from threadx.sweep.dataset import BARS_CODE_VERSION, Dataset, bars_cache_key
from threadx.sweep.plan import plan_sweep

# computed with the code of commit c01eaa2 (before threadx.core.hashing existed)
SPEC_FINGERPRINT = "666e5231b7b77dcb5489544ad53fb92ce1bb97f15337f9f44051639f76fd570c"
DATA_FINGERPRINT = "b9972b25e29fa5236bbcecdea0021997c70809d6085113100b1276697fcb085f"
RUN_ID = "pin-88f760c2d8d1"
SPEC2_FINGERPRINT = "ff87986288948eb781e21d7221e430ef3deabf8924520ae6e5c84ddcfedf43be"
RUN2_ID = "pin2-bfeaf3590a17"
ARRAYS_FINGERPRINT = "b985eebc1769dd53b722c819e7df1006ec8026eec1a49c0014a6913590329fb9"


def pinned_dataset() -> Dataset:
    n = 24 * 10
    t = (1_677_628_800 + 3600 * np.arange(n, dtype=np.int64)) * 10**9
    close = 100 + np.cumsum(np.random.default_rng(7).standard_normal(n))
    return Dataset(
        "BTCUSDT",
        "binance",
        "1h",
        60,
        t,
        close,
        close + 1,
        close - 1,
        close,
        np.full(n, 5.0),
        0,
        0.0,
        "none",
    )


def test_spec_fingerprints_and_run_ids_are_unchanged():
    spec = spec_from_dict(
        {
            "name": "pin",
            "data": {
                "symbols": ["BTCUSDT"],
                "timeframes": ["1h"],
                "start": "2023-03-01",
                "end": "2023-03-22T12:00:00+02:00",
            },
            "grid": {"bb_period": {"start": 10, "stop": 30, "step": 10}, "bb_std": [1.5, 2.5]},
            "fixed": {"fee_bps": 4.5},
            "walk_forward": {"train": "2d", "test": "1d"},
        }
    )
    ds = pinned_dataset()
    assert spec.fingerprint() == SPEC_FINGERPRINT
    assert ds.fingerprint() == DATA_FINGERPRINT
    assert plan_sweep(spec, [ds]).run_id == RUN_ID
    spec2 = spec_from_dict(
        {
            "name": "pin2",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["1h"]},
            "grid": {"bb_period": [10, 20]},
            "chunk_size": 1,
        }
    )
    assert spec2.fingerprint() == SPEC2_FINGERPRINT
    assert plan_sweep(spec2, [ds]).run_id == RUN2_ID


def test_sha256_json_layouts():
    obj = {"b": [1, 2.5], "a": {"p": Path("x")}}
    compact = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    spaced = json.dumps(obj, sort_keys=True, default=str)
    assert sha256_json(obj) == hashlib.sha256(compact.encode()).hexdigest()
    assert sha256_json(obj, compact=False) == hashlib.sha256(spaced.encode()).hexdigest()


def test_sha256_arrays_is_the_data_fingerprint():
    arrays = (
        np.arange(5, dtype=np.int64),
        np.linspace(0, 1, 3),
        np.array([[1, 2], [3, 4]], dtype=np.float32).T,  # not contiguous: hashed in C order
    )
    assert sha256_arrays(*arrays) == ARRAYS_FINGERPRINT


def test_sha256_file(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"threadx" * 300_000)  # more than one 1 MiB block
    assert sha256_file(p) == sha256_file(str(p)) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_source_versions_keep_their_layouts(monkeypatch):
    root = Path(threadx.__file__).parent
    version = threadx.__version__.encode()
    h = hashlib.sha256(version)
    for rel in (
        "data/store.py",
        "data/schema.py",
        "data/gaps.py",
        "data/resample.py",
        "data/timeframes.py",
    ):
        h.update(b"\0" + (root / rel).read_bytes())
    h.update(b"\0" + (root / "sweep/dataset.py").read_bytes())
    assert BARS_CODE_VERSION == h.hexdigest()[:12]
    src = (root / "strategy/indicators.py").read_bytes()
    want = hashlib.sha256(src + b"\0threadx " + version).hexdigest()[:12]
    assert source_version("strategy.indicators", version_last=True) == want
    monkeypatch.setattr(threadx, "__version__", threadx.__version__ + ".post1")
    assert source_version("strategy.indicators", version_last=True) != want


def test_bars_cache_key_layout(tmp_path):
    p = tmp_path / "2023-03.parquet"
    p.write_bytes(b"x")
    st = p.stat()
    what = {"symbol": "BTCUSDT", "start": None}
    files = [[p.name, st.st_size, st.st_mtime_ns, st.st_ino]]
    text = json.dumps(
        {"files": files, "what": what, "code": BARS_CODE_VERSION}, sort_keys=True, default=str
    )
    assert bars_cache_key([p], **what) == hashlib.sha256(text.encode()).hexdigest()[:24]
