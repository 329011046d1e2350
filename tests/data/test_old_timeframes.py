"""Old data at any timeframe (issue 14): a predecessor (TradXPro) tree of 15m/1h/4h files imports as
those timeframes' own data with their provenance, lists, sweeps at its timeframes and their
multiples, never passes for 1m truth; where 1m bars overlap, 1m wins and the difference is
reported; bad input is refused in one line and changes nothing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from threadx.cli import main
from threadx.core.errors import DataError
from threadx.data.migrate import import_path
from threadx.data.resample import resample
from threadx.data.store import OHLCVStore
from threadx.data.synth import gbm_ohlcv
from threadx.data.timeframes import choose_source
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.dataset import load_dataset

GRID = {"bb_period": [5, 10], "bb_std": [1.5, 2.5], "atr_multiplier": [1.0]}


def tx(capsys, root, *args):
    rc = main(["--data-root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def snapshot(root):
    files = sorted(root.rglob("*"))
    return {p: p.read_bytes() for p in files if p.is_file() and ".locks" not in p.parts}


def write_json(path, frame):
    """The predecessor's ``{SYMBOL}_{interval}.json``: records, ``timestamp`` in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = [
        {"timestamp": int(t.value // 10**6), **{c: float(row[c]) for c in frame.columns}}
        for t, row in frame.iterrows()
    ]
    path.write_text(json.dumps(records))


def write_parquet(path, frame):
    """The predecessor's zstd Parquet twin (a ``timestamp`` column in ms)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = frame.reset_index(drop=True)
    out.insert(0, "timestamp", frame.index.asi8 // 10**6)
    out.to_parquet(path, compression="zstd", index=False)


def hourly(days, seed, start="2023-01-01"):
    return gbm_ohlcv(24 * days, seed=seed, bar_minutes=60, start=start)


@pytest.fixture
def tree(tmp_path):
    """binance/crypto_data_json: ETHUSDT 1h and 4h, BTCUSDT 1m; crypto_data_parquet: SOLUSDT 15m."""
    root = tmp_path / "TradXPro" / "binance"
    eth = hourly(20, seed=1)
    write_json(root / "crypto_data_json" / "ETHUSDT_1h.json", eth)
    write_json(root / "crypto_data_json" / "ETHUSDT_4h.json", resample(eth, "4h", "1h").frame)
    write_json(root / "crypto_data_json" / "BTCUSDT_1m.json", gbm_ohlcv(3 * 1440, seed=2))
    sol = gbm_ohlcv(4 * 96, seed=3, bar_minutes=15)
    write_parquet(root / "crypto_data_parquet" / "SOLUSDT_15m.parquet", sol)
    return tmp_path / "TradXPro", eth


def sweep(store, symbol, *timeframes):
    spec = spec_from_dict(
        {
            "name": "old",
            "data": {"symbols": [symbol], "timeframes": list(timeframes)},
            "grid": GRID,
        }
    )
    return run_local(spec, data_root=store.data_root, backend="cpu", memory_budget_gb=1)


def test_predecessor_tree_imports_lists_and_sweeps(capsys, tmp_path, tree):
    src, eth = tree
    data = tmp_path / "data"
    rc, out, err = tx(capsys, data, "data", "import", str(src))
    assert rc == 0, err
    assert "4 file(s): 4 imported, 0 skipped, 0 error(s)" in out
    assert "binance/ETHUSDT 1h: 480 rows" in out and "binance/SOLUSDT 15m: 384 rows" in out
    store = OHLCVStore(data)
    # stored apart from 1m, each in its own timeframe folder; nothing of ETH is 1m
    eth_dir = data / "ohlcv" / "binance" / "ETHUSDT"
    assert sorted(p.name for p in eth_dir.iterdir()) == ["1h", "4h"]
    assert store.read("ETHUSDT").empty
    back = store.read("ETHUSDT", timeframe="1h")
    assert back.index.equals(eth.index)
    assert np.array_equal(back.to_numpy().view(np.int64), eth.to_numpy().view(np.int64))
    cat = store.load_catalog()["binance/ETHUSDT/1h/2023-01"]
    assert cat["timeframe"] == "1h" and "not derived from 1m" in cat["provenance"]
    assert cat["sources"][-1].endswith("ETHUSDT_1h.json") and cat["missing_minutes"] == 0

    rc, out, _ = tx(capsys, data, "data", "list")
    rows = {tuple(line.split()[:3]): line for line in out.splitlines()[2:]}
    assert set(rows) == {
        ("binance", "BTCUSDT", "1m"),
        ("binance", "ETHUSDT", "1h"),
        ("binance", "ETHUSDT", "4h"),
        ("binance", "SOLUSDT", "15m"),
    }
    assert "imported 1h: ETHUSDT_1h.json" in rows[("binance", "ETHUSDT", "1h")]
    assert "imported 15m: SOLUSDT_15m.parquet" in rows[("binance", "SOLUSDT", "15m")]
    assert "imported" not in rows[("binance", "BTCUSDT", "1m")]
    assert store.list_frame()["symbol"].tolist() == ["BTCUSDT"]  # the 1m view is unchanged

    res = sweep(store, "ETHUSDT", "1h", "4h")
    assert res.manifest["status"] == "completed" and len(res.to_frame()) == 2 * 4
    described = {d["timeframe"]: d for d in res.manifest["datasets"]}
    assert described["1h"]["source_timeframe"] == "1h" and described["1h"]["bars"] == 480
    assert described["4h"]["source_timeframe"] == "4h" and described["4h"]["bars"] == 120
    # the 1m symbol still resamples from 1m (no source_timeframe: the usual 1m dataset)
    btc = load_dataset(store, "BTCUSDT", "1h")
    assert btc.source_timeframe == "1m" and "source_timeframe" not in btc.describe()
    assert btc.n_bars == 72
    assert sweep(store, "BTCUSDT", "1h").manifest["status"] == "completed"
    # the 15m Parquet serves 1h too (a multiple), and the CLI resample says where from
    assert load_dataset(store, "SOLUSDT", "1h").n_bars == 96
    rc, out, _ = tx(capsys, data, "data", "resample", "SOLUSDT", "1h", "--rows", "1")
    assert rc == 0 and "SOLUSDT 1h: 96 bars from 384 15m bars" in out


def test_multiples_sweep_and_non_multiples_are_refused(capsys, tmp_path):
    src = tmp_path / "old" / "kraken" / "crypto_data_json" / "XRPUSDT_1h.json"
    bars = hourly(10, seed=4)
    write_json(src, bars)
    store = OHLCVStore(tmp_path / "data")
    assert import_path(store, src).totals()["imported"] == 1
    ds = load_dataset(store, "XRPUSDT", "2h")
    want = resample(bars, "2h", "1h").frame
    assert ds.source_timeframe == "1h" and ds.n_bars == len(want) == 120
    assert np.array_equal(ds.close, want["close"].to_numpy())
    assert sweep(store, "XRPUSDT", "2h").manifest["status"] == "completed"

    with pytest.raises(DataError) as err:
        sweep(store, "XRPUSDT", "30m")
    text = str(err.value)
    assert "\n" not in text
    assert "kraken/XRPUSDT: stored only at 1h" in text and "divides it" in text
    # the CLI says the same in one line (exit 2)
    rc, _, err_text = tx(capsys, store.data_root, "data", "resample", "XRPUSDT", "30m")
    assert rc == 2 and "stored only at 1h" in err_text and len(err_text.strip().splitlines()) == 1


def test_overlap_with_1m_one_minute_wins_and_the_difference_is_reported(capsys, tmp_path):
    ones = gbm_ohlcv(3 * 1440, seed=7)
    exact = resample(ones, "1h").frame
    inner = exact.iloc[12:60].copy()  # the 1h file overlaps the 1m span (inside it)
    inner.iloc[[3, 10], inner.columns.get_loc("close")] *= 1.001  # two bars disagree
    inner["high"] = np.maximum(inner["high"], inner["close"])  # and stay valid bars
    folder = tmp_path / "old" / "binance" / "crypto_data_json"
    write_json(folder / "BTCUSDT_1m.json", ones)
    write_json(folder / "BTCUSDT_1h.json", inner)
    data = tmp_path / "data"
    rc, out, err = tx(capsys, data, "data", "import", str(folder / "BTCUSDT_1m.json"))
    assert rc == 0, err
    rc, out, err = tx(capsys, data, "data", "import", str(folder / "BTCUSDT_1h.json"))
    assert rc == 0, err
    assert "1h vs 1m: 48 bar(s) compared, 2 differ (max relative difference" in out
    assert "1m wins" in out
    report = import_path(OHLCVStore(data), folder / "BTCUSDT_1h.json").files[0]
    (o,) = report["overlaps"]
    assert (o["timeframe"], o["bars_compared"], o["mismatching"]) == ("1h", 48, 2)
    assert o["max_rel_diff"] == pytest.approx(1e-3, rel=1e-6) and o["winner"] == "1m"
    assert o["first_mismatch"] == str(inner.index[3])
    # loading: the 1m truth serves the window, the 1h bars are not used
    store = OHLCVStore(data)
    ds = load_dataset(store, "BTCUSDT", "1h")
    assert ds.source_timeframe == "1m" and np.array_equal(ds.close, exact["close"].to_numpy())
    # the 1m file imported again (after the 1h one) reports the same comparison
    again = import_path(store, folder / "BTCUSDT_1m.json").files[0]
    assert again["overlaps"][0]["mismatching"] == 2


def test_one_minute_wins_only_where_it_covers_the_window(tmp_path):
    store = OHLCVStore(tmp_path / "data")
    ones = gbm_ohlcv(2 * 1440, seed=8, start="2023-01-05")
    store.write(ones, exchange="binance", symbol="BTCUSDT")
    longer = hourly(10, seed=9)  # 1h bars from 2023-01-01 to 2023-01-10: beyond the 1m span
    store.write(longer, exchange="binance", symbol="BTCUSDT", timeframe="1h", source="old.json")
    inside = {"start": "2023-01-05", "end": "2023-01-07"}
    assert choose_source(store, "BTCUSDT", "binance", "1h", **inside) == "1m"
    assert load_dataset(store, "BTCUSDT", "1h", **inside).source_timeframe == "1m"
    assert choose_source(store, "BTCUSDT", "binance", "1h") == "1h"  # 1m covers 2 of 10 days
    assert choose_source(store, "BTCUSDT", "binance", "30m") == "1m"  # 1h cannot make 30m
    whole = load_dataset(store, "BTCUSDT", "4h")
    assert whole.source_timeframe == "1h" and whole.n_bars == 60


def test_bad_input_is_refused_in_one_line_and_changes_nothing(capsys, tmp_path):
    data = tmp_path / "data"
    good = tmp_path / "old" / "binance" / "crypto_data_json" / "ETHUSDT_1h.json"
    write_json(good, hourly(3, seed=10))
    assert tx(capsys, data, "data", "import", str(good))[0] == 0
    before = snapshot(data / "ohlcv")

    def refused(path, *flags):
        rc, _, err = tx(capsys, data, "data", "import", str(path), *flags)
        assert rc == 2 and len(err.strip().splitlines()) == 1, err
        assert snapshot(data / "ohlcv") == before
        return err

    # a record without its close: the file, the record and the key
    records = json.loads(good.read_text())
    del records[5]["close"]
    bad = good.with_name("ADAUSDT_1h.json")
    bad.write_text(json.dumps(records))
    err = refused(bad)
    assert "ADAUSDT_1h.json: record 6: expected an object with keys ['close']" in err
    # a 1h bar that does not open on the hour: the file, the bar and the rule
    off = hourly(2, seed=11)
    off.index = off.index + pd.Timedelta(minutes=30)
    misaligned = good.with_name("DOTUSDT_1h.json")
    write_json(misaligned, off)
    err = refused(misaligned)
    assert "DOTUSDT_1h.json: rule 'a 1h bar opens on a 1h bucket start (UTC)'" in err
    assert "2023-01-01 00:30:00+00:00" in err
    # changed values of stored bars: merge refuses, naming the bars
    changed = hourly(3, seed=12)
    write_json(good, changed)
    err = refused(good)
    assert "ETHUSDT_1h.json" in err and "rule 'merge never overwrites'" in err
    # no exchange above the predecessor's folder: the flag to pass
    lost = tmp_path / "elsewhere" / "crypto_data_json" / "LINKUSDT_4h.json"
    write_json(lost, resample(hourly(3, seed=13), "4h", "1h").frame)
    err = refused(lost)
    assert (
        "LINKUSDT_4h.json: cannot infer the exchange of LINKUSDT" in err
        and "pass --exchange" in err
    )
    rc, out, _ = tx(capsys, data, "data", "import", str(lost), "--exchange", "binance")
    assert rc == 0 and "binance/LINKUSDT 4h: 18 rows" in out


def test_gaps_of_a_stored_coarser_timeframe_count_its_bars(capsys, tmp_path):
    """`data gaps SYMBOL --timeframe 1h`: missing bars counted in bars of that timeframe."""
    src = tmp_path / "old" / "kraken" / "crypto_data_json" / "XRPUSDT_1h.json"
    bars = hourly(3, seed=5)
    write_json(src, bars.drop(bars.index[[10, 11, 40]]))  # two runs: 2 bars and 1 bar
    store = OHLCVStore(tmp_path / "data")
    assert import_path(store, src).totals()["imported"] == 1
    rep = store.gaps("XRPUSDT", timeframe="1h")
    assert (rep.missing, rep.runs) == (3, [(bars.index[10], 2), (bars.index[40], 1)])
    rc, out, _ = tx(capsys, store.data_root, "data", "gaps", "XRPUSDT", "--timeframe", "1h")
    assert rc == 0 and "XRPUSDT 1h:" in out and "69 of 72 60-minute bars present" in out
    assert "(first missing bar, bars missing)" in out
