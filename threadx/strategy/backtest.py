"""Outputs of a single reference backtest: the run folder and a one-page text summary.

Run folder (every file written atomically through :func:`threadx.core.io.atomic_write`: temp file in
the same folder, fsync, validation, ``os.replace``, fsync of the folder):

* ``trades.csv``     one row per closed trade, the STRATEGY.md trade-record columns in order;
* ``equity.parquet`` UTC ``DatetimeIndex`` named ``time``; float64 columns ``equity`` and
                     ``drawdown`` (``1 − equity / running peak``, clamped to [0, 1]);
* ``metrics.json``   every metric of :data:`threadx.strategy.metrics.METRIC_NAMES` under its exact
name,
                     plain JSON numbers, infinities as ``"inf"``/``"-inf"``, NaN as ``null``
                     (the JSON policy of :mod:`threadx.core.jsonio`, as for every JSON file here);
* ``params.json``    the strategy parameters (loadable with ``StrategyParams(**json)``);
* ``meta.json``      the caller's ``meta`` (symbol, timeframe, data fingerprint, …).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from threadx.core.io import atomic_write, atomic_write_json
from threadx.core.utc import utc_index
from threadx.strategy.metrics import METRIC_NAMES, drawdown
from threadx.strategy.params import StrategyParams
from threadx.strategy.reference import TRADE_COLUMNS, BacktestResult

__all__ = ["RUN_FILES", "equity_frame", "format_summary", "write_run_folder"]

RUN_FILES: tuple[str, ...] = (
    "trades.csv",
    "equity.parquet",
    "metrics.json",
    "params.json",
    "meta.json",
)


def equity_frame(result: BacktestResult) -> pd.DataFrame:
    """Equity and drawdown per bar, indexed by the bars' UTC open times (index name ``time``)."""
    index = utc_index(result.times, name="time")
    return pd.DataFrame(
        {
            "equity": np.asarray(result.equity, dtype=np.float64),
            "drawdown": drawdown(result.equity),
        },
        index=index,
    )


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_json(path, obj, sort_keys=False)  # in the order given (metrics: METRIC_NAMES)


def _write_trades(path: Path, trades: pd.DataFrame) -> None:
    frame = trades.loc[:, list(TRADE_COLUMNS)]

    def _validate(tmp: Path) -> None:
        back = pd.read_csv(tmp)
        if list(back.columns) != list(TRADE_COLUMNS) or len(back) != len(frame):
            raise OSError(f"{path}: written trades do not read back ({len(back)} rows)")

    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False), _validate)


def _write_equity(path: Path, frame: pd.DataFrame) -> None:
    def _validate(tmp: Path) -> None:
        import pyarrow.parquet as pq

        rows = pq.read_metadata(tmp).num_rows
        if rows != len(frame):
            raise OSError(f"{path}: parquet footer says {rows} rows, expected {len(frame)}")

    atomic_write(path, lambda tmp: frame.to_parquet(tmp, engine="pyarrow"), _validate)


def write_run_folder(
    result: BacktestResult, out_dir: Path, params: StrategyParams, meta: Mapping[str, Any]
) -> Path:
    """Write the run folder ``out_dir`` (created if needed) and return it; see module docstring."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_trades(out / "trades.csv", result.trades)
    _write_equity(out / "equity.parquet", equity_frame(result))
    _write_json(out / "metrics.json", {name: result.metrics[name] for name in METRIC_NAMES})
    _write_json(out / "params.json", params.model_dump(mode="json"))
    _write_json(out / "meta.json", dict(meta))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):,.6g}"
    return str(value)


def _trade_lines(trades: pd.DataFrame, head: int) -> list[str]:
    if trades.empty:
        return ["  (no trades)"]
    cols = ["side", "entry_time", "exit_time", "entry_price", "exit_price", "qty", "pnl"]
    cols.append("exit_reason")
    shown = trades if len(trades) <= 2 * head else pd.concat([trades.head(head), trades.tail(head)])
    table = shown.loc[:, cols].to_string(
        float_format=lambda v: f"{v:,.4f}", max_colwidth=26, justify="right"
    )
    lines = ["  " + line for line in table.splitlines()]
    if len(trades) > 2 * head:
        lines.insert(head + 1, f"  … {len(trades) - 2 * head} more trades …")
    return lines


def format_summary(
    result: BacktestResult, params: StrategyParams, meta: Mapping[str, Any], head: int = 5
) -> str:
    """A one-page human summary: data/meta, parameters, metrics, first and last trades."""
    n = result.equity.size
    span = utc_index([result.times[0], result.times[-1]])
    lines = ["ThreadX backtest — BB+ATR (reference simulation)"]
    lines += [f"  {k}: {v}" for k, v in meta.items()]
    lines.append(f"  bars: {n}  from {span[0]}  to {span[1]}  ({_fmt(result.bar_minutes)} min)")
    lines.append("")
    lines.append("Parameters")
    dumped = params.model_dump()
    width = max(len(k) for k in dumped)
    lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in dumped.items()]
    lines.append("")
    lines.append("Metrics")
    width = max(len(k) for k in METRIC_NAMES)
    lines += [f"  {k:<{width}}  {_fmt(result.metrics[k])}" for k in METRIC_NAMES]
    lines.append("")
    lines.append(f"Trades (first and last {head})")
    lines += _trade_lines(result.trades, head)
    return "\n".join(lines) + "\n"
