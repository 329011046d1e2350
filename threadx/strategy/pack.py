"""Strategy parameters -> the kernels' arrays: validation, bank planning, indicator banks, ``P``.

The layer between the STRATEGY.md parameters (:class:`~threadx.strategy.params.StrategyParams`)
and the kernels' array contract (:mod:`threadx.kernels.layout`, which imports nothing from here):

* :func:`normalised_columns` validates combinations one *distinct value* per column at a time and
  returns them coded (:class:`ParamColumn`: values + each row's index), never one row at a time;
* :func:`bank_requests` / :func:`required_indicators` plan the indicator banks: one row per
  distinct indicator parameter, as *requests* ``(name, args)`` -- ``("bb", (period,))`` (a
  ``2 x n_bars`` array ``[middle; sd]``), ``("atr", (period, method))`` and ``("ema", (period,))``
  (1-D); :func:`compute_indicator` computes one with :mod:`threadx.strategy.indicators`;
* :func:`pack` / :func:`pack_columns` build the :class:`~threadx.kernels.layout.PackedSweep`:
  the banks (computed, or taken from a cache with ``indicator_fn``, e.g. ``threadx.sweep.cache``)
  and the parameter matrix ``P`` whose columns are the layout's ``C_*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from threadx.core.errors import ConfigError
from threadx.kernels.layout import (
    C_ATR_IDX,
    C_BB_IDX,
    C_DIRECTION,
    C_READY_FROM,
    C_TREND_IDX,
    DIRECTION_CODES,
    N_PARAMS,
    PARAM_COLUMNS,
    PackedSweep,
)


def _as_frame(params: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(params, pd.DataFrame):
        return params.reset_index(drop=True)
    rows = [dict(p) for p in params]
    # one row per mapping, even an empty one (= all defaults); from_records([{}]) has no rows
    return pd.DataFrame(rows, index=pd.RangeIndex(len(rows))) if rows else pd.DataFrame()


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def normalise_params(params: Iterable[Mapping[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """Validate combinations with ``StrategyParams`` and return one column per parameter.

    Missing parameters (absent columns, or keys absent from some dicts) take their defaults.
    Every rule of STRATEGY.md is a per-parameter rule, so each *distinct value* of each column is
    validated once (``StrategyParams(**{name: value})``) instead of each row: validation costs
    O(distinct values), not O(combinations). Unknown names raise the model's error, which lists the
    known ones. Errors are :class:`~threadx.core.errors.ConfigError` (a ``ValueError``) naming the
    first offending combination, the parameter and the rule.
    """
    from threadx.strategy.params import PARAM_NAMES

    cols = normalised_columns(params)
    return pd.DataFrame(
        {name: cols[name].tolist() for name in PARAM_NAMES}, columns=list(PARAM_NAMES)
    )


class ParamColumn(NamedTuple):
    """A validated parameter column: its distinct validated values and each row's index into them
    (row ``r`` holds ``values[codes[r]]``), so that pack works on arrays, not rows."""

    values: list[Any]
    codes: np.ndarray  # int64

    def tolist(self) -> list[Any]:
        return [self.values[c] for c in self.codes.tolist()]

    def array(self, dtype: Any) -> np.ndarray:
        return np.asarray(self.values, dtype=dtype)[self.codes]


def normalised_columns(
    params: Iterable[Mapping[str, Any]] | pd.DataFrame,
) -> dict[str, ParamColumn]:
    """The columns of :func:`normalise_params`, coded (:class:`ParamColumn`; no frame built)."""
    from threadx.strategy.params import PARAM_NAMES, StrategyParams

    frame = _as_frame(params)
    unknown = [c for c in frame.columns if c not in PARAM_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown}; known parameters are: {', '.join(PARAM_NAMES)}"
        )
    defaults = StrategyParams()
    cols: dict[str, ParamColumn] = {}
    for name in PARAM_NAMES:
        default = getattr(defaults, name)
        if name not in frame.columns:
            cols[name] = ParamColumn([default], np.zeros(len(frame), dtype=np.int64))
        else:
            cols[name] = _validated_column(frame[name], name, default)
    return cols


def _validated_column(column: pd.Series, name: str, default: Any) -> ParamColumn:
    """``column``'s values validated one distinct ``(type, value)`` at a time, missing ones
    (None, NaN) replaced by ``default``; the error names the first offending row."""
    if _one_python_type(column):
        # pandas finds the distinct values (first-seen order, NaN -> code -1) without a Python
        # loop over the rows; one Python type per column, so value equality is (type, value)'s
        codes, uniques = pd.factorize(column.to_numpy(), use_na_sentinel=True)
        checked = [
            validated_value(name, v, lambda j=j: int(np.argmax(codes == j)))
            for j, v in enumerate(uniques.tolist())
        ]
        if (codes < 0).any():
            checked.append(validated_value(name, default, lambda: int(np.argmax(codes < 0))))
            codes = np.where(codes < 0, len(checked) - 1, codes)  # the default, appended last
        return ParamColumn(checked, codes.astype(np.int64))
    index: dict[tuple[type, Any], int] = {}
    checked = []
    codes = np.empty(len(column), dtype=np.int64)
    for row, v in enumerate(column.tolist()):
        v = default if _missing(v) else _plain(v)
        key = (type(v), v)
        if key not in index:
            index[key] = len(checked)
            checked.append(validated_value(name, v, lambda row=row: row))
        codes[row] = index[key]
    return ParamColumn(checked, codes)


def _one_python_type(column: pd.Series) -> bool:
    """Whether every value of ``column`` becomes the same Python type (numeric or bool numpy
    dtype, NaN being the only missing value; or object values that are all ``str``)."""
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biuf":
        return True
    return column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) == "string"


def validated_value(name: str, value: Any, row: Callable[[], int]) -> Any:
    """``StrategyParams``' value of parameter ``name`` given ``value``; ``ConfigError`` naming
    combination ``row()`` when the rule rejects it."""
    from threadx.strategy.params import StrategyParams

    try:
        return getattr(StrategyParams(**{name: value}), name)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        detail = " ".join(str(exc).split())
        raise ConfigError(
            f"combination {row()}: invalid parameter {name} = {value!r}: {detail}"
        ) from None


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def _leading_nans(row: np.ndarray) -> int:
    """Number of leading NaNs; raises if a NaN follows a defined value (banks are prefix-NaN)."""
    nan = np.isnan(row)
    lead = int(np.argmin(nan)) if not nan.all() else row.shape[0]
    if nan[lead:].any():
        raise ValueError("indicator bank has a NaN after its first defined value")
    return lead


def _enum(values: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Distinct values in first-seen order (Python scalars) and the row index of each value."""
    codes, uniques = pd.factorize(values)
    return uniques.tolist(), codes.astype(np.int64)


