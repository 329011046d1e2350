"""The GUI backend starts an ingest through the DataStore actor and reports its progress
(against the local fake exchange; real Ray, no display needed)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from tests.fake_exchange import FakeExchange, Faults, load_rows  # noqa: E402
from tests.ray_helpers import make_cfg  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]
CSV = "binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv"  # under the `real_data` fixture


def test_backend_ingest_reports_progress_and_fills_the_store(tmp_path, real_data: Path):
    from gui.backend import Backend, Intervals
    from gui.snapshots import DataResult
    from threadx.data.store import OHLCVStore

    rows = load_rows(real_data / CSV)[: 3 * 1440]  # three days of real minutes
    cfg = make_cfg(tmp_path / "data")
    ray.init(num_cpus=2, include_dashboard=False, namespace="threadx", logging_level="ERROR")
    try:
        # the second page request is held open until a progress line has been shown, so the
        # ingest cannot finish between two progress polls
        with FakeExchange({"BTCUSDT": rows}, faults=Faults(hold_at=2)) as ex:
            backend = Backend(cfg, intervals=Intervals(ingest=0.05)).start()
            backend.send(
                "ingest",
                symbol="BTCUSDT",
                base_url=ex.base_url,
                start="2023-03-01",
                end="2023-03-04",
            )
            texts: list[str] = []
            t0 = time.monotonic()
            while not any("done" in t for t in texts) and time.monotonic() - t0 < 180:
                texts += [s.text for s in backend.drain() if isinstance(s, DataResult)]
                if ex.held.is_set() and any(t.startswith("ingest BTCUSDT: ") for t in texts):
                    ex.release.set()
                time.sleep(0.05)
            backend.stop()
        assert any(t.startswith("ingest BTCUSDT: ") for t in texts), texts  # live progress
        done = next(t for t in texts if "done" in t)
        assert "rows_added 4,320" in done, done
        stored = OHLCVStore(cfg.data_root).read("BTCUSDT", "binance")
        assert len(stored) == 3 * 1440
    finally:
        ray.shutdown()
