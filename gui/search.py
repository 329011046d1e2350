"""The Results view's Search panel as pure data: a search run's best-so-far curve over the trials
evaluated and its stats (method, trials evaluated / budget, the sampler's seconds against the
kernel's), from the typed client's ``search(run_id)``: the manifest's ``search`` and
``search_stats`` (:meth:`threadx.sweep.search.SearchSampler.manifest_extra`; the live sampler's
while the run is driven). A grid run has no curve, and its model says so.

Like :mod:`gui.viewmodels`, nothing here imports DearPyGui or Ray; the view draws these models
(:mod:`gui.view_search`). Values are the run's own: a missing number is shown as missing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui.charts import XY, decimate_xy
from gui.viewmodels import NO_DATA, fmt_value

NOT_SEARCH = "grid run: every combination is evaluated (no search, no best-so-far curve)"
#: pixel columns the curve is decimated to (the manifest keeps at most 2,000 points)
CURVE_COLUMNS = 1000


@dataclass(frozen=True)
class SearchModel:
    """What the Search panel shows for one run: a header, stats lines and the curve
    ``(trials evaluated, best <metric> so far)``; ``method`` is ``"grid"`` for a grid run."""

    run_id: str
    method: str = "grid"
    metric: str = ""
    curve: XY = ((), ())
    header: str = NOT_SEARCH
    stats: tuple[str, ...] = ()

    @property
    def is_search(self) -> bool:
        return self.method != "grid"

    @property
    def best(self) -> float | None:
        """The best so far at the end of the curve (None without one)."""
        return self.curve[1][-1] if self.curve[1] else None


def best_curve(points: Sequence[Sequence[Any]] | None, n_columns: int = CURVE_COLUMNS) -> XY:
    """``search_stats["best_curve"]`` (pairs of trials evaluated and best so far, as the sampler
    appended them) as x and y: finite pairs, ascending in x (one point per x: the last one),
    decimated to ``n_columns`` columns by :func:`gui.charts.decimate_xy`."""
    last: dict[float, float] = {}
    for point in points or ():
        x, y = (float(v) for v in point[:2])
        if math.isfinite(x) and math.isfinite(y):
            last[x] = y
    xs = sorted(last)
    return decimate_xy(xs, [last[x] for x in xs], n_columns)


def _seconds(value: Any) -> str:
    return f"{float(value):.3g} s" if isinstance(value, int | float) else NO_DATA


def _timing(stats: Mapping[str, Any], wall_s: Any) -> str:
    """The sampler's asks and tells against the kernel's seconds (under the driver the workers'
    seconds, sent with their parts); without kernel seconds, against the run's wall time."""
    sample = f"sampling (draws or ask/tell) {_seconds(stats.get('sample_s'))}"
    if "ask_s" in stats and "tell_s" in stats:
        sample += f" (ask {_seconds(stats['ask_s'])}, tell {_seconds(stats['tell_s'])})"
    if "kernel_s" in stats:
        prep = f" + preparing {_seconds(stats['prepare_s'])}" if "prepare_s" in stats else ""
        return f"{sample} vs kernel {_seconds(stats['kernel_s'])}{prep}"
    return f"{sample} of {_seconds(wall_s)} wall (kernel seconds not recorded)"


def search_model(run_id: str, data: Mapping[str, Any] | None) -> SearchModel:
    """The panel's model of ``client.search(run_id)``'s answer (None: a grid run)."""
    if not data or not data.get("search"):
        return SearchModel(run_id)
    se, stats = data["search"], data.get("search_stats") or {}
    method = str(se.get("method"))
    trials, space = se.get("trials"), se.get("space")
    share = f" ({trials / space:.2%} of it)" if trials and space else ""
    header = (
        f"{method} search (seed {se.get('seed')}, batches of {se.get('batch')}): "
        f"{fmt_value(trials)} trials per dataset of the grid's {fmt_value(space)} "
        f"combinations{share}"
    )
    metric = str(stats.get("best_metric") or "")
    curve = best_curve(stats.get("best_curve"))
    if not stats:
        return SearchModel(run_id, method, metric, curve, header, ("no trials evaluated yet",))
    evaluated, budget = stats.get("evaluated"), data.get("budget")
    done = f"{fmt_value(evaluated)} / {fmt_value(budget)}" if budget else fmt_value(evaluated)
    best = stats.get("best")
    lines = [
        f"{done} trials evaluated; best {metric} so far: "
        + (fmt_value(best) if best is not None else NO_DATA),
        _timing(stats, data.get("wall_s")),
    ]
    if "asks" in stats:
        lines.append(
            f"{stats['asks']:,} asks; {stats.get('duplicates', 0):,} repeated suggestions told "
            "their stored values"
        )
    return SearchModel(run_id, method, metric, curve, header, tuple(lines))