def _bars(x: Any) -> np.ndarray:
    """``x`` as a writable C-contiguous float64 array: copied when it is read-only (bars from
    Ray's object store), so that the kernels see ONE argument type from every caller and numba
    caches one entry per kernel for in-process sweeps and Ray workers alike."""
    a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    return a if a.flags.writeable else a.copy()


# one indicator request: ("bb", (period,)), ("atr", (period, method)) or ("ema", (period,))
IndicatorKey = tuple[str, tuple]

INDICATOR_NAMES: tuple[str, ...] = ("bb", "atr", "ema")


@dataclass(frozen=True)
class _BankPlan:
    """Distinct bank rows (first-seen order) and each combination's row in every bank."""

    bb_periods: list[int]
    bb_idx: np.ndarray
    atr_keys: list[tuple[int, str]]
    atr_idx: np.ndarray
    trend_periods: list[int]
    trend_idx: np.ndarray  # -1 when the trend filter is off

    def requests(self) -> list[IndicatorKey]:
        return (
            [("bb", (p,)) for p in self.bb_periods]
            + [("atr", k) for k in self.atr_keys]
            + [("ema", (p,)) for p in self.trend_periods]
        )


def _plan_banks(cols: Mapping[str, ParamColumn]) -> _BankPlan:
    """Bank rows of normalised parameters (the columns of :func:`normalised_columns`)."""
    bb_periods, bb_idx = _enum(cols["bb_period"].array(np.int64))
    periods = cols["atr_period"].array(np.int64)
    methods, method_code = _enum(np.asarray(cols["atr_method"].tolist(), dtype=object))
    pairs, atr_idx = _enum(periods * max(len(methods), 1) + method_code)  # first-seen (p, m)
    atr_keys = [(p // len(methods), str(methods[p % len(methods)])) for p in pairs]
    trend_vals = cols["trend_period"].array(np.int64)
    trend_periods, _ = _enum(trend_vals[trend_vals > 0])
    trend_idx = np.full(len(trend_vals), -1, dtype=np.int64)
    on = trend_vals > 0
    trend_idx[on] = _enum(trend_vals[on])[1]
    return _BankPlan(bb_periods, bb_idx, atr_keys, atr_idx, trend_periods, trend_idx)


def bank_requests(cols: Mapping[str, ParamColumn]) -> list[IndicatorKey]:
    """:func:`required_indicators` of already validated, coded columns."""
    return _plan_banks(cols).requests()


def required_indicators(
    params: Iterable[Mapping[str, Any]] | pd.DataFrame,
) -> list[IndicatorKey]:
    """The distinct indicator requests of a set of combinations (validated like :func:`pack`).

    Order is deterministic: all ``"bb"`` requests, then ``"atr"``, then ``"ema"`` (trend periods
    > 0 only), each in first-seen order of the combinations -- the order of :func:`pack`'s bank
    rows. Arguments are plain Python ``int``/``str``, so keys hash and pickle the same everywhere.
    """
    return _plan_banks(normalised_columns(params)).requests()


def compute_indicator(
    name: str, args: tuple, open: Any, high: Any, low: Any, close: Any
) -> np.ndarray:
    """Compute one indicator request with :mod:`threadx.strategy.indicators` (float64,
    C-contiguous).

    ``"bb"``: ``(period,)`` -> ``2 x n`` array ``[middle; sd]`` (``bollinger(close, period, 1)``);
    ``"atr"``: ``(period, method)`` -> ``atr(high, low, close, period, method)``;
    ``"ema"``: ``(period,)`` -> ``ema(close, period)``. ``open`` is accepted for a uniform
    signature (no indicator reads it).
    """
    from threadx.strategy import indicators

    arity = {"bb": 1, "atr": 2, "ema": 1}
    if name not in arity:
        raise ValueError(f"unknown indicator {name!r}; known: {', '.join(INDICATOR_NAMES)}")
    if not isinstance(args, tuple) or len(args) != arity[name]:
        raise ValueError(f"indicator {name!r} takes {arity[name]} argument(s), got {args!r}")
    c = _bars(close)
    if name == "bb":
        out = np.empty((2, c.shape[0]))
        _bollinger_middle_sd(c, int(args[0]), out[0], out[1])
        return out
    if name == "atr":
        return _bars(indicators.atr(_bars(high), _bars(low), c, int(args[0]), method=str(args[1])))
    return _bars(indicators.ema(c, int(args[0])))


def _bollinger_middle_sd(
    close: np.ndarray, period: int, middle: np.ndarray, sd: np.ndarray
) -> None:
    """``middle`` and ``sd`` of ``indicators.bollinger(close, period, k)`` (the same function,
    :func:`~threadx.strategy.indicators.rolling_mean_std`, so bit-identical), written straight into
    the given rows, without forming the bands."""
    from threadx.strategy import indicators

    if period < 2:
        raise ValueError(f"period must be an integer >= 2, got {period!r}")
    indicators.rolling_mean_std(close, period, out=(middle, sd))


IndicatorFn = Callable[[str, tuple], np.ndarray]


def _row(fn: IndicatorFn, name: str, args: tuple, shape: tuple[int, ...]) -> np.ndarray:
    """``fn(name, args)``, checked: float64 of the expected shape (never converted silently)."""
    arr = np.asarray(fn(name, args))
    if arr.dtype != np.float64 or arr.shape != shape:
        raise ValueError(
            f"indicator {name}{args}: expected a float64 array of shape {shape}, "
            f"got {arr.dtype} {arr.shape}"
        )
    return arr


# bars from which pack() computes the bank rows in parallel threads (numpy releases the GIL)
_PARALLEL_MIN_BARS = 20_000


def _empty_banks(plan: _BankPlan, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Uninitialised ``(middle, sd, atr, trend)`` banks: C-contiguous row blocks of ONE
    allocation. (Several multi-MiB arrays allocated and freed per sweep chunk make glibc hand
    their pages back to the OS and fault them in again every time: ~2 ms per chunk at 131k bars.)
    """
    nb, na, nt = len(plan.bb_periods), len(plan.atr_keys), len(plan.trend_periods)
    block = np.empty((2 * nb + na + nt, n))
    return block[:nb], block[nb : 2 * nb], block[2 * nb : 2 * nb + na], block[2 * nb + na :]


def _compute_banks(
    plan: _BankPlan, high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The banks of :func:`_build_banks` with :func:`compute_indicator`, each row computed
    straight into its bank (no intermediate copy) and the rows spread over the CPU's threads:
    the same functions on the same inputs, so bit-identical."""
    from threadx.strategy import indicators

    n = close.shape[0]
    middle, sd, atr, trend = _empty_banks(plan, n)

    def bb_row(j: int) -> None:
        _bollinger_middle_sd(close, plan.bb_periods[j], middle[j], sd[j])

    def atr_row(j: int) -> None:
        period, method = plan.atr_keys[j]
        atr[j] = indicators.atr(high, low, close, period, method=method)

    def trend_row(j: int) -> None:
        trend[j] = indicators.ema(close, plan.trend_periods[j])

    jobs = (
        [(bb_row, j) for j in range(len(plan.bb_periods))]
        + [(atr_row, j) for j in range(len(plan.atr_keys))]
        + [(trend_row, j) for j in range(len(plan.trend_periods))]
    )
    workers = min(len(jobs), _cpu_threads()) if n >= _PARALLEL_MIN_BARS else 1
    if workers <= 1:
        for job, j in jobs:
            job(j)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(job, j) for job, j in jobs]:
                future.result()
    return middle, sd, atr, trend


def _cpu_threads() -> int:
    """CPUs this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _build_banks(
    plan: _BankPlan, n: int, fn: IndicatorFn
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(middle, sd, atr, trend)`` banks filled row by row from ``fn``."""
    middle, sd, atr, trend = _empty_banks(plan, n)
    for j, p in enumerate(plan.bb_periods):
        bb = _row(fn, "bb", (p,), (2, n))
        middle[j], sd[j] = bb[0], bb[1]
    for j, key in enumerate(plan.atr_keys):
        atr[j] = _row(fn, "atr", key, (n,))
    for j, p in enumerate(plan.trend_periods):
        trend[j] = _row(fn, "ema", (p,), (n,))
    return middle, sd, atr, trend


def pack(
    params: Iterable[Mapping[str, Any]] | pd.DataFrame,
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    *,
    indicator_fn: IndicatorFn | None = None,
) -> PackedSweep:
    """Validate ``params`` (dicts or a frame of STRATEGY.md parameters), build the indicator banks
    with :mod:`threadx.strategy.indicators` and the parameter matrix ``P``.

    Banks are computed on the host (numpy); the GPU backend uploads them once per sweep. With
    ``indicator_fn(name, args)`` (e.g. an indicator cache) the bank rows are taken from it instead
    of computed: it must return what :func:`compute_indicator` returns for that request (float64,
    same shape; checked), so the packed sweep is bit-identical.
    """
    return pack_columns(
        normalised_columns(params), (open, high, low, close), indicator_fn=indicator_fn
    )


def pack_columns(
    cols: Mapping[str, ParamColumn],
    ohlc: tuple[Any, Any, Any, Any],
    *,
    indicator_fn: IndicatorFn | None = None,
) -> PackedSweep:
    """:func:`pack` of already validated, coded parameter columns (one :class:`ParamColumn` per name
    of ``PARAM_NAMES``; e.g. a sweep's whole grid, coded arithmetically without a frame) and the
    bars ``ohlc = (open, high, low, close)``."""
    o, h, lo, c = (_bars(x) for x in ohlc)
    n = c.shape[0]
    if not (o.shape == h.shape == lo.shape == c.shape) or c.ndim != 1:
        raise ValueError("open, high, low, close must be 1-D arrays of the same length")
    if n < 2:
        raise ValueError(f"at least 2 bars are needed, got {n}")
    m = len(cols["bb_std"].codes)
    plan = _plan_banks(cols)
    if indicator_fn is None:
        middle, sd, atr, trend = _compute_banks(plan, h, lo, c)
    else:
        middle, sd, atr, trend = _build_banks(plan, n, indicator_fn)
    bb_idx, atr_idx, trend_idx = plan.bb_idx, plan.atr_idx, plan.trend_idx

    bb_lead = np.array(
        [max(_leading_nans(middle[j]), _leading_nans(sd[j])) for j in range(len(plan.bb_periods))],
        dtype=np.int64,
    )
    atr_lead = np.array([_leading_nans(atr[j]) for j in range(len(plan.atr_keys))], dtype=np.int64)
    # one extra 0 at the end: trend_idx -1 (filter off) indexes it
    trend_lead = np.array(
        [_leading_nans(trend[j]) for j in range(len(plan.trend_periods))] + [0], dtype=np.int64
    )

    P = np.empty((m, N_PARAMS))
    # the columns before C_BB_IDX are the strategy parameters named in PARAM_COLUMNS, as floats
    # (trailing_stop 1.0 / 0.0, the direction as its code)
    for col, name in enumerate(PARAM_COLUMNS[:C_BB_IDX]):
        values = cols[name].values
        if col == C_DIRECTION:
            values = [DIRECTION_CODES[str(d)] for d in values]
        P[:, col] = np.asarray(values, dtype=np.float64)[cols[name].codes]
    P[:, C_BB_IDX] = bb_idx
    P[:, C_ATR_IDX] = atr_idx
    P[:, C_TREND_IDX] = trend_idx
    # ready at t when defined at t and t-1: t - 1 >= leading NaNs of each bank row used
    lead = np.maximum(np.maximum(bb_lead[bb_idx], atr_lead[atr_idx]), trend_lead[trend_idx])
    P[:, C_READY_FROM] = lead + 1
    return PackedSweep(
        o,
        h,
        lo,
        c,
        middle,
        sd,
        atr,
        trend,
        np.ascontiguousarray(P),
        tuple(plan.bb_periods),
        tuple(plan.atr_keys),
        tuple(plan.trend_periods),
    )
