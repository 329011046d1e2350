"""Sweep specifications: what to sweep (data x parameter grid), how to rank, where to run.

A spec is a pydantic model mirrored by ``configs/sweeps/*.toml``::

    name = "demo"
    backend = "auto"                         # auto | cpu | gpu

    [data]
    symbols = ["BTCUSDT"]
    timeframes = ["15m", "1h"]
    start = "2023-03-01"                     # optional, UTC, inclusive
    end = "2023-03-22"                       # optional, UTC, exclusive
    allow_gaps = false

    [grid]                                   # each parameter: a list or {start, stop, step}
    bb_period = { start = 10, stop = 50, step = 5 }
    bb_std = [1.5, 2.0, 2.5]

    [fixed]                                  # parameters held constant (default: STRATEGY.md's)
    fee_bps = 4.5

    [rank]
    by = ["sharpe", "-max_drawdown"]         # '-' = lower is better
    top_k = 20
    aggregate = "none"                       # none | median | worst (across symbols x timeframes)

    [walk_forward]                           # optional: walk-forward analysis
    train = "7d"                             # durations: whole number + m | h | d | w
    test = "2d"
    step = "2d"                              # default: test; must be >= test
    mode = "rolling"                         # rolling | anchored

    [search]                                 # optional: sample the grid instead of sweeping it
    method = "tpe"                           # grid | random | sobol | tpe | nsga2
    trials = 20000                           # the budget: distinct combinations evaluated
    batch = 256                              # trials per chunk (one kernel call); default: auto
    seed = 0
    halving = { start = 0.25, keep = 0.25 }  # optional: successive halving on data length

The grid is the full cartesian product of every listed parameter and of symbols x timeframes.
Ranges are inclusive and generated in decimal arithmetic (``0.1`` steps give ``0.3``, not
``0.30000000000000004``). :meth:`SweepSpec.count` counts combinations without building them.

``[rank] aggregate`` ranks each parameter combination once, by the median or the worst case of
its ranked metrics across all the sweep's datasets (symbols x timeframes; see
:func:`threadx.sweep.results.rank_aggregate`); ``"none"`` ranks every (dataset, combination) row
on its own. With a single dataset an aggregate is allowed and equals that dataset's values.

``[search]`` (:class:`SearchSpec`) evaluates ``trials`` combinations of the grid's space instead
of all of them, ``batch`` per chunk (see :mod:`threadx.sweep.search`); ``method = "grid"`` (the
default) is the full product, as without the table, and leaves the run id unchanged.

``[walk_forward]`` turns the sweep into a walk-forward analysis (see
:mod:`threadx.sweep.walkforward`): the grid is swept (or, with a sampling ``[search]``, searched:
``trials`` per fold) on each fold's train window, the best combination by ``[rank]`` is evaluated
on the following test window.
"""

from __future__ import annotations

import itertools
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from threadx.core.errors import ConfigError, DataError, ThreadXError
from threadx.core.hashing import sha256_json
from threadx.core.models import KeyedError, StrictModel, format_validation_error, load_toml
from threadx.core.units import MINUTES_PER_DAY, MINUTES_PER_HOUR, MINUTES_PER_WEEK
from threadx.core.utc import as_utc
from threadx.data.resample import normalize_timeframe, timeframe_minutes
from threadx.data.schema import validate_exchange, validate_symbol
from threadx.kernels.layout import prepared_bytes
from threadx.strategy.metrics import METRIC_NAMES, STAT_NAMES
from threadx.strategy.params import PARAM_NAMES, params_from_mapping
from threadx.sweep.halving import stage_counts
from threadx.sweep.searchspec import SearchSpec

MAX_RANGE_VALUES = 100_000
# Bytes of one result row: parameters + metrics + ids, as float64/int64.
# (+ the report's statistics and block sums: ReportSpec.blocks more columns)
RESULT_ROW_BYTES = 8 * (len(PARAM_NAMES) + len(METRIC_NAMES) + len(STAT_NAMES) + 4)
# Memory model of estimate_memory_bytes (calibrated with benchmarks/bench_pipeline.py):
# resident size of a process that has imported the pipeline and loaded the compiled kernels
PROCESS_BASE_BYTES = 360 * 2**20
LOAD_COPIES = 3  # copies of the 1-minute rows alive while a dataset is read and resampled
RESULT_COPIES = 2  # result rows: the run's parts and the frame they become
# per combination, the overfitting report's working set: its block-return matrix (blocks
# float64) and a few per-strategy columns
REPORT_ROW_COLUMNS = 8


