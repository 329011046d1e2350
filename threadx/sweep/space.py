"""The search space of a sweep: its ``[grid]`` as dimensions, and seeded draws of distinct points.

Each ``[grid]`` entry is one dimension: a list is *categorical* (its values, in the given order),
a range ``{start, stop, step}`` is an *int* or *float* range on its steps (the values of
:meth:`~threadx.sweep.spec.RangeSpec.values`, no float drift). A point of the space is one code per
dimension (the index of its value), so a batch of trials is an ``(n, d)`` integer array, whatever
the size of the space (a 15-parameter grid overflows int64 as a flat index; codes do not).

:meth:`SearchSpace.draw` gives the first ``n`` distinct points of a seeded stream: uniform codes
(``"random"``, numpy) or a scrambled Sobol sequence mapped onto the steps (``"sobol"``, scipy), each
candidate kept only the first time it appears. The stream depends on the seed and the space only,
so a resumed run draws the same trials and every dataset of a run gets the same ones. When the
budget is more than half of the space, the draw is a seeded permutation of the whole space instead
(a stream would spend most of its candidates on repeats).

Planning-level: imports the spec and the strategy's validation, no execution.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from threadx.core.errors import StoreError
from threadx.strategy.pack import ParamColumn, validated_value
from threadx.strategy.params import PARAM_NAMES, params_from_mapping
from threadx.sweep.halving import cost_share, plan_stages
from threadx.sweep.spec import RangeSpec, SweepSpec

Kind = Literal["categorical", "int", "float"]
# a dense draw (a permutation of the space) when the budget is above this share of it
DENSE_SHARE = 0.5
# the parameters a batch's points share indicator rows and band crossings by, most costly first
# (threadx.kernels.crossing: one row of bits per distinct bb_period x bb_std x direction)
SHARED_BY = ("bb_period", "bb_std", "direction", "atr_period", "atr_method", "trend_period")


@dataclass(frozen=True)
class Dimension:
    """One swept parameter: its kind and its validated values in grid order."""

    name: str
    kind: Kind
    values: tuple[Any, ...]
    step: float | int | None = None  # ranges only

    @property
    def size(self) -> int:
        return len(self.values)

    def code_of(self, value: Any) -> int:
        """The code of ``value``: its index in a list, its nearest step in a range (a sampler's
        ``2.4000000000000004`` is step ``2.4``); ``ValueError`` off the grid."""
        if self.kind == "categorical":
            return self.values.index(value)
        if self.size == 1:
            j = 0
        else:
            j = round((float(value) - float(self.values[0])) / float(self.step))
        if not 0 <= j < self.size or not math.isclose(
            float(self.values[j]), float(value), rel_tol=1e-12, abs_tol=1e-12
        ):
            raise ValueError(f"{self.name} = {value!r} is not on the grid's steps")
        return int(j)

    def describe(self) -> str:
        if self.kind == "categorical":
            shown = ", ".join(map(str, self.values[:6])) + (", ..." if self.size > 6 else "")
            return f"{self.name}: categorical [{shown}] ({self.size})"
        return (
            f"{self.name}: {self.kind} {self.values[0]}..{self.values[-1]} step {self.step} "
            f"({self.size})"
        )


@dataclass(frozen=True)
class SearchSpace:
    dims: tuple[Dimension, ...]
    fixed: dict[str, Any]  # every parameter not swept: its validated value

    @classmethod
    def from_spec(cls, spec: SweepSpec) -> SearchSpace:
        dims = []
        for name, vals in spec.grid_values().items():
            raw = spec.grid[name]
            checked = tuple(validated_value(name, v, lambda: 0) for v in vals)
            if isinstance(raw, RangeSpec):
                kind: Kind = "int" if all(isinstance(v, int) for v in vals) else "float"
                dims.append(Dimension(name, kind, checked, raw.step))
            else:
                dims.append(Dimension(name, "categorical", checked))
        defaults = params_from_mapping(spec.fixed)
        swept = {d.name for d in dims}
        fixed = {n: getattr(defaults, n) for n in PARAM_NAMES if n not in swept}
        return cls(tuple(dims), fixed)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    @property
    def sizes(self) -> np.ndarray:
        return np.array([d.size for d in self.dims], dtype=np.int64)

    @property
    def size(self) -> int:
        """Combinations of the space (an exact Python int: it may exceed int64)."""
        return math.prod(d.size for d in self.dims)

    # -- points -> the kernels' columns -----------------------------------------------------
    def columns(self, codes: np.ndarray) -> dict[str, ParamColumn]:
        """The coded parameter columns of a batch of points (one per name of ``PARAM_NAMES``),
        as :func:`threadx.sweep.execute.grid_columns` gives them for grid rows."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1, len(self.dims))
        cols = {d.name: ParamColumn(list(d.values), codes[:, j]) for j, d in enumerate(self.dims)}
        zeros = np.zeros(len(codes), dtype=np.int64)
        for name, value in self.fixed.items():
            cols[name] = ParamColumn([value], zeros)
        return {name: cols[name] for name in PARAM_NAMES}

    def codes_of(self, frame: pd.DataFrame | Any) -> np.ndarray:
        """The points of result rows (a frame or an Arrow table with the parameter columns)."""
        n = frame.num_rows if hasattr(frame, "num_rows") else len(frame)
        out = np.empty((n, len(self.dims)), dtype=np.int32)
        for j, d in enumerate(self.dims):
            col = frame.column(d.name).to_pylist() if hasattr(frame, "num_rows") else frame[d.name]
            idx = pd.Index(list(d.values), dtype=object).get_indexer(pd.Index(col, dtype=object))
            if (idx < 0).any():
                bad = list(pd.Index(col, dtype=object)[idx < 0][:3])
                raise StoreError(f"result rows hold {d.name} = {bad}, not in the search space")
            out[:, j] = idx
        return out

    # -- draws ------------------------------------------------------------------------------
    def draw(self, method: str, seed: int, n: int) -> np.ndarray:
        """The first ``n`` distinct points (an ``(n, d)`` int32 array) of the seeded
        ``method`` stream (``"random"`` or ``"sobol"``); see the module docstring."""
        if method not in ("random", "sobol"):
            raise ValueError(f"draw: method must be 'random' or 'sobol', got {method!r}")
        total = self.size
        if n > total:
            raise ValueError(f"{n:,} distinct points asked of a space of {total:,}")
        d = len(self.dims)
        if d == 0 or n == 0:
            return np.zeros((min(n, 1), d), dtype=np.int32)
        if n > DENSE_SHARE * total:
            rng = np.random.default_rng([seed, 1])
            return self.decode(rng.permutation(total)[:n])
        stream = _random_stream if method == "random" else _sobol_stream
        candidates = stream(self.sizes, seed)
        chunks: list[np.ndarray] = []
        have = 0
        while True:  # enough candidates for n if all were new, then one pass for repeats
            while have < n:
                chunks.append(next(candidates))
                have += len(chunks[-1])
            acc = first_distinct(np.concatenate(chunks), self.sizes)
            if len(acc) >= n:
                return acc[:n]
            chunks, have = [acc], len(acc)

    def batch_order(self, codes: np.ndarray) -> np.ndarray:
        """``codes`` (a draw) reordered so that neighbours share what the kernel's preparation
        builds once per distinct value (:data:`SHARED_BY`: Bollinger rows and band crossings
        first, then ATR and trend rows): cut into batches, each batch holds few distinct
        settings. Random points of a large space are nearly all distinct in a batch of 65,536
        (a 12-parameter space: ~33,000 band-crossing rows, as costly as the kernel); grouped,
        the run shares them as a grid chunk does. A stable sort: a deterministic order."""
        cols = [self.names.index(n) for n in SHARED_BY if n in self.names]
        if not cols or len(codes) < 2:
            return codes
        return codes[np.lexsort([codes[:, j] for j in reversed(cols)])]

    def decode(self, flat: np.ndarray) -> np.ndarray:
        """Row-major flat grid indices (the grid's row order) -> codes."""
        flat = np.asarray(flat, dtype=np.int64)
        out = np.empty((len(flat), len(self.dims)), dtype=np.int32)
        for j in range(len(self.dims) - 1, -1, -1):
            size = self.dims[j].size
            out[:, j] = flat % size
            flat = flat // size
        return out

    def describe(self) -> list[str]:
        return [d.describe() for d in self.dims]


