"""Result shapes a client draws, computed where the results are (the sweep service): the ranked
top K in any "rank by" mode, a metric as a matrix over two swept dimensions, the Pareto scatter.

A client (the GUI) asks for these instead of pulling a run's whole result frame and re-ranking
it. Each function takes the run's result frame (read only, never modified) and returns a frozen
dataclass of plain values (the top K as a small frame); texts are the client's business. Empty or
partial results give empty shapes that say why, never invented values. No Ray, no GUI here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from threadx.sweep.results import pareto_front, rank, rank_aggregate

NO_DATA = "no data"
#: Metrics where a smaller value is better (used when the run's ranking does not say).
LOWER_IS_BETTER = frozenset({"max_drawdown", "annual_volatility", "total_fees", "ruined"})
#: The "rank by" modes: per (dataset, combination) row, or per combination across datasets.
RANK_MODES = ("none", "median", "worst")


def plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar (shapes hold plain values)."""
    return value.item() if isinstance(value, np.generic) else value


# ------------------------------------------------------------------------------------ ranking


@dataclass(frozen=True)
class Ranking:
    """The top ``k`` of a run in one "rank by" mode.

    ``rows``: the ranked rows (a ``rank`` column first), per (dataset, combination) row for
    ``mode="none"``, else one per parameter combination with its ``n_datasets``, aggregated
    metrics and ``<first metric>@<symbol>/<timeframe>`` columns. ``n_ranked``: rows (or
    combinations) ranked in all; ``partial_excluded``: combinations not on every dataset yet,
    left out of an aggregate ranking."""

    mode: str
    by: tuple[str, ...]
    rows: pd.DataFrame
    n_results: int
    n_ranked: int
    n_datasets: int
    partial_excluded: int = 0

    @property
    def empty(self) -> bool:
        return self.n_results == 0


def ranking(
    frame: pd.DataFrame | None,
    by: Sequence[str],
    k: int,
    mode: str = "none",
    datasets: Sequence[tuple[str, str]] | None = None,
) -> Ranking:
    """Top ``k`` rows of ``frame`` ranked per (dataset, combination) row (``mode="none"``) or,
    per parameter combination, by the median / worst case across ``datasets``
    (:func:`threadx.sweep.results.rank_aggregate`; combinations not on every dataset yet are left
    out and counted)."""
    if mode not in RANK_MODES:
        raise ValueError(f"rank mode must be one of {', '.join(RANK_MODES)}, got {mode!r}")
    by = tuple(by)
    ds = list(datasets) if datasets is not None else None
    if frame is None or frame.empty:
        return Ranking(mode, by, pd.DataFrame(), 0, 0, len(ds or ()))
    if mode == "none":
        top = rank(frame, list(by), limit=k)
        n_ds = len(ds) if ds is not None else _n_datasets(frame)
        return Ranking(mode, by, top, len(frame), len(frame), n_ds)
    agg = rank_aggregate(frame, list(by), mode, datasets=ds)
    n_ds = len(ds) if ds is not None else _n_datasets(frame)
    excluded = int(agg.attrs.get("partial_excluded") or 0)
    return Ranking(mode, by, agg.head(k), len(frame), len(agg), n_ds, excluded)


def _n_datasets(frame: pd.DataFrame) -> int:
    return frame.groupby(["symbol", "timeframe"]).ngroups


# ------------------------------------------------------------------------------------ heatmap


@dataclass(frozen=True)
class Heatmap:
    """A metric over one or two swept dimensions, the others held at the best row's values.

    ``kind`` is ``"heatmap"`` (``values[y][x]``), ``"line"`` (``values[0][x]``) or ``"empty"``
    (``reason`` says why). Cells without a result yet are NaN (never filled in). ``fixed`` lists
    the other dimensions and the value they are held at; ``best`` is the best row's (x, y,
    value); ``lower``: whether a smaller value is better; ``dims``: every dimension one may map
    (swept parameters, and symbol / timeframe when several)."""

    kind: str
    metric: str
    x_param: str
    y_param: str | None
    x_values: tuple[Any, ...]
    y_values: tuple[Any, ...]
    values: tuple[tuple[float, ...], ...]
    fixed: tuple[tuple[str, Any], ...]
    best: tuple[Any, Any, float] | None
    lower: bool
    dims: tuple[str, ...]
    reason: str = ""


def _lower_is_better(metric: str, rank_by: Sequence[str] = ()) -> bool:
    """Direction of ``metric``: the run's ranking decides ('-name'), else
    :data:`LOWER_IS_BETTER`."""
    for key in rank_by:
        if key.lstrip("+-") == metric:
            return key.startswith("-")
    return metric in LOWER_IS_BETTER