class RangeSpec(StrictModel):
    """An inclusive arithmetic range ``start, start+step, ..., <= stop`` without float drift."""

    start: float | int
    stop: float | int
    step: float | int = 1

    @model_validator(mode="after")
    def _check(self) -> RangeSpec:
        if not self.step > 0:
            raise ValueError(f"step must be > 0, got {self.step}")
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) must be >= start ({self.start})")
        n = math.floor(
            (Decimal(str(self.stop)) - Decimal(str(self.start))) / Decimal(str(self.step))
        )
        if n + 1 > MAX_RANGE_VALUES:
            raise ValueError(f"range has {n + 1} values, more than {MAX_RANGE_VALUES}")
        return self

    def values(self) -> list[float | int]:
        start, stop, step = (Decimal(str(x)) for x in (self.start, self.stop, self.step))
        n = int((stop - start) / step)
        vals = [start + i * step for i in range(n + 1)]
        integral = all(isinstance(x, int) for x in (self.start, self.stop, self.step))
        return [int(v) if integral else float(v) for v in vals]


GridValue = list[Any] | RangeSpec


class DataSpec(StrictModel):
    symbols: list[str] = Field(..., min_length=1, description="Symbols to sweep (store names).")
    exchange: str | None = Field(None, description="Exchange; needed when a symbol is on several.")
    timeframes: list[str] = Field(["1h"], min_length=1, description="Timeframes (from 1m).")
    start: str | None = Field(None, description="First bar (UTC, inclusive); default: all data.")
    end: str | None = Field(None, description="End (UTC, exclusive); default: all data.")
    allow_gaps: bool = Field(False, description="Run on data with more than 5 % missing minutes.")

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, v: list[str]) -> list[str]:
        out = [validate_symbol(s.upper()) for s in v]
        if len(set(out)) != len(out):
            raise ValueError(f"symbols must be unique, got {v}")
        return out

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, v: str | None) -> str | None:
        return None if v is None else validate_exchange(v)

    @field_validator("timeframes")
    @classmethod
    def _timeframes(cls, v: list[str]) -> list[str]:
        out = [normalize_timeframe(tf) for tf in v]
        if len(set(out)) != len(out):
            raise ValueError(f"timeframes must be unique, got {v}")
        return out

    @field_validator("start", "end")
    @classmethod
    def _ts(cls, v: str | None) -> str | None:
        if v is None:
            return None
        return as_utc(v).isoformat()

    @model_validator(mode="after")
    def _order(self) -> DataSpec:
        if self.start and self.end and pd.Timestamp(self.start) >= pd.Timestamp(self.end):
            raise ValueError(f"start {self.start} must be before end {self.end}")
        return self


class RankSpec(StrictModel):
    by: list[str] = Field(
        ["sharpe", "-max_drawdown"],
        min_length=1,
        description="Metrics, best first; '-name' means lower is better.",
    )
    top_k: int = Field(20, ge=1, le=100_000, description="How many ranked rows to keep/show.")
    aggregate: Literal["none", "median", "worst"] = Field(
        "none",
        description="Rank parameter combinations across symbols x timeframes by the median or "
        "the worst case of each ranked metric; 'none' ranks each dataset's rows on their own.",
    )

    @field_validator("by")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for key in v:
            name = key.removeprefix("-").removeprefix("+")
            if name not in METRIC_NAMES:
                raise ValueError(f"unknown metric {name!r}; known: {', '.join(METRIC_NAMES)}")
        return v


class MonteCarloSpec(StrictModel):
    """Monte Carlo of the top-K (``[report.monte_carlo]``, see threadx.sweep.montecarlo); it
    does not change the results, so it is not part of the run id."""

    enabled: bool = Field(
        False,
        description="at the end of the run (else on demand: sweep report --monte-carlo)",
    )
    paths: int = Field(1000, ge=10, le=1_000_000, description="resampled paths per combination")
    block: int = Field(0, ge=0, description="block length in bars; 0: round(n^(1/3))")
    seed: int = Field(0, ge=0, description="seed of every path (deterministic)")
    top_k: int = Field(10, ge=1, le=1000, description="how many of each group's best")


class ReportSpec(StrictModel):
    """Overfitting statistics kept per combination (``[report]``)."""

    monte_carlo: MonteCarloSpec = MonteCarloSpec()

    blocks: int = Field(
        16,
        ge=2,
        le=64,
        description="S equal time blocks whose summed bar returns each combination keeps (even; "
        "CSCV splits them into halves).",
    )

    @field_validator("blocks")
    @classmethod
    def _even(cls, v: int) -> int:
        if v % 2:
            raise ValueError(f"blocks must be even (CSCV splits them in halves), got {v}")
        return v


