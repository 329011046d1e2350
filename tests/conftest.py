"""Shared fixtures. HOME is isolated so nothing (Ray tokens, caches) lands in the user's home,
and $THREADX_LOGS sends every log file (in-process, subprocesses, Ray workers) to a temporary
folder, so no test writes into the checkout's own logs/ (see tests/test_no_checkout_writes.py)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA_GZ = Path(__file__).resolve().parent / "data" / "real"  # *.csv.gz + SHA256SUMS


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="threadx-test-home-")
    os.environ["HOME"] = home
    os.environ["THREADX_LOGS"] = str(Path(home) / "threadx-logs")  # threadx.core.config.ENV_LOGS
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.pop("THREADX_CONFIG", None)
    os.environ.pop("THREADX_DATA_ROOT", None)


def _cuda_usable() -> bool:
    try:
        from threadx.kernels import resolve_backend

        return resolve_backend("auto") == "gpu"
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if any("gpu" in item.keywords for item in items) and not _cuda_usable():
        skip = pytest.mark.skip(reason="no usable CUDA GPU on this machine")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="session")
def real_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real candle files of tests/data/real/ as plain CSVs: a session folder holding
    ``binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv``, ``binance_us/BTCUSDC_...csv`` and
    ``kraken/XBTUSDC_1m_2023-01-01_2023-03-31.csv``, byte-identical to the original files (their
    SHA-256 sums are checked), with the original names, so importers infer symbol and exchange."""
    out = tmp_path_factory.mktemp("real-data")
    for line in (REAL_DATA_GZ / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(REAL_DATA_GZ / f"{rel}.gz", "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        assert _sha256(target) == digest, f"{target}: not the original bytes of {rel}"
        target.chmod(0o444)  # fixtures: a test that writes into them fails loudly
    return out


@pytest.fixture(scope="session")
def sample_1m():
    from threadx.sample import load_sample

    return load_sample()


@pytest.fixture
def store(tmp_path):
    from threadx.data.store import OHLCVStore

    return OHLCVStore(tmp_path / "data")
