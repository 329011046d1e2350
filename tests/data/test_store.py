from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from threadx.core.errors import DataError
from threadx.data.schema import validate_ohlcv
from threadx.data.store import read_month_file
from threadx.data.synth import gbm_ohlcv


def snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_layout_catalog_and_lossless_roundtrip(store, sample_1m):
    rep = store.write(sample_1m, exchange="binance_us", symbol="BTCUSDT")
    assert rep.added == 30_240 and rep.months_written == ["2023-03"]
    path = store.data_root / "ohlcv/binance_us/BTCUSDT/1m/2023-03.parquet"
    assert path.is_file()
    back = store.read("BTCUSDT")
    assert back.index.equals(sample_1m.index)
    for c in sample_1m.columns:  # bit-identical floats
        assert np.array_equal(
            back[c].to_numpy().view(np.int64), sample_1m[c].to_numpy().view(np.int64)
        )
    cat = json.loads(store.catalog_path.read_text())["files"]["binance_us/BTCUSDT/2023-03"]
    assert cat["rows"] == 30_240 and cat["missing_minutes"] == 0
    assert cat["first"].startswith("2023-03-01 00:00") and cat["last"].startswith(
        "2023-03-21 23:59"
    )
    import hashlib

    assert cat["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_months_split_and_idempotent(store):
    f = gbm_ohlcv(3 * 1440, start="2023-01-30", seed=3)
    store.write(f, exchange="kraken", symbol="XBTUSDC")
    files = sorted(p.name for p in (store.data_root / "ohlcv/kraken/XBTUSDC/1m").iterdir())
    assert files == ["2023-01.parquet", "2023-02.parquet"]
    before = snapshot(store.data_root / "ohlcv/kraken")
    rep = store.write(f, exchange="kraken", symbol="XBTUSDC")
    assert rep.added == 0 and rep.months_written == [] and rep.unchanged == len(f)
    assert snapshot(store.data_root / "ohlcv/kraken") == before
    assert store.read("XBTUSDC", start="2023-01-31", end="2023-02-01").shape[0] == 1440


def test_conflict_policies(store):
    f = gbm_ohlcv(100, seed=1)
    store.write(f, exchange="binance", symbol="ETHUSDT")
    g = f.copy()
    g.iloc[10, g.columns.get_loc("close")] = g["close"].iloc[10] * 1.0000001
    g.iloc[10, g.columns.get_loc("high")] = max(g.iloc[10]["high"], g.iloc[10]["close"])
    before = snapshot(store.root)
    with pytest.raises(DataError, match="different values") as e:
        store.write(g, exchange="binance", symbol="ETHUSDT")
    assert str(f.index[10]) in str(e.value)
    assert snapshot(store.root) == before
    store.write(g, exchange="binance", symbol="ETHUSDT", on_conflict="keep")
    assert store.read("ETHUSDT").equals(f)
    rep = store.write(g, exchange="binance", symbol="ETHUSDT", on_conflict="replace")
    assert rep.conflicts_resolved == 1
    assert store.read("ETHUSDT").equals(g)


def test_dry_run_writes_nothing(store):
    rep = store.write(gbm_ohlcv(50), exchange="binance", symbol="SOLUSDT", dry_run=True)
    assert rep.added == 50 and rep.dry_run
    assert not (store.root / "binance").exists()
    assert not store.catalog_path.exists()


@pytest.mark.parametrize("symbol", ["../evil", "BTC/USDT", "btc", "", "A" * 41, ".hidden"])
def test_bad_symbols_refused(store, symbol):
    with pytest.raises(DataError, match="symbol"):
        store.write(gbm_ohlcv(5), exchange="binance", symbol=symbol)
    assert not store.root.exists() or not any(store.root.rglob("*.parquet"))


def test_invalid_frame_writes_nothing(store):
    f = gbm_ohlcv(20)
    store.write(f, exchange="binance", symbol="BTCUSDT")
    before = snapshot(store.root)
    bad = gbm_ohlcv(20, start="2023-01-01 00:20")
    bad.iloc[3, bad.columns.get_loc("high")] = bad["low"].iloc[3] * 0.5
    with pytest.raises(DataError, match="high >= low") as e:
        store.write(bad, exchange="binance", symbol="BTCUSDT")
    assert "1 row(s)" in str(e.value) and str(bad.index[3]) in str(e.value)
    assert snapshot(store.root) == before


def test_corrupted_parquet_is_reported(store):
    store.write(gbm_ohlcv(20), exchange="binance", symbol="BTCUSDT")
    path = store.month_path("binance", "BTCUSDT", "2023-01")
    path.write_bytes(b"PAR1 garbage" * 10)
    with pytest.raises(DataError, match="not a readable Parquet"):
        store.read("BTCUSDT")


def test_unknown_symbol_names_what_exists(store):
    store.write(gbm_ohlcv(20), exchange="binance", symbol="BTCUSDT")
    with pytest.raises(DataError, match="binance/BTCUSDT"):
        store.read("DOGEUSDT")


def test_schema_rules():
    f = gbm_ohlcv(10)
    validate_ohlcv(f)
    cases = {
        "missing column": f.drop(columns=["volume"]),
        "volume >= 0": f.assign(volume=-f["volume"]),
        "open > 0": f.assign(open=-f["open"]),
        "finite": f.assign(close=np.where(np.arange(10) == 4, np.nan, f["close"])),
        "strictly increasing": f.iloc[::-1],
        "unique": pd.concat([f.iloc[:3], f.iloc[2:]]),
    }
    for rule, frame in cases.items():
        with pytest.raises(DataError, match=rule):
            validate_ohlcv(frame)


KILL_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import pyarrow.parquet as pq
    from pathlib import Path
    from threadx.data.store import OHLCVStore
    from threadx.data.synth import gbm_ohlcv
    import threadx.data.store as st

    real = pq.write_table
    def slow_write(table, where, **kw):
        real(table, where, **kw)
        data = Path(where).read_bytes()
        Path(where).write_bytes(data[: len(data) // 2])  # half-written file on disk
        print("HALF", flush=True)
        time.sleep(60)
    st.pq.write_table = slow_write
    OHLCVStore(Path(sys.argv[1])).write(gbm_ohlcv(3000, seed=9), exchange="binance",
                                        symbol="BTCUSDT", on_conflict="replace")
    """
)


def test_writer_killed_mid_write_leaves_previous_file(store, tmp_path):
    original = gbm_ohlcv(2000, seed=4)
    store.write(original, exchange="binance", symbol="BTCUSDT")
    month = store.month_path("binance", "BTCUSDT", "2023-01")
    before = month.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(store.data_root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "HALF"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert month.read_bytes() == before
    assert read_month_file(month).equals(original)
    stray = list(month.parent.glob(".tmp-*"))
    assert stray, "the killed writer should have left its temp file behind"
    store.rebuild_catalog()
    assert not list(month.parent.glob(".tmp-*"))
    assert store.read("BTCUSDT").equals(original)


def test_coarser_timeframe_is_stored_apart_validated_and_rebuilt(store):
    hours = gbm_ohlcv(24 * 40, seed=21, bar_minutes=60)  # two month files
    rep = store.write(hours, exchange="binance", symbol="ETHUSDT", timeframe="1h", source="x.json")
    assert rep.months_written == ["2023-01", "2023-02"]
    path = store.month_path("binance", "ETHUSDT", "2023-02", timeframe="1h")
    assert path == store.root / "binance" / "ETHUSDT" / "1h" / "2023-02.parquet"
    assert store.read("ETHUSDT").empty  # never 1m
    assert store.read("ETHUSDT", timeframe="1h", start="2023-02-01").equals(hours.loc["2023-02"])
    cat = store.load_catalog()
    assert set(cat) == {"binance/ETHUSDT/1h/2023-01", "binance/ETHUSDT/1h/2023-02"}
    assert cat["binance/ETHUSDT/1h/2023-02"]["timeframe"] == "1h"
    assert store.rebuild_catalog().keys() == cat.keys()
    assert store.spans("binance", "ETHUSDT") == {"1h": (hours.index[0], hours.index[-1])}
    assert store.list_frame().empty  # the default view lists 1m data only
    row = store.list_frame(timeframes=True).iloc[0]
    assert (row["timeframe"], row["rows"], row["missing_minutes"]) == ("1h", 960, 0)
    assert row["source"] == "imported 1h: x.json"
    with pytest.raises(DataError, match="write it as '1h'"):
        store.month_path("binance", "ETHUSDT", "2023-01", timeframe="1H")
    with pytest.raises(DataError, match="rule 'a 1h bar opens on a 1h bucket start"):
        store.write(
            gbm_ohlcv(5, seed=1, start="2023-03-01 00:15"),
            exchange="binance",
            symbol="ETHUSDT",
            timeframe="1h",
        )
