"""View model of the Results view's Walk-forward panel (pure Python: no DearPyGui, no Ray).

It reads what the driver's ``walk_forward(run_id)`` returns: the run's stored report
(``walk_forward.json``, schema in :mod:`threadx.sweep.walkforward`) where every dataset also
carries its stitched out-of-sample equity ``oos_equity = {"time": [s since the epoch],
"equity": [...], "bars": n}`` (already thinned by the driver when long), or None. Per dataset it
builds the degradation line, the fold table (:func:`threadx.sweep.walkforward.fold_table`, the
same table as ``threadx sweep walkforward``), the stitched metrics and the equity line decimated
to the plot's width (:func:`gui.charts.decimate_xy`) with the fold boundaries. Missing or null
values show as ``n/a``; nothing is made up.

The degradation line is classed by the walk-forward efficiency (OOS / IS annualised return):
``holds`` from :data:`EFFICIENCY_HOLDS` (0.5, the usual rule of thumb), ``weak`` above 0,
``fails`` at or below 0, ``unknown`` when the report has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gui.charts import decimate_xy
from gui.overfitting import ascii_text, fmt_stat
from gui.viewmodels import Detailed, TableModel, table_model
from threadx.strategy.metrics import METRIC_NAMES
from threadx.sweep.states import TERMINAL, RunState

NOT_WALK_FORWARD = "not a walk-forward run"
WAITING = "walk-forward report: shown when the run's final results are in"
EFFICIENCY_HOLDS = 0.5
PCT_METRICS = ("total_return", "cagr", "annual_volatility", "max_drawdown", "win_rate", "exposure")
MONEY_METRICS = ("final_equity", "expectancy", "avg_win", "avg_loss", "total_fees")
METRIC_COLUMNS = ("metric", "value")

XY = tuple[tuple[float, ...], tuple[float, ...]]
Marks = tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class WalkForwardDataset:
    """One (symbol, timeframe) of the report, ready to draw."""

    key: str  # "BTCUSDT 15m"
    degradation: str
    degradation_class: str  # holds | weak | fails | unknown
    stitched: str
    metrics: TableModel  # metric, value (text)
    folds: TableModel
    equity: XY  # time (s), equity; decimated to the plot width
    bars: int  # bars of the stitched curve before any thinning
    boundaries: tuple[float, ...]  # fold test starts and the last test end (s)
    fold_marks: Marks  # (middle of the test window, "fold k")
    capital: float | None


@dataclass(frozen=True)
class WalkForwardModel(Detailed[WalkForwardDataset]):
    """Everything the Walk-forward panel shows for one run (``message``: the header when
    ``available``, else why there is nothing)."""

    run_id: str
    available: bool
    message: str
    detail: tuple[WalkForwardDataset, ...] = ()

    def dataset(self, key: str | None) -> WalkForwardDataset | None:
        """The dataset named ``key``, else the first one (None when there is none)."""
        return self.pick(key)


def missing_note(is_walk_forward: bool | None, state: str = "") -> str:
    """What the panel says without a report: the run's spec not known yet (None), no
    ``[walk_forward]`` (False), or a walk-forward run (True) in ``state``."""
    if is_walk_forward is None:
        return WAITING
    if not is_walk_forward:
        return NOT_WALK_FORWARD
    if state == RunState.COMPLETED:
        return "no walk-forward report stored for this completed run"
    if state in TERMINAL:
        return (
            f"no walk-forward report: the run is {state}; it is written when the run "
            "completes (resume it)"
        )
    return f"walk-forward run ({state or 'starting'}): the report is shown once it completes"


def _seconds(iso: Any) -> float:
    return pd.Timestamp(iso).timestamp()


def _pct(value: Any, signed: bool = False, digits: int = 2) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return format(float(value), f"{'+' if signed else ''}.{digits}%")
    return fmt_stat(value)


def _money(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{float(value):,.2f}"
    return fmt_stat(value)


def fmt_metric(name: str, value: Any) -> str:
    """One stitched metric as text: percentages, money with 2 decimals, counts, else 3
    significant digits (``n/a`` for missing)."""
    if name in PCT_METRICS:
        return _pct(value, signed=name in ("total_return", "cagr"))
    if name in MONEY_METRICS:
        return _money(value)
    if name == "n_trades" and isinstance(value, int):
        return f"{value:,}"
    return fmt_stat(value)


def header_text(report: Mapping[str, Any]) -> str:
    by = ", ".join(report.get("rank_by") or ()) or "n/a"
    se = report.get("search")
    searched = (
        f" among its own search ({se.get('method')}, {se.get('trials'):,} trials)"
        if isinstance(se, Mapping) and isinstance(se.get("trials"), int)
        else ""
    )
    return (
        f"walk-forward ({report.get('mode', 'n/a')}: train {report.get('train', 'n/a')}, "
        f"test {report.get('test', 'n/a')}, step {report.get('step', 'n/a')}), best by {by} "
        f"per train window{searched}; times UTC; each fold's out-of-sample equity starts at "
        "the previous fold's final equity"
    )


def degradation_class(efficiency: Any) -> str:
    if not isinstance(efficiency, int | float) or isinstance(efficiency, bool):
        return "unknown"
    if efficiency >= EFFICIENCY_HOLDS:
        return "holds"
    return "weak" if efficiency > 0 else "fails"


def degradation_text(d: Mapping[str, Any]) -> str:
    """Mean IS Sharpe -> mean OOS Sharpe, walk-forward efficiency, folds profitable."""
    n = d.get("n_folds")
    return (
        f"mean IS Sharpe {fmt_stat(d.get('mean_is_sharpe'))} -> mean OOS Sharpe "
        f"{fmt_stat(d.get('mean_oos_sharpe'))} (OOS/IS {fmt_stat(d.get('sharpe_ratio'))}); "
        f"stitched OOS Sharpe {fmt_stat(d.get('stitched_oos_sharpe'))}; walk-forward "
        f"efficiency {fmt_stat(d.get('walk_forward_efficiency'))} (OOS/IS annualised return "
        f"{_pct(d.get('mean_oos_annual_return'), True, 1)} / "
        f"{_pct(d.get('mean_is_annual_return'), True, 1)}); "
        f"{d.get('profitable_folds', 'n/a')}/{n if n is not None else 'n/a'} folds "
        "profitable out of sample"
    )


def stitched_text(rep: Mapping[str, Any]) -> str:
    """Span, bars and equity of the stitched out-of-sample curve (three short lines)."""
    s = rep.get("stitched") or {}
    bars = rep.get("oos_bars")
    span = (
        f"{pd.Timestamp(rep['oos_start']):%Y-%m-%d %H:%M} .. "
        f"{pd.Timestamp(rep['oos_end']):%Y-%m-%d %H:%M}"
        if rep.get("oos_start") and rep.get("oos_end")
        else "n/a"
    )
    return (
        f"stitched out-of-sample: {f'{bars:,}' if isinstance(bars, int) else 'n/a'} bars\n"
        f"{span}\nequity {_money(rep.get('initial_capital'))} -> "
        f"{_money(s.get('final_equity'))} ({_pct(s.get('total_return'), True)})"
    )


def metrics_table(stitched: Mapping[str, Any]) -> TableModel:
    """The stitched metrics, one row each, in :data:`threadx.strategy.metrics.METRIC_NAMES`
    order."""
    rows = tuple(
        (name, fmt_metric(name, stitched[name])) for name in METRIC_NAMES if name in stitched
    )
    return TableModel(METRIC_COLUMNS, rows, tuple(r[0] for r in rows))


def fold_rows(rep: Mapping[str, Any]) -> TableModel:
    """The fold table (fold, train, test, chosen parameters, IS/OOS Sharpe, OOS return,
    trades, equity), keyed by fold."""
    from threadx.sweep.walkforward import fold_table

    frame = fold_table(dict(rep)) if rep.get("folds") else pd.DataFrame()
    return table_model(frame, list(frame.columns), key="fold")


def fold_bounds(folds: Sequence[Mapping[str, Any]]) -> tuple[tuple[float, ...], Marks]:
    """Fold boundaries (each test start and the last test end, s) and a label per fold at
    the middle of its test window."""
    spans = [
        (_seconds(f["test_start"]), _seconds(f["test_end"]), f.get("fold", i))
        for i, f in enumerate(folds)
        if f.get("test_start") and f.get("test_end")
    ]
    bounds = tuple(a for a, _, _ in spans) + ((spans[-1][1],) if spans else ())
    marks = tuple(((a + b) / 2, f"fold {k}") for a, b, k in spans)
    return bounds, marks


def equity_series(curve: Mapping[str, Any] | None, n_columns: int) -> tuple[XY, int]:
    """The stitched equity (time in s, equity) at ``n_columns`` pixel columns, and its bars."""
    if not isinstance(curve, Mapping) or not curve.get("time"):
        return ((), ()), 0
    xy = decimate_xy(curve["time"], curve["equity"], max(1, n_columns))
    return xy, int(curve.get("bars") or len(curve["time"]))


def dataset_model(rep: Mapping[str, Any], n_columns: int = 1200) -> WalkForwardDataset:
    d = rep.get("degradation") or {}
    folds = [f for f in rep.get("folds") or [] if isinstance(f, Mapping)]
    bounds, marks = fold_bounds(folds)
    equity, bars = equity_series(rep.get("oos_equity"), n_columns)
    capital = rep.get("initial_capital")
    return WalkForwardDataset(
        key=f"{rep.get('symbol', '?')} {rep.get('timeframe', '?')}",
        degradation=ascii_text(degradation_text(d)),
        degradation_class=degradation_class(d.get("walk_forward_efficiency")),
        stitched=stitched_text(rep),
        metrics=metrics_table(rep.get("stitched") or {}),
        folds=fold_rows({**rep, "folds": folds}),
        equity=equity,
        bars=bars,
        boundaries=bounds,
        fold_marks=marks,
        capital=float(capital) if isinstance(capital, int | float) else None,
    )


def walk_forward_model(
    data: Mapping[str, Any] | None,
    run_id: str = "",
    *,
    note: str | None = None,
    n_columns: int = 1200,
) -> WalkForwardModel:
    """The panel's model of the driver's answer ``data``; None (or not a dict) gives a view
    that says ``note`` (default :data:`NOT_WALK_FORWARD`)."""
    if not isinstance(data, Mapping):
        return WalkForwardModel(run_id, False, note or NOT_WALK_FORWARD)
    detail = tuple(
        dataset_model(rep, n_columns)
        for rep in data.get("datasets") or []
        if isinstance(rep, Mapping)
    )
    return WalkForwardModel(run_id, True, ascii_text(header_text(data)), detail)