_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_MINUTES = {"m": 1, "h": MINUTES_PER_HOUR, "d": MINUTES_PER_DAY, "w": MINUTES_PER_WEEK}


def duration_minutes(text: str) -> int:
    """Minutes of a duration like ``"7d"``, ``"12h"``, ``"90m"``, ``"1w"`` (m = minutes)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(
            f"{text!r} is not a duration: use a whole number and a unit m, h, d "
            "or w (minutes, hours, days, weeks), e.g. '7d', '12h', '90m'"
        )
    n = int(m.group(1)) * _UNIT_MINUTES[m.group(2)]
    if n <= 0:
        raise ValueError(f"{text!r}: a duration must be > 0")
    return n


class WalkForwardSpec(StrictModel):
    """Walk-forward analysis (``[walk_forward]``): folds of (train window, test window) in time."""

    train: str = Field(..., description="Train (in-sample) window length, e.g. '7d', '12h'.")
    test: str = Field(..., description="Test (out-of-sample) window length after each train.")
    step: str | None = Field(
        None,
        description="Shift from one fold to the next (default: test); >= test, so test "
        "windows never overlap.",
    )
    mode: Literal["rolling", "anchored"] = Field(
        "rolling",
        description="rolling: the train window slides by step; anchored: it starts "
        "at the first bar and grows by step.",
    )

    @field_validator("train", "test", "step")
    @classmethod
    def _duration(cls, v: str | None) -> str | None:
        if v is not None:
            duration_minutes(v)
        return v if v is None else v.strip()

    @model_validator(mode="after")
    def _check(self) -> WalkForwardSpec:
        if self.step is None:
            self.step = self.test
        if self.step_minutes < self.test_minutes:
            raise ValueError(
                f"step {self.step!r} is shorter than test {self.test!r}: test windows "
                "would overlap; use step >= test"
            )
        return self

    @property
    def train_minutes(self) -> int:
        return duration_minutes(self.train)

    @property
    def test_minutes(self) -> int:
        return duration_minutes(self.test)

    @property
    def step_minutes(self) -> int:
        return duration_minutes(self.step or self.test)

    def normalized(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "train_minutes": self.train_minutes,
            "test_minutes": self.test_minutes,
            "step_minutes": self.step_minutes,
        }


class SweepSpec(StrictModel):
    """A whole sweep. Build it with :func:`load_spec` or directly; it is immutable in spirit."""

    name: str = Field("sweep", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Run name prefix.")
    backend: Literal["auto", "cpu", "gpu"] = Field("auto", description="Kernel backend.")
    data: DataSpec
    grid: dict[str, GridValue] = Field(default_factory=dict, description="Swept parameters.")
    fixed: dict[str, Any] = Field(default_factory=dict, description="Constant parameters.")
    rank: RankSpec = Field(default_factory=RankSpec)
    report: ReportSpec = Field(default_factory=ReportSpec)
    chunk_size: int = Field(0, ge=0, description="Combinations per chunk; 0 = automatic.")
    walk_forward: WalkForwardSpec | None = Field(
        None,
        description="Walk-forward analysis: sweep (or search) each fold's train window, "
        "evaluate the best combination on its test window.",
    )
    search: SearchSpec = Field(default_factory=SearchSpec)

    @model_validator(mode="after")
    def _check_search(self) -> SweepSpec:
        se = self.search
        if not se.sampling:
            return self
        if (se.learns or se.halving) and self.rank.aggregate != "none":
            own = "[search] halving keeps" if se.halving else f"method {se.method!r} searches"
            raise KeyedError(
                "rank.aggregate",
                f"[rank] aggregate needs the same combinations on every dataset; {own} each "
                "dataset's trials on its own (use 'random' or 'sobol' without halving)",
            )
        if se.method == "nsga2" and len(self.rank.by) < 2:
            raise KeyedError(
                "rank.by", "[rank] by: nsga2 needs two or more metrics (its objectives)"
            )
        if se.trials > self.combos_per_dataset():
            raise KeyedError(
                "search.trials",
                f"[search] trials = {se.trials:,} exceeds the {self.combos_per_dataset():,} "
                "combinations of the grid's space; lower it or use method = 'grid'",
            )
        return self

    @model_validator(mode="after")
    def _check_walk_forward(self) -> SweepSpec:
        wf = self.walk_forward
        if wf is None:
            return self
        if self.rank.aggregate != "none":
            raise ValueError(
                "[walk_forward] needs [rank] aggregate = 'none' (each dataset is "
                "walked forward on its own)"
            )
        for tf in self.data.timeframes:
            bars = timeframe_minutes(tf)
            for name, minutes in (("train", wf.train_minutes), ("test", wf.test_minutes)):
                if minutes < 2 * bars:
                    raise ValueError(
                        f"[walk_forward] {name} = {getattr(wf, name)!r} holds fewer "
                        f"than 2 bars of timeframe {tf}"
                    )
        return self

    @model_validator(mode="after")
    def _check_params(self) -> SweepSpec:
        for section, keys in (("grid", self.grid), ("fixed", self.fixed)):
            unknown = [k for k in keys if k not in PARAM_NAMES]
            if unknown:
                raise KeyedError(
                    f"{section}.{unknown[0]}",
                    f"[{section}] unknown parameter(s) {unknown}; known parameters "
                    f"are: {', '.join(PARAM_NAMES)}",
                )
        both = sorted(set(self.grid) & set(self.fixed))
        if both:
            raise KeyedError(
                f"fixed.{both[0]}", f"parameter(s) {both} are in both [grid] and [fixed]"
            )
        try:  # [fixed] first: its errors are its own, not those of each grid value
            params_from_mapping(self.fixed)
        except ConfigError as err:
            raise KeyedError("fixed", f"[fixed] {err}") from None
        for name, raw in self.grid.items():
            vals = raw.values() if isinstance(raw, RangeSpec) else raw
            if not vals:
                raise KeyedError(f"grid.{name}", f"[grid] {name}: empty list")
            if len(set(map(repr, vals))) != len(vals):
                raise KeyedError(f"grid.{name}", f"[grid] {name}: repeated values {vals}")
            for v in vals:  # every value obeys its rule
                try:
                    params_from_mapping({**self.fixed, name: v})
                except ConfigError as err:
                    raise KeyedError(f"grid.{name}", f"[grid] {name} = {v!r}: {err}") from None
        return self

    # -- the grid --------------------------------------------------------------------------
    def grid_values(self) -> dict[str, list[Any]]:
        """Swept parameters in STRATEGY.md order (indicator parameters outermost), values sorted
        as given."""
        out = {}
        for name in PARAM_NAMES:
            if name in self.grid:
                raw = self.grid[name]
                out[name] = raw.values() if isinstance(raw, RangeSpec) else list(raw)
        return out

    def combos_per_dataset(self) -> int:
        """Combinations of one dataset's grid (the space a search samples)."""
        return math.prod(len(v) for v in self.grid_values().values())

    def rows_per_dataset(self) -> int:
        """Result rows of one dataset: the grid, or the search's budget."""
        return self.search.trials if self.search.sampling else self.combos_per_dataset()

    def datasets(self) -> list[tuple[str, str]]:
        """(symbol, timeframe) pairs, symbol-major."""
        return list(itertools.product(self.data.symbols, self.data.timeframes))

    def count(self) -> int:
        """Total combinations: symbols x timeframes x product of grid sizes."""
        return len(self.datasets()) * self.combos_per_dataset()

    def total_rows(self) -> int:
        """Result rows of a run (without walk-forward folds): every dataset's
        :meth:`rows_per_dataset`, the grid or the search's budget (a search samples
        :meth:`count`)."""
        return len(self.datasets()) * self.rows_per_dataset()

    def param_frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Parameter rows ``start:stop`` of one dataset's grid (all parameters as columns), in
        row-major order of :meth:`grid_values`, built arithmetically (no full product in memory)."""
        grid = self.grid_values()
        total = self.combos_per_dataset()
        stop = total if stop is None else min(stop, total)
        idx = np.arange(start, stop, dtype=np.int64)
        cols: dict[str, Any] = {}
        sizes = [len(v) for v in grid.values()]
        strides = np.cumprod([1, *sizes[::-1]])[::-1][1:] if sizes else []
        for (name, vals), size, stride in zip(grid.items(), sizes, strides, strict=True):
            pick = (idx // stride) % size
            cols[name] = np.asarray(vals, dtype=object)[pick]
        defaults = params_from_mapping(self.fixed).model_dump()
        frame = pd.DataFrame(index=pd.RangeIndex(start, stop, name="combo"))
        for name in PARAM_NAMES:
            frame[name] = cols[name] if name in cols else [defaults[name]] * len(idx)
        return _typed(frame)

    def estimate_memory_bytes(self, bars_per_dataset: dict[tuple[str, str], int]) -> int:
        """Peak resident memory of a local run of this sweep (``run_local``; the driver's
        process holds the same results), as the sum of what the pipeline holds at its peak:

        * :data:`PROCESS_BASE_BYTES`: the interpreter, numpy/pandas/pyarrow/numba and the loaded
          kernels (measured);
        * the bars: every dataset's bars, and the 1-minute rows its largest dataset is
          resampled from, held :data:`LOAD_COPIES` times while loading;
        * the largest dataset's prepared grid (``threadx.sweep.execute``), as the kernels' layout
          weighs it (:func:`threadx.kernels.layout.prepared_bytes`: indicator banks, one row per
          distinct indicator parameter; crossing bits; the parameter matrix; the grid codes);
        * the result rows, :data:`RESULT_COPIES` times (the parts of the run and the frame they
          become), and the report's working set (the block returns of every combination).

        It grows with combinations and with bars x distinct indicator parameters, never with
        bars x combinations. ``benchmarks/bench_pipeline.py`` compares it with measured peaks.
        """
        grid = self.grid_values()
        n_bb = len(grid.get("bb_period", [0]))
        n_atr = len(grid.get("atr_period", [0])) * len(grid.get("atr_method", [0]))
        n_trend = len(grid.get("trend_period", [0]))
        n_cross = n_bb * len(grid.get("bb_std", [0])) * len(grid.get("direction", [0]))
        max_bars, max_minutes, all_bars = 0, 0, 0
        for (_, tf), n in bars_per_dataset.items():
            max_bars = max(max_bars, n)
            max_minutes = max(max_minutes, n * timeframe_minutes(tf))
            all_bars += n
        bars = 8 * 6 * (all_bars + LOAD_COPIES * max_minutes)
        banks, combos = 2 * n_bb + n_atr + n_trend, self.combos_per_dataset()
        if self.search.sampling:  # a batch at a time, the banks kept between batches as well
            # an automatic batch is a CPU task's chunk: at most 65,536 combinations
            batch = self.search.batch_size(65_536)
            banks, combos = 2 * banks, min(batch, self.rows_per_dataset())
        prepared = prepared_bytes(max_bars, banks, n_cross, combos, len(grid))
        row = RESULT_ROW_BYTES + 8 * self.report.blocks
        stored = self.rows_per_dataset()
        if (halving := self.search.halving) is not None:  # a row per (trial, stage)
            stored = sum(stage_counts(stored, halving.keep, len(halving.fractions())))
        results = (
            len(self.datasets())
            * stored
            * (row * RESULT_COPIES + 8 * (self.report.blocks + REPORT_ROW_COLUMNS))
        )
        return int(PROCESS_BASE_BYTES + bars + prepared + results)

    # -- identity --------------------------------------------------------------------------
    def normalized(self) -> dict[str, Any]:
        """Canonical JSON-able form: ranges expanded, defaults filled, keys sorted."""
        # results depend on neither the backend nor the Monte Carlo settings
        d = self.model_dump(mode="json", exclude={"backend": True, "report": {"monte_carlo"}})
        if not self.search.sampling:  # absent for grids: the ids of grid runs do not change
            d.pop("search")
        elif self.search.halving is None:  # absent when off: search run ids do not change
            d["search"].pop("halving")
        wf = d.pop("walk_forward", None)  # absent when off: the ids of other runs do not change
        if wf is not None:
            d["walk_forward"] = self.walk_forward.normalized()
        d["grid"] = {k: v for k, v in self.grid_values().items()}
        d["fixed"] = {
            k: params_from_mapping(self.fixed).model_dump()[k] for k in sorted(self.fixed)
        }
        return d

    def fingerprint(self) -> str:
        """SHA-256 of :meth:`normalized` as compact canonical JSON (part of the run id)."""
        return sha256_json(self.normalized())


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    from threadx.strategy.params import StrategyParams

    for name, f in StrategyParams.model_fields.items():
        if f.annotation is int:
            frame[name] = frame[name].astype(np.int64)
        elif f.annotation is float:
            frame[name] = frame[name].astype(np.float64)
        elif f.annotation is bool:
            frame[name] = frame[name].astype(bool)
        else:
            frame[name] = frame[name].astype(object)
    return frame


def spec_from_dict(data: dict[str, Any], source: str = "<spec>") -> SweepSpec:
    try:
        return SweepSpec(**data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None
    except (ThreadXError, DataError) as err:  # symbol/timeframe validators
        raise ConfigError(f"{source}: {err}") from None


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep TOML; errors name the file, the key and the rule."""
    return spec_from_dict(load_toml(path, "sweep spec"), str(Path(path)))


def spec_to_toml(spec: SweepSpec) -> str:
    import tomli_w

    d = spec.model_dump(mode="json", exclude_none=True)
    if not spec.search.sampling:
        d.pop("search")
    return tomli_w.dumps(d)
