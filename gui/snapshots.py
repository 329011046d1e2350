"""Immutable snapshots the background thread posts for the render loop (frozen, tuples only).

Each snapshot carries ready-to-draw view models (:mod:`gui.viewmodels`, :mod:`gui.charts`); the
render loop only copies them into widgets. ``at`` (:class:`Stamped`) is the
``time.monotonic()`` of creation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import pandas as pd

from gui.charts import DrilldownModel, ScatterModel
from gui.overfitting import OverfitModel
from gui.search import SearchModel
from gui.viewmodels import HeatmapModel, ProgressModel, RankingModel, TableModel

M = TypeVar("M")


def _now() -> float:
    return time.monotonic()


@dataclass(frozen=True)
class Stamped:
    """A snapshot that keeps when it was made (``at``: a keyword-only field, after the others)."""

    at: float = field(default_factory=_now, kw_only=True)


@dataclass(frozen=True)
class Message(Stamped):
    """A line for the status bar (``level``: info, warning or error)."""

    level: str
    text: str


@dataclass(frozen=True)
class Connection:
    ok: bool
    text: str
    embedded: bool = False


@dataclass(frozen=True)
class ClusterSnap(Stamped):
    nodes: TableModel
    gpus: TableModel
    gpu_note: str
    workers: TableModel
    weights_note: str
    totals_text: str


@dataclass(frozen=True)
class CatalogSnap:
    """The catalog table and the spans (exchange, symbol, timeframe, first, last bar start ISO)
    for the form."""

    table: TableModel
    spans: tuple[tuple[str, str, str, str, str], ...]
    data_root: str

    def frame(self) -> pd.DataFrame:
        """The spans as the small frame :func:`gui.forms.estimate_form` reads."""
        cols = ["exchange", "symbol", "timeframe", "first", "last"]
        return pd.DataFrame(list(self.spans), columns=cols)


@dataclass(frozen=True)
class DataResult:
    """Outcome of a data action (import, resample, gaps): text and an optional close line."""

    kind: str
    text: str
    line: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    table: TableModel | None = None


@dataclass(frozen=True)
class ModelSnap(Generic[M]):
    """A snapshot that carries one view model (its subclass says which)."""

    model: M


@dataclass(frozen=True)
class ProgressSnap(ModelSnap[ProgressModel], Stamped):
    """The followed run's progress."""


@dataclass(frozen=True)
class ResultsSnap(Stamped):
    """Everything of the Results view for one run at one moment."""

    run_id: str
    name: str
    state: str
    n_results: int
    total: int
    table: TableModel
    dims: tuple[str, ...]
    metrics: tuple[str, ...]
    rank_by: tuple[str, ...]
    heatmap: HeatmapModel
    pareto: ScatterModel
    rank_mode: str = "none"  # "rank by": none (per dataset) | median | worst
    rank_note: str = ""
    search: SearchModel | None = None  # a search's best-so-far curve (a grid's says so)


@dataclass(frozen=True)
class RankingSnap:
    """The results table again, in another "rank by" mode."""

    run_id: str
    ranking: RankingModel


class OverfitSnap(ModelSnap[OverfitModel]):
    """The followed run's overfitting report (or its absence)."""


@dataclass(frozen=True)
class HeatmapSnap:
    run_id: str
    heatmap: HeatmapModel


class DrilldownSnap(ModelSnap[DrilldownModel]):
    """One combination's drill-down."""


@dataclass(frozen=True)
class RunsSnap:
    table: TableModel


@dataclass(frozen=True)
class LogSnap:
    path: str
    lines: tuple[str, ...]


@dataclass(frozen=True)
class SpecSnap:
    """The spec of a reopened run, as a spec dict in TOML form (for the sweep form)."""

    run_id: str
    toml: str


Snapshot = (
    Message
    | Connection
    | ClusterSnap
    | CatalogSnap
    | DataResult
    | ProgressSnap
    | ResultsSnap
    | RankingSnap
    | OverfitSnap
    | HeatmapSnap
    | DrilldownSnap
    | RunsSnap
    | LogSnap
    | SpecSnap
)
