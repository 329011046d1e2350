"""``[search]``: how a sweep's space is searched (:class:`SearchSpec`, part of
:class:`threadx.sweep.spec.SweepSpec`, which re-exports it).

Planning-level: pydantic models only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from threadx.core.models import KeyedError, StrictModel
from threadx.sweep.halving import HalvingSpec

# tpe / nsga2 trials per batch by default. Their cost is Optuna's ask, per trial and growing with
# the trials the sampler looks at (measured, 12 parameters: TPE 14.5 ms per ask at 1,000 trials,
# NSGA-II ~1 ms at a window of 2 x 256): a batch of 256 keeps the kernel busy for a moment between
# model updates on a CPU and lets TPE learn 4x more often than at 1,024 for the same asks;
# nsga2's population is its batch.
SEQUENTIAL_BATCH = 256


class SearchSpec(StrictModel):
    """How the grid's space is searched (``[search]``): the whole grid, or ``trials`` distinct
    combinations of it drawn ``batch`` at a time (random/sobol: seeded numpy/scipy draws on the
    grid's steps; tpe/nsga2: Optuna's samplers through ask/tell)."""

    method: Literal["grid", "random", "sobol", "tpe", "nsga2"] = Field(
        "grid", description="grid: every combination; else a sampler over the grid's space"
    )
    trials: int | None = Field(
        None, ge=1, description="budget: distinct combinations evaluated per dataset"
    )
    batch: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="trials per chunk (kernel call); default: random/sobol the grid's automatic "
        f"chunk for the data, tpe/nsga2 {SEQUENTIAL_BATCH}",
    )
    seed: int = Field(0, ge=0, description="seed of the sampler (deterministic draws)")
    halving: HalvingSpec | None = Field(
        None, description="successive halving on data length (threadx.sweep.halving)"
    )

    @model_validator(mode="after")
    def _check(self) -> SearchSpec:
        if self.method == "grid" and self.halving is not None:
            raise KeyedError(
                "halving",
                "[search] halving: method 'grid' evaluates every combination on all the data; "
                "use method = 'random', 'sobol', 'tpe' or 'nsga2' to halve a budget",
            )
        if self.method == "grid" and self.trials is not None:
            raise KeyedError(
                "trials",
                "[search] trials: method 'grid' evaluates every combination; use method = "
                "'random', 'sobol', 'tpe' or 'nsga2' to evaluate a budget",
            )
        if self.method != "grid" and self.trials is None:
            raise KeyedError("trials", f"[search] trials: method {self.method!r} needs a budget")
        if self.method == "nsga2" and self.batch is not None and self.batch < 2:
            raise KeyedError("batch", "[search] batch: nsga2 needs a population (batch) of >= 2")
        return self

    @property
    def sampling(self) -> bool:
        return self.method != "grid"

    @property
    def learns(self) -> bool:
        """The sampler learns from each batch (tpe, nsga2: Optuna's ask/tell): one batch in
        flight, each dataset searched on its own, a batch may come up short of new points."""
        return self.method in ("tpe", "nsga2")

    def batch_size(self, auto: int) -> int:
        """Trials per task: ``batch``; by default ``auto`` (the grid's chunk for the data: the
        draws of random/sobol are known in advance, so they run like a grid) or, for the
        samplers that learn from each batch (tpe, nsga2), :data:`SEQUENTIAL_BATCH`."""
        if self.batch is not None:
            return self.batch
        return SEQUENTIAL_BATCH if self.learns else auto
