"""Helpers shared by the Ray test modules (real Ray, no mocks)."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from threadx.core.config import apply_overrides, load_config
from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's console scripts: threadx, ray
FAKE_GPUS = {"threadx_gpu_5090": 1, "threadx_gpu_2060": 1}  # a 5090 and a 2060, as Ray sees them


def make_cfg(data_root: Path, **devices):
    """The shipped config with the sample data in ``data_root``; its logs go to $THREADX_LOGS,
    which tests/conftest.py points at a temporary folder (never the checkout's logs/)."""
    ensure_sample(OHLCVStore(data_root))
    cfg = apply_overrides(load_config(REPO / "configs" / "threadx.toml"), data_root=str(data_root))
    if devices:
        cfg = cfg.model_copy(update={"devices": cfg.devices.model_copy(update=devices)})
    return cfg


def connect_fake_gpus(cfg: Any, num_cpus: int = 2) -> Any:
    """Start a local Ray cluster of ``num_cpus`` CPUs and two fake GPUs (FAKE_GPUS) in this
    process and connect a :class:`~actors.client.ThreadXClient` with ``cfg``; ``ray.shutdown()``
    ends it."""
    import ray

    from actors.client import ThreadXClient

    ray.init(
        num_cpus=num_cpus,
        num_gpus=2,
        resources=FAKE_GPUS,
        include_dashboard=False,
        namespace="threadx",
        logging_level="ERROR",
    )
    return ThreadXClient(cfg).connect()


def free_port() -> int:
    """A TCP port that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def cluster_cli_env(config: Path, data_root: Path, **env: str) -> tuple[dict[str, str], int]:
    """Write a project config at ``config`` (``data_root``, a free dashboard port) and return the
    environment of a ``threadx`` command that uses it (BIN first on PATH, plus ``env``) and that
    dashboard port."""
    dash = free_port()
    config.parent.mkdir(parents=True)
    config.write_text(
        f"[paths]\ndata_root = '{data_root}'\nallow_absolute_paths = true\n"
        f"[cluster]\ndashboard_port = {dash}\n"
    )
    path = f"{BIN}{os.pathsep}{os.environ['PATH']}"
    return {**os.environ, "PATH": path, "THREADX_CONFIG": str(config), **env}, dash


def wait_state(client, run_id: str, states: tuple[str, ...], timeout: float = 120.0) -> dict:
    t0 = time.monotonic()
    while True:
        st = client.status(run_id)
        if st["state"] in states:
            return st
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"run {run_id} stuck in {st['state']}: {st}")
        time.sleep(0.2)


def spec_4000(
    timeframe: str = "1h", chunk: int = 100, name: str = "r", multipliers: int = 2
) -> dict:
    """4,000 combinations: 40 bb_period x 50 bb_std x 2 atr_multiplier (2,000 per multiplier)."""
    return {
        "name": name,
        "data": {"symbols": ["BTCUSDT"], "timeframes": [timeframe]},
        "grid": {
            "bb_period": {"start": 5, "stop": 44, "step": 1},
            "bb_std": {"start": 1.0, "stop": 3.45, "step": 0.05},
            "atr_multiplier": [float(1 + i) for i in range(multipliers)],
        },
        "chunk_size": chunk,
    }


def local_results(cfg, spec: dict):
    """The same sweep without Ray, in a copy of the store: the failure-free reference."""
    import shutil
    import tempfile

    from threadx.sweep import run_local, spec_from_dict

    other = Path(tempfile.mkdtemp(prefix="threadx-local-"))
    shutil.copytree(cfg.data_root / "ohlcv", other / "ohlcv")
    res = run_local(spec_from_dict(spec), data_root=other, backend="cpu", memory_budget_gb=4)
    return res.to_frame().drop(columns=["device"])
