"""Execution: a dataset's whole grid prepared ONCE, then tasks through the fused kernel into Arrow.

:func:`prepare_dataset` does, once per (dataset, spec), everything that does not depend on which
chunk runs: the grid's parameter columns, validated one distinct value at a time and coded
arithmetically (no frame of combinations is ever built), the parameter matrix ``P`` of every
combination, the indicator banks (one row per distinct indicator parameter: Bollinger middle/sd,
ATR, trend EMA) and the band-crossing bits (one row per distinct ``(bb_period, bb_std,
direction)``). A task is then a row range of that grid: :func:`run_task` slices ``P`` and the
crossing rows (views), runs the kernel and turns its ``out`` matrix into one Arrow table (ids,
parameters, metrics, statistics, block sums) without a pandas frame in between.

Local runs prepare each dataset once per run (:class:`threadx.sweep.run.InProcessExecutor`);
Ray workers prepare it once per (worker, run), with the indicator arrays served by the
IndicatorCache actor (the same :mod:`threadx.sweep.cache`), so no chunk recomputes a bank.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from threadx.kernels import crossing_bank, out_names, resolve_backend, run_sweep
from threadx.kernels.layout import PackedSweep
from threadx.strategy.metrics import INT_METRICS
from threadx.strategy.pack import (
    IndicatorFn,
    IndicatorKey,
    ParamColumn,
    bank_requests,
    pack_columns,
    validated_value,
)
from threadx.strategy.params import PARAM_NAMES, StrategyParams, params_from_mapping
from threadx.sweep.dataset import Dataset
from threadx.sweep.halving import STAGE_COLUMN
from threadx.sweep.plan import Task
from threadx.sweep.spec import SweepSpec


def grid_columns(
    spec: SweepSpec, start: int = 0, stop: int | None = None
) -> dict[str, ParamColumn]:
    """Rows ``start:stop`` of one dataset's grid as coded columns, one per parameter of
    ``PARAM_NAMES``: each distinct value validated once (as :func:`~threadx.strategy.pack.pack`
    does, so ``20.0`` becomes ``20``), row ``r``'s code computed from ``r`` (row-major order of
    :meth:`SweepSpec.grid_values`, the order of :meth:`SweepSpec.param_frame`)."""
    grid = spec.grid_values()
    total = spec.combos_per_dataset()
    stop = total if stop is None else min(stop, total)
    idx = np.arange(start, stop, dtype=np.int64)
    sizes = [len(v) for v in grid.values()]
    strides = np.cumprod([1, *sizes[::-1]])[::-1][1:] if sizes else []
    fixed = params_from_mapping(spec.fixed)
    cols: dict[str, ParamColumn] = {}
    for (name, vals), size, stride in zip(grid.items(), sizes, strides, strict=True):
        codes = (idx // int(stride)) % size
        checked = [
            validated_value(name, v, lambda j=j, codes=codes: start + int(np.argmax(codes == j)))
            for j, v in enumerate(vals)
        ]
        cols[name] = ParamColumn(checked, codes)
    zeros = np.zeros(len(idx), dtype=np.int64)
    for name in PARAM_NAMES:
        if name not in cols:
            cols[name] = ParamColumn([getattr(fixed, name)], zeros)
    return {name: cols[name] for name in PARAM_NAMES}


def grid_indicator_requests(spec: SweepSpec) -> list[IndicatorKey]:
    """The distinct indicator requests of one dataset's whole grid, in bank-row order."""
    return bank_requests(grid_columns(spec))


@dataclass(frozen=True)
class PreparedDataset:
    """One dataset's whole grid, ready for the kernel (see the module docstring)."""

    symbol: str
    timeframe: str
    bar_minutes: float
    first_ns: int
    last_ns: int
    fold: int | None
    blocks: int
    columns: dict[str, ParamColumn]
    packed: PackedSweep
    cross_bits: np.ndarray
    cross_row: np.ndarray

    @property
    def n_combos(self) -> int:
        return self.packed.n_combos

    @property
    def nbytes(self) -> int:
        codes = sum(c.codes.nbytes for c in self.columns.values())
        return int(self.packed.nbytes + self.cross_bits.nbytes + self.cross_row.nbytes + codes)


def prepare_dataset(
    spec: SweepSpec, dataset: Dataset, indicator_fn: IndicatorFn | None = None
) -> PreparedDataset:
    """The grid of ``spec`` on ``dataset``: parameter matrix, indicator banks (computed, or taken
    from ``indicator_fn(name, args)``, e.g. the IndicatorCache) and crossing bits."""
    return prepare_columns(grid_columns(spec), dataset, spec.report.blocks, indicator_fn)