def _heatmap_dimensions(
    grid: Mapping[str, Sequence[Any]], frame: pd.DataFrame | None
) -> dict[str, list[Any]]:
    """Swept dimensions with their values in grid order; several symbols or timeframes count as
    dimensions too."""
    dims: dict[str, list[Any]] = {}
    if frame is not None and not frame.empty:
        for col in ("symbol", "timeframe"):
            if col in frame.columns and frame[col].nunique() > 1:
                dims[col] = list(dict.fromkeys(frame[col].tolist()))
    dims.update({k: list(v) for k, v in grid.items()})
    return dims


def _best_row(frame: pd.DataFrame, metric: str, lower: bool) -> pd.Series | None:
    vals = frame[metric].to_numpy(dtype=np.float64)
    ok = np.isfinite(vals)
    if not ok.any():
        return None
    pick = np.where(ok, vals, np.inf if lower else -np.inf)
    return frame.iloc[int(np.argmin(pick) if lower else np.argmax(pick))]


def heatmap(
    frame: pd.DataFrame | None,
    grid: Mapping[str, Sequence[Any]],
    metric: str,
    x: str | None,
    y: str | None = None,
    rank_by: Sequence[str] = (),
) -> Heatmap:
    """``metric`` over ``x`` (columns) and ``y`` (rows) of the results ``frame``.

    The other dimensions (see :func:`_heatmap_dimensions`) are held at the values of the row with
    the best ``metric``. A one-dimension grid (or ``y`` missing or equal to ``x``) gives a line;
    a grid without swept parameters gives an empty shape saying so."""
    dims = _heatmap_dimensions(grid, frame)
    lower = _lower_is_better(metric, rank_by)

    def empty(x: str, y: str | None, why: str) -> Heatmap:
        return Heatmap("empty", metric, x, y, (), (), (), (), None, lower, tuple(dims), why)

    if frame is None or frame.empty:
        return empty(x or "", y, NO_DATA)
    if not dims:
        return empty(x or "", y, "no swept parameter: nothing to map")
    x = x if x in dims else next(iter(dims))
    if y == x or y not in dims:
        y = None
    best = _best_row(frame, metric, lower)
    if best is None:
        return empty(x, y, f"no finite {metric} yet")
    others = [d for d in dims if d not in (x, y)]
    fixed = tuple((d, plain(best[d])) for d in others)
    sel = frame
    for d, v in fixed:
        sel = sel[sel[d] == v]
    xs, ys = dims[x], (dims[y] if y else [None])
    ys_of = sel[y] if y else [None] * len(sel)
    cell = {
        (plain(a), plain(b)): float(v) for a, b, v in zip(sel[x], ys_of, sel[metric], strict=True)
    }
    values = tuple(tuple(cell.get((xv, yv), math.nan) for xv in xs) for yv in ys)
    best_cell = (plain(best[x]), plain(best[y]) if y else None, float(best[metric]))
    return Heatmap(
        "heatmap" if y else "line",
        metric,
        x,
        y,
        tuple(xs),
        tuple(ys) if y else (),
        values,
        fixed,
        best_cell,
        lower,
        tuple(dims),
    )


# ------------------------------------------------------------------------------------ pareto

XY = tuple[tuple[float, ...], tuple[float, ...]]


@dataclass(frozen=True)
class Pareto:
    """Every result as a cloud (every ``step``-th row beyond ``max_points``) and the Pareto
    front (max ``y_metric``, min ``x_metric``) ordered along x, with its combination ids;
    points with a non-finite coordinate are not drawn (``n_front`` counts the whole front)."""

    x_metric: str
    y_metric: str
    cloud: XY
    front: XY
    front_ids: tuple[int, ...]
    n_results: int
    step: int
    n_front: int


def pareto(
    results: pd.DataFrame | None,
    x_metric: str = "max_drawdown",
    y_metric: str = "sharpe",
    max_points: int = 50_000,
    front: pd.DataFrame | None = None,
) -> Pareto:
    """The Pareto scatter of ``results`` (``front``: its front when already known)."""
    if results is None or results.empty:
        return Pareto(x_metric, y_metric, ((), ()), ((), ()), (), 0, 1, 0)
    step = max(1, math.ceil(len(results) / max_points))
    cloud = _xy(results.iloc[::step], x_metric, y_metric)
    if front is None:
        front = pareto_front(results, maximize=y_metric, minimize=x_metric)
    if front.empty:
        return Pareto(x_metric, y_metric, cloud, ((), ()), (), len(results), step, 0)
    f = front.sort_values(x_metric, kind="mergesort")
    return Pareto(
        x_metric,
        y_metric,
        cloud,
        _xy(f, x_metric, y_metric),
        tuple(int(v) for v in f["combo_id"]),
        len(results),
        step,
        len(f),
    )


def _xy(frame: pd.DataFrame, x: str, y: str) -> XY:
    keep = np.isfinite(frame[x].astype(float)) & np.isfinite(frame[y].astype(float))
    sub = frame[keep]
    return tuple(map(float, sub[x])), tuple(map(float, sub[y]))
