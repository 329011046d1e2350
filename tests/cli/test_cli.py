"""The `threadx` command end to end (in-process), on the real data of tests/data/real/."""

from __future__ import annotations

import hashlib
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from threadx.cli import main


def tx(capsys, root, *args):
    rc = main(["--data-root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def snapshot(root):
    return {
        p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "logs" not in p.parts
    }


def test_import_kraken_reports_missing_minutes(capsys, tmp_path, real_data):
    rc, out, err = tx(
        capsys,
        tmp_path,
        "data",
        "import",
        str(real_data / "kraken" / "XBTUSDC_1m_2023-01-01_2023-03-31.csv"),
    )
    assert rc == 0, err
    assert "kraken/XBTUSDC" in out and "72,883 of 129,600 minutes missing (56.24%)" in out
    rc, out, _ = tx(capsys, tmp_path, "data", "gaps", "XBTUSDC")
    assert rc == 0
    assert "56,717 of 129,600 minutes present, 72,883 missing" in out
    assert "missing ratio: 0.562369" in out
    rc, out, _ = tx(capsys, tmp_path, "data", "list")
    assert "XBTUSDC" in out and "72883" in out


def test_import_binance_no_gaps_and_lossless_chain(capsys, tmp_path, real_data):
    src = real_data / "binance_us" / "BTCUSDT_1m_2023-03-01_2023-03-21.csv"
    rc, out, err = tx(capsys, tmp_path, "data", "import", str(src))
    assert rc == 0, err
    assert "binance_us/BTCUSDT: 30,240 rows" in out and "0 of 30,240 minutes missing" in out
    # CSV text -> store -> Parquet -> frame: every float bit-identical to float(text)
    raw = pd.read_csv(src, dtype=str)
    from threadx.data.store import OHLCVStore

    back = OHLCVStore(tmp_path).read("BTCUSDT")
    for col in ("open", "high", "low", "close", "volume"):
        want = np.array([float(t) for t in raw[col]])
        assert np.array_equal(back[col].to_numpy().view(np.int64), want.view(np.int64))
    before = snapshot(tmp_path)
    rc, out, _ = tx(capsys, tmp_path, "data", "import", str(src))  # idempotent
    assert rc == 0 and "0 new" in out and snapshot(tmp_path) == before
    rc, out, _ = tx(capsys, tmp_path, "data", "resample", "BTCUSDT", "1h", "--rows", "1")
    assert rc == 0 and "504 bars from 30,240 1m bars" in out
    rc, _, err = tx(capsys, tmp_path, "data", "resample", "BTCUSDT", "1M")
    assert rc == 2 and "'M' is month" in err


def _write(tmp_path, name, text):
    p = tmp_path / "in" / name
    p.parent.mkdir(exist_ok=True)
    p.write_text(text)
    return p


GOOD = "open_time,open,high,low,close,volume\n2023-03-01 00:00:00+00:00,10,11,9,10.5,1\n"


@pytest.mark.parametrize(
    "name,text,rule",
    [
        (
            "BTCUSDT_1m.csv",
            "open_time,open,high,low,volume\n2023-03-01 00:00:00+00:00,1,2,1,1\n",
            "close",
        ),
        ("BTCUSDT_1m.csv", GOOD + "2023-03-01 00:01:00+00:00,10,9,11,10,1\n", "high"),
        ("BTCUSDT_1m.csv", GOOD + "2023-03-01 00:00:00+00:00,10,11,9,10.6,1\n", "different values"),
        ("BTCUSDT_1m.csv", GOOD + "2023-03-01 00:01:00+00:00,10,11,9,abc,1\n", "not numeric"),
    ],
)
def test_bad_files_change_nothing(capsys, tmp_path, name, text, rule):
    tx(
        capsys,
        tmp_path,
        "data",
        "import",
        str(_write(tmp_path, "BTCUSDT_1m_ok.csv", GOOD)),
        "--symbol",
        "BTCUSDT",
        "--exchange",
        "binance",
    )
    before = snapshot(tmp_path / "ohlcv")
    rc, _, err = tx(
        capsys,
        tmp_path,
        "data",
        "import",
        str(_write(tmp_path, name, text)),
        "--symbol",
        "BTCUSDT",
        "--exchange",
        "binance",
    )
    assert rc == 2 and rule in err and name in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(tmp_path / "ohlcv") == before


def test_corrupted_parquet_and_bad_checksum(capsys, tmp_path):
    bad = tmp_path / "in" / "binance_BTCUSDT_1m.parquet"
    bad.parent.mkdir()
    bad.write_bytes(b"PAR1" + bytes(range(200)))
    rc, _, err = tx(capsys, tmp_path, "data", "import", str(bad))
    assert rc == 2 and "binance_BTCUSDT_1m.parquet" in err
    z = tmp_path / "in" / "BTCUSDT-1m-2023-03.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr(
            "BTCUSDT-1m-2023-03.csv", "1677628800000,1,2,0.5,1.5,3,1677628859999,4,5,6,7,0\n"
        )
    (tmp_path / "in" / "BTCUSDT-1m-2023-03.zip.CHECKSUM").write_text("0" * 64 + "  x.zip\n")
    rc, _, err = tx(capsys, tmp_path, "data", "import", str(z))
    assert rc == 2 and "checksum" in err.lower()
    assert not (tmp_path / "ohlcv").exists() or not list((tmp_path / "ohlcv").rglob("*.parquet"))
    good = hashlib.sha256(z.read_bytes()).hexdigest()
    (tmp_path / "in" / "BTCUSDT-1m-2023-03.zip.CHECKSUM").write_text(f"{good}  x.zip\n")
    rc, out, err = tx(capsys, tmp_path, "data", "import", str(z))
    assert rc == 0, err


def test_symbol_with_separator_and_config_errors(capsys, tmp_path):
    p = _write(tmp_path, "x.csv", GOOD)
    rc, _, err = tx(
        capsys, tmp_path, "data", "import", str(p), "--symbol", "../BTC", "--exchange", "binance"
    )
    assert rc == 2 and "symbol" in err
    cfg = tmp_path / "configs" / "threadx.toml"
    cfg.parent.mkdir()
    cfg.write_text("[paths]\ndata_rot = 'x'\n")
    assert main(["--config", str(cfg), "config", "show"]) == 2
    assert "paths.data_rot" in capsys.readouterr().err
    cfg.write_text("[devices]\nweights = { '5090' = -1.0 }\n")
    assert main(["--config", str(cfg), "config", "show"]) == 2
    assert "devices.weights" in capsys.readouterr().err


def test_config_show_prints_effective_config(capsys, tmp_path):
    rc, out, _ = tx(capsys, tmp_path, "--log-level", "debug", "config", "show")
    assert rc == 0 and 'level = "DEBUG"' in out and str(tmp_path) in out


def test_backtest_writes_run_folder(capsys, tmp_path):
    from threadx.data.store import OHLCVStore
    from threadx.sample import ensure_sample

    ensure_sample(OHLCVStore(tmp_path))
    out_dir = tmp_path / "bt"
    rc, out, err = tx(
        capsys,
        tmp_path,
        "backtest",
        "--symbol",
        "BTCUSDT",
        "--timeframe",
        "15m",
        "--param",
        "bb_period=20",
        "--param",
        "bb_std=2",
        "--param",
        "trailing_stop=true",
        "--out",
        str(out_dir),
    )
    assert rc == 0, err
    metrics = json.loads((out_dir / "metrics.json").read_text())
    trades = pd.read_csv(out_dir / "trades.csv")
    assert metrics["n_trades"] == len(trades) == 92
    assert metrics["final_equity"] == pytest.approx(9265.236569387152, rel=1e-12)
    assert "Metrics" in out and "sharpe" in out
    rc, _, err = tx(capsys, tmp_path, "backtest", "--symbol", "BTCUSDT", "--param", "bb_perod=2")
    assert rc == 2 and "bb_period" in err  # the known names are listed
