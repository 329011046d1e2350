"""Shared fixtures. HOME is isolated so nothing (Ray tokens, caches) lands in the user's home."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    home = tempfile.mkdtemp(prefix="threadx-test-home-")
    os.environ["HOME"] = home
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_1m():
    from threadx.sample import load_sample

    return load_sample()


@pytest.fixture
def store(tmp_path):
    from threadx.data.store import OHLCVStore

    return OHLCVStore(tmp_path / "data")
