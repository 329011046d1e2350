"""Successive halving on data length (``[search] halving = { start = 0.25, keep = 0.25 }``).

A sampling search's batch is evaluated in *stages*: stage ``s`` runs the batch's surviving
trials on the dataset's first ``round(f_s x bars)`` bars, with ``f_s = min(1, start / keep^s)``
(``s = 0, 1, ...`` until 1: the last stage is the whole dataset), and keeps the best
``ceil(keep x n_s)`` of its ``n_s`` trials for the next stage, best by the first ``[rank] by``
metric (``'-name'``: lower is better; a non-finite value ranks last; ties: the earlier trial).
``start = 0.25, keep = 0.25``: every trial on the first quarter of the bars, the best quarter of
them on all the bars.

A batch is still one task (one kernel call per stage, all stages in one evaluation, wherever it
runs: :func:`threadx.sweep.search.evaluate_batch`), its part one row per (trial, stage)
evaluated, each row with its trial's combo id and its ``stage`` (int8; parts of runs without
halving have no such column). The ranking, the Pareto front, exports and the overfitting report
read the full-length rows only (:func:`threadx.sweep.results.full_length`); the report's number
of tried strategies (DSR's ``N``) counts every trial started.

Planning-level: the spec's model and the stage arithmetic (numbers and arrays), no execution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator, model_validator

from threadx.core.models import KeyedError, StrictModel

MAX_STAGES = 16  # stages at most (start / keep^15 >= 1): more would evaluate tiny prefixes
STAGE_COLUMN = "stage"
_ONE = 1.0 - 1e-12  # a fraction this close to 1 is the whole dataset (float rounding)


class HalvingSpec(StrictModel):
    """``[search] halving``: the first stage's share of the bars and the share of trials kept
    from one stage to the next (each in (0, 1))."""

    start: float = Field(..., description="share of the bars of the first stage, in (0, 1)")
    keep: float = Field(..., description="share of the trials kept per stage, in (0, 1)")

    @field_validator("start", "keep", mode="before")
    @classmethod
    def _share(cls, v: object, info: object) -> float:
        name = getattr(info, "field_name", "value")
        ok = isinstance(v, int | float) and not isinstance(v, bool) and 0 < v < 1
        if not ok:
            raise ValueError(f"[search] halving.{name} must be a number in (0, 1), got {v!r}")
        return float(v)

    @model_validator(mode="after")
    def _stages(self) -> HalvingSpec:
        n = len(stage_fractions(self.start, self.keep, limit=MAX_STAGES + 1))
        if n > MAX_STAGES:
            raise KeyedError(
                "start",
                f"[search] halving: start = {self.start} and keep = {self.keep} make more than "
                f"{MAX_STAGES} stages; raise start or lower keep",
            )
        return self

    def fractions(self) -> tuple[float, ...]:
        return stage_fractions(self.start, self.keep)


def stage_fractions(start: float, keep: float, limit: int = MAX_STAGES) -> tuple[float, ...]:
    """``f_s = min(1, start / keep^s)`` for ``s = 0, 1, ...`` up to the first 1.0 (at most
    ``limit`` of them)."""
    out: list[float] = []
    s = 0
    while len(out) < limit:
        f = start / keep**s
        if f >= _ONE:
            out.append(1.0)
            break
        out.append(f)
        s += 1
    return tuple(out)


def stage_bars(n_bars: int, fractions: tuple[float, ...]) -> list[int]:
    """The bars of each stage on a dataset of ``n_bars``: ``round(f x n_bars)``, at least 2 (the
    kernel's minimum), the last stage all of them."""
    out = [min(n_bars, max(2, round(f * n_bars))) for f in fractions]
    out[-1] = n_bars
    return out


def kept(n: int, keep: float) -> int:
    """``ceil(keep x n)`` in decimal arithmetic (``ceil(0.1 x 30)`` is 3, not 4), at least 1 of a
    non-empty stage."""
    if n <= 0:
        return 0
    return max(1, math.ceil(Decimal(str(keep)) * n))


def stage_counts(n: int, keep: float, n_stages: int) -> list[int]:
    """Trials evaluated at each stage of a batch of ``n``."""
    out = [n]
    for _ in range(n_stages - 1):
        out.append(kept(out[-1], keep))
    return out


def batch_sizes(trials: int, batch: int) -> list[int]:
    """The sizes of a dataset's tasks (``trials`` in batches of ``batch``, the last shorter)."""
    full, rest = divmod(trials, batch)
    return [batch] * full + ([rest] if rest else [])


def batch_bar_steps(n: int, n_bars: int, halving: HalvingSpec | None) -> int:
    """Kernel bar-steps of a batch of ``n`` trials on ``n_bars`` bars."""
    if halving is None:
        return n * n_bars
    fr = halving.fractions()
    counts = stage_counts(n, halving.keep, len(fr))
    return sum(c * b for c, b in zip(counts, stage_bars(n_bars, fr), strict=True))


def plan_stages(
    trials: int, batch: int, halving: HalvingSpec, bars: list[int] | None = None
) -> list[dict[str, object]]:
    """The stages of a dataset's ``trials`` (in batches of ``batch``): ``stage``, ``fraction``,
    ``trials`` evaluated at that stage (summed over the batches; a tpe/nsga2 batch may come up
    short) and, given the datasets' ``bars``, ``bars`` (one per dataset)."""
    fr = halving.fractions()
    per_batch = [stage_counts(n, halving.keep, len(fr)) for n in batch_sizes(trials, batch)]
    out: list[dict[str, object]] = []
    for s, f in enumerate(fr):
        row: dict[str, object] = {"stage": s, "fraction": f}
        if bars is not None:
            row["bars"] = [stage_bars(n, fr)[s] for n in bars]
        row["trials"] = sum(c[s] for c in per_batch)
        out.append(row)
    return out


def cost_share(trials: int, batch: int, halving: HalvingSpec) -> float:
    """Bar-steps of the halving search over those of every trial on the full data (the stage
    fractions, before rounding to bars)."""
    stages = plan_stages(trials, batch, halving)
    return sum(float(r["fraction"]) * int(r["trials"]) for r in stages) / max(trials, 1)


def best_share(values: np.ndarray, k: int, lower: bool) -> np.ndarray:
    """Positions (ascending) of the best ``k`` of ``values`` (``lower``: smaller is better); a
    non-finite value ranks after every finite one; ties go to the earlier position."""
    v = np.asarray(values, dtype=np.float64)
    key = np.where(np.isfinite(v), v if lower else -v, np.inf)
    order = np.argsort(key, kind="stable")
    return np.sort(order[:k])


StageFn = Callable[[np.ndarray, int], pa.Table]


def run_stages(
    codes: np.ndarray,
    n_bars: int,
    halving: HalvingSpec,
    metric: str,
    first_id: int,
    evaluate: StageFn,
) -> pa.Table:
    """The part of a batch under successive halving: ``evaluate(codes, bars)`` is the part of
    the coded points ``codes`` on the dataset's first ``bars`` bars (combo ids from
    ``first_id``); the rows of trial ``i`` get the combo id ``first_id + i`` and their stage.
    ``metric``: the first ``[rank] by`` key (``'-name'``: lower is better)."""
    fr = halving.fractions()
    bars = stage_bars(n_bars, fr)
    name, lower = metric.lstrip("+-"), metric.startswith("-")
    alive = np.arange(len(codes), dtype=np.int64)
    tables = []
    for s, b in enumerate(bars):
        part = evaluate(codes[alive], b)
        part = _label(part, first_id + alive, s)
        tables.append(part)
        if s + 1 < len(bars) and len(alive):
            vals = part.column(name).to_numpy(zero_copy_only=False)
            alive = alive[best_share(vals, kept(len(alive), halving.keep), lower)]
    return pa.concat_tables(tables)


def _label(part: pa.Table, ids: np.ndarray, stage: int) -> pa.Table:
    """``part`` with its trials' combo ids and a ``stage`` column after ``combo_id``."""
    i = part.column_names.index("combo_id")
    part = part.set_column(i, "combo_id", pa.array(ids, type=pa.int64()))
    stage_col = pa.array(np.full(part.num_rows, stage, dtype=np.int8))
    return part.add_column(i + 1, STAGE_COLUMN, stage_col)
