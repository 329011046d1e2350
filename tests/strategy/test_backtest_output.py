"""The run folder and summary of a reference backtest on the bundled BTCUSDT sample (15m)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import threadx
from threadx.strategy.backtest import RUN_FILES, format_summary, write_run_folder
from threadx.strategy.metrics import METRIC_NAMES
from threadx.strategy.params import PARAM_NAMES, StrategyParams
from threadx.strategy.reference import TRADE_COLUMNS, BacktestResult, backtest_frame

SAMPLE = Path(threadx.__file__).parent / "sample" / "binance_us_BTCUSDT_1m.parquet"
META = {"exchange": "binance_us", "symbol": "BTCUSDT", "timeframe": "15m"}


@pytest.fixture(scope="module")
def bars_15m() -> pd.DataFrame:
    minute = pd.read_parquet(SAMPLE)
    frame = (
        minute.resample("15min", label="left", closed="left")
        .agg({"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
        .dropna()
    )
    assert str(frame.index.tz) == "UTC" and (frame.dtypes == np.float64).all()
    return frame


@pytest.fixture(scope="module")
def result(bars_15m: pd.DataFrame) -> BacktestResult:
    return backtest_frame(bars_15m, StrategyParams(), bar_minutes=15)


def test_default_run_on_the_sample(bars_15m: pd.DataFrame, result: BacktestResult) -> None:
    n = len(bars_15m)
    assert result.equity.shape == (n,) and result.returns.shape == (n - 1,)
    assert result.metrics["n_trades"] == len(result.trades) > 0
    total = math.fsum(result.trades["pnl"])
    assert result.equity[-1] == pytest.approx(10_000.0 + total, rel=1e-9)
    assert list(result.trades.columns) == list(TRADE_COLUMNS)
    assert str(result.trades["entry_time"].dt.tz) == "UTC"
    idx = result.trades["entry_bar"].to_numpy()
    assert (result.trades["entry_time"].to_numpy() == bars_15m.index[idx].to_numpy()).all()
    assert not result.ruined and result.trend is None
    np.testing.assert_array_equal(result.times, bars_15m.index.asi8)


def test_run_folder_files(tmp_path: Path, bars_15m: pd.DataFrame, result: BacktestResult) -> None:
    params = StrategyParams()
    out = write_run_folder(result, tmp_path / "run", params, META)
    assert out == tmp_path / "run"
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)  # no temp files left

    trades = pd.read_csv(out / "trades.csv")
    assert list(trades.columns) == list(TRADE_COLUMNS)
    assert len(trades) == len(result.trades)
    np.testing.assert_allclose(trades["pnl"], result.trades["pnl"], rtol=1e-15)
    assert list(trades["exit_reason"]) == list(result.trades["exit_reason"])
    entry_times = pd.to_datetime(trades["entry_time"], utc=True)
    assert (entry_times.to_numpy() == result.trades["entry_time"].to_numpy()).all()

    equity = pd.read_parquet(out / "equity.parquet")
    assert list(equity.columns) == ["equity", "drawdown"]
    assert equity.index.name == "time" and str(equity.index.tz) == "UTC"
    assert equity.index.equals(bars_15m.index.rename("time"))
    np.testing.assert_array_equal(equity["equity"].to_numpy(), result.equity)
    assert equity["drawdown"].between(0.0, 1.0).all()
    assert equity["drawdown"].max() == pytest.approx(result.metrics["max_drawdown"], rel=1e-12)

    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert list(metrics) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        value = metrics[name]
        assert isinstance(value, int | float) or value in ("inf", "-inf", None), name
        if isinstance(value, float):
            assert value == result.metrics[name], name
    assert metrics["n_trades"] == len(result.trades) and metrics["ruined"] is False

    params_back = json.loads((out / "params.json").read_text(encoding="utf-8"))
    assert list(params_back) == list(PARAM_NAMES)
    assert StrategyParams(**params_back) == params
    assert json.loads((out / "meta.json").read_text(encoding="utf-8")) == META


def test_run_folder_writes_infinities_as_strings(tmp_path: Path, result: BacktestResult) -> None:
    tweaked = BacktestResult(**{**result.__dict__, "metrics": dict(result.metrics)})
    tweaked.metrics.update(sortino=math.inf, calmar=-math.inf, expectancy=math.nan)
    out = write_run_folder(tweaked, tmp_path / "inf", StrategyParams(), META)
    text = (out / "metrics.json").read_text(encoding="utf-8")
    metrics = json.loads(text)
    assert metrics["sortino"] == "inf" and metrics["calmar"] == "-inf"
    assert metrics["expectancy"] is None
    assert "Infinity" not in text and "NaN" not in text


def test_rewriting_a_folder_replaces_files_atomically(
    tmp_path: Path, result: BacktestResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = write_run_folder(result, tmp_path / "run", StrategyParams(), META)
    before = (out / "equity.parquet").read_bytes()

    def broken(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1 torn")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_run_folder(result, out, StrategyParams(), META)
    assert (out / "equity.parquet").read_bytes() == before  # the old file is intact
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)  # and no temp file left


def test_summary_lists_parameters_metrics_and_trades(result: BacktestResult) -> None:
    text = format_summary(result, StrategyParams(), META)
    for name in (*PARAM_NAMES, *METRIC_NAMES):
        assert name in text, name
    assert "BTCUSDT" in text and "take_profit" in text
    first_entry = str(result.trades["entry_time"].iloc[0])
    last_entry = str(result.trades["entry_time"].iloc[-1])
    assert first_entry in text and last_entry in text
    assert text.count("\n") < 80  # one page
