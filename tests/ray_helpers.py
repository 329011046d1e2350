"""Helpers shared by the Ray test modules (real Ray, no mocks)."""

from __future__ import annotations

import time
from pathlib import Path

from threadx.core.config import apply_overrides, load_config
from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample

REPO = Path(__file__).resolve().parents[1]


def make_cfg(data_root: Path, **devices):
    """The shipped config with the sample data in ``data_root``; its logs go to $THREADX_LOGS,
    which tests/conftest.py points at a temporary folder (never the checkout's logs/)."""
    ensure_sample(OHLCVStore(data_root))
    cfg = apply_overrides(load_config(REPO / "configs" / "threadx.toml"), data_root=str(data_root))
    if devices:
        cfg = cfg.model_copy(update={"devices": cfg.devices.model_copy(update=devices)})
    return cfg


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