def point_keys(codes: np.ndarray) -> list[bytes]:
    """A hashable key per point (its codes' bytes)."""
    c = np.ascontiguousarray(codes, dtype=np.int32)
    return [row.tobytes() for row in c]


def first_distinct(points: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """``points`` without repeats, each kept at its first appearance (order preserved).
    ``sizes`` (the dimensions' sizes): a space whose flat index fits in int64 compares one
    integer per point (~20x faster than the rows' bytes on a million 12-parameter points)."""
    if len(points) == 0:
        return points
    c = np.ascontiguousarray(points, dtype=np.int32)
    if sizes is not None and math.prod(int(x) for x in sizes) < 2**62:
        keys = np.zeros(len(c), dtype=np.int64)
        for j, size in enumerate(sizes):  # row-major flat index, a column at a time
            keys *= int(size)
            keys += c[:, j]
    else:
        keys = c.view(np.dtype((np.void, c.dtype.itemsize * c.shape[1]))).ravel()
    _, first = np.unique(keys, return_index=True)
    return c[np.sort(first)]


def _random_stream(sizes: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng([seed, 0])
    while True:
        yield rng.integers(0, sizes, size=(1 << 16, len(sizes)), dtype=np.int64).astype(np.int32)


def _sobol_stream(sizes: np.ndarray, seed: int) -> Iterator[np.ndarray]:
    from scipy.stats import qmc

    sob = qmc.Sobol(len(sizes), scramble=True, seed=np.random.default_rng([seed, 2]))
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # blocks of 2^16 points (random_base2 would refuse a third: 3 x 2^16 is not a power
            # of 2; the sequence is the same)
            u = sob.random(1 << 16)
        yield np.minimum(np.floor(u * sizes), sizes - 1).astype(np.int32)


def space_summary(spec: SweepSpec) -> list[str]:
    """Lines of ``threadx sweep space``: the dimensions, the grid's size and what the budget
    covers, per dataset."""
    space = SearchSpace.from_spec(spec)
    se = spec.search
    size = space.size
    lines = [f"space of '{spec.name}': {len(space.dims)} swept parameter(s)"]
    lines += [f"  {line}" for line in space.describe()]
    exp = f" (about 10^{math.log10(size):.1f})" if size >= 10**6 else ""
    lines.append(f"grid: {size:,} combinations per dataset{exp}")
    if se.sampling and se.batch is None and not se.learns:  # random / sobol
        batch = "the grid's automatic chunk"
    elif se.sampling:
        batch = f"{min(se.batch_size(0), se.trials):,}"
    for sym, tf in spec.datasets():
        if se.sampling:
            share = se.trials / size
            lines.append(
                f"{sym} {tf}: {se.method} budget {se.trials:,} trials in batches of "
                f"{batch} = {share:.3g} of the grid ({share:.2%})"
            )
        else:
            lines.append(f"{sym} {tf}: grid, every one of the {size:,} combinations")
    if se.sampling and se.halving is not None:
        lines += halving_summary(spec)
    return lines


def halving_summary(spec: SweepSpec) -> list[str]:
    """The stages of a halving search (trials per dataset) and their cost in bar-steps against
    evaluating every trial on the full data."""
    se, halving = spec.search, spec.search.halving
    batch = se.batch_size(65_536)  # an automatic batch: at most a CPU task's chunk
    stages = plan_stages(se.trials, batch, halving)
    lines = [
        f"halving: {len(stages)} stages (start {halving.start:g}, keep {halving.keep:g}): the "
        f"best {halving.keep:.4g} of a batch's trials by {spec.rank.by[0]} go on to the next"
    ]
    for row in stages:
        share = float(row["fraction"])
        bars = "all the bars" if share == 1.0 else f"the first {share:.4g} of the bars"
        lines.append(f"  stage {row['stage']}: {int(row['trials']):,} trials on {bars}")
    cost = cost_share(se.trials, batch, halving)
    lines.append(
        f"  cost: {cost:.4g} of the bar-steps of all {se.trials:,} trials on all the bars "
        f"({1 / cost:.3g}x fewer)"
    )
    return lines
