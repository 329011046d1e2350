"""Drill-down of one combination: re-run the reference simulation for trades, equity and bands."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from threadx.strategy.backtest import equity_frame
from threadx.strategy.metrics import METRIC_NAMES
from threadx.strategy.params import PARAM_NAMES, params_from_mapping
from threadx.strategy.reference import backtest_frame
from threadx.sweep.dataset import Dataset


def drilldown(dataset: Dataset, row: pd.Series | dict[str, Any]) -> dict[str, Any]:
    """Everything the charts need for one result row (its parameters), plus a consistency check
    of the sweep's metrics against the reference's (``mismatches`` lists any difference)."""
    params = params_from_mapping({k: _plain(row[k]) for k in PARAM_NAMES})
    res = backtest_frame(dataset.to_frame(), params, dataset.bar_minutes)
    mismatches = []
    for name in METRIC_NAMES:
        if name in row and not _close(float(row[name]), float(res.metrics[name])):
            mismatches.append((name, float(row[name]), float(res.metrics[name])))
    eq = equity_frame(res)
    bars = dataset.to_frame()
    bars["middle"], bars["upper"], bars["lower"] = res.middle, res.upper, res.lower
    return {
        "params": params.model_dump(),
        "bars": bars,
        "trades": res.trades,
        "equity": eq,
        "metrics": dict(res.metrics),
        "mismatches": mismatches,
        "symbol": dataset.symbol,
        "timeframe": dataset.timeframe,
    }


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _close(a: float, b: float) -> bool:
    if math.isinf(a) or math.isinf(b) or math.isnan(a) or math.isnan(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