def prepare_columns(
    cols: dict[str, ParamColumn],
    dataset: Dataset,
    blocks: int,
    indicator_fn: IndicatorFn | None = None,
) -> PreparedDataset:
    """The combinations of ``cols`` (a grid's, or a search batch's) on ``dataset``, prepared as
    :func:`prepare_dataset` says; ``blocks``: the report's time blocks."""
    ohlc = (dataset.open, dataset.high, dataset.low, dataset.close)
    packed = pack_columns(cols, ohlc, indicator_fn=indicator_fn)
    bits, row = crossing_bank(packed)
    return PreparedDataset(
        dataset.symbol,
        dataset.timeframe,
        float(dataset.bar_minutes),
        int(dataset.times_ns[0]),
        int(dataset.times_ns[-1]),
        dataset.fold,
        blocks,
        cols,
        packed,
        bits,
        row,
    )


def run_task(
    prep: PreparedDataset, task: Task, backend: str = "cpu", device: str | None = None
) -> pa.Table:
    """The results part of ``task`` (rows ``task.start:task.stop`` of the prepared grid)."""
    resolved = resolve_backend(backend)
    a, b = task.start, task.stop
    sub = prep.packed.take(slice(a, b))
    out = run_sweep(
        sub,
        prep.first_ns,
        prep.last_ns,
        prep.bar_minutes,
        backend=resolved,
        blocks=prep.blocks,
        cross=(prep.cross_bits, prep.cross_row[a:b]),
    )
    return _results_table(prep, task, out, device or resolved)


def execute_task(
    dataset: Dataset,
    spec: SweepSpec,
    task: Task,
    backend: str = "cpu",
    device: str | None = None,
    indicator_fn: IndicatorFn | None = None,
) -> pa.Table:
    """One task on its own (prepares the dataset for it alone): tests and one-off calls. A run
    prepares each dataset once and calls :func:`run_task`."""
    return run_task(prepare_dataset(spec, dataset, indicator_fn), task, backend, device)


# -- the results part, columnar ---------------------------------------------------------------
_PARAM_TYPES: dict[Any, pa.DataType] = {int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _repeat_str(value: str, n: int) -> pa.Array:
    return _coded_str([value], np.zeros(n, dtype=np.int32))


def _coded_str(values: list[Any], codes: np.ndarray) -> pa.Array:
    """A string column from distinct values and codes (built in Arrow, no Python loop)."""
    dictionary = pa.array([str(v) for v in values], type=pa.string())
    return pa.DictionaryArray.from_arrays(codes.astype(np.int32), dictionary).cast(pa.string())


def _param_array(column: ParamColumn, name: str, rows: slice) -> pa.Array:
    """Rows ``rows`` of a coded parameter column, typed as the parameter (int64, float64, bool,
    or string for the named choices)."""
    codes = column.codes[rows]
    kind = _PARAM_TYPES.get(StrategyParams.model_fields[name].annotation)
    if kind is None:
        return _coded_str(column.values, codes)
    dtype = {pa.int64(): np.int64, pa.float64(): np.float64, pa.bool_(): np.bool_}[kind]
    return pa.array(np.asarray(column.values, dtype=dtype)[codes], type=kind)


def _results_table(prep: PreparedDataset, task: Task, out: np.ndarray, device: str) -> pa.Table:
    """Ids, every parameter, every metric (ints/bools where integral), the statistics and block
    sums of one task, as one Arrow table: the part written to the run store."""
    n = task.size
    rows = slice(task.start, task.stop)
    arrays: dict[str, pa.Array] = {
        "combo_id": pa.array(task.combo_offset + np.arange(task.start, task.stop, dtype=np.int64)),
        "task_id": pa.array(np.full(n, task.task_id, dtype=np.int64)),
        "symbol": _repeat_str(prep.symbol, n),
        "timeframe": _repeat_str(prep.timeframe, n),
        "device": _repeat_str(device, n),
    }
    if prep.fold is not None:  # a walk-forward fold's train window
        arrays["fold"] = pa.array(np.full(n, prep.fold, dtype=np.int64))
    for name in PARAM_NAMES:
        arrays[name] = _param_array(prep.columns[name], name, rows)
    for j, name in enumerate(out_names(prep.blocks)):
        col = out[:, j]
        if name == "ruined":
            arrays[name] = pa.array(col != 0.0)
        elif name in INT_METRICS:
            arrays[name] = pa.array(col.astype(np.int64))
        else:
            arrays[name] = pa.array(np.ascontiguousarray(col))
    return pa.table(arrays)


def as_frame(part: Any) -> Any:
    """A results part as a pandas frame (parts are Arrow tables; frames pass through)."""
    return part.to_pandas() if isinstance(part, pa.Table) else part


def device_counts(part: Any) -> Mapping[str, int]:
    """Combinations per device of a results part (Arrow table or frame): its rows, or under
    successive halving (a ``stage`` column) its distinct combo ids, each trial once however
    many stages it ran (a trial's stages are one evaluation, on one device)."""
    if isinstance(part, pa.Table):
        if STAGE_COLUMN in part.column_names:
            part = part.group_by(["device", "combo_id"]).aggregate([])
        counts = part.column("device").value_counts()
        return {str(v["values"]): int(v["counts"]) for v in counts.to_pylist()}
    if STAGE_COLUMN in part.columns:
        part = part.drop_duplicates(["device", "combo_id"])
    return {str(k): int(v) for k, v in part["device"].value_counts().items()}
