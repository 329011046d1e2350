"""View model of the Results view's Overfitting panel (pure Python: no DearPyGui, no Ray).

It reads the run's stored overfitting report (:func:`threadx.sweep.overfit.load_report`, served by
the driver's ``report(run_id)``), a dict of this shape::

    {"version": 1, "n_trials": int, "blocks": S, "verdict": str,
     "groups": [{"symbol", "timeframe", ("fold"), "n_trials", "n_returns", "sr_mean", "sr_var",
                 "expected_max_sr", ("expected_max_sr_annual"), "pbo", "pbo_splits",
                 ("pbo_note"), "oos_rank_hist": [10 ints], "logit_mean", "logit_median",
                 "verdict", ("verdict_class": overfit | survives | inconclusive | not_enough),
                 "top": [{"combo_id", "rank", <swept params>, "sharpe", "sharpe_per_bar",
                          "skewness", "kurtosis", "psr", "dsr"}]}]}

and turns it into ready-to-draw tuples. Missing or null values show as ``n/a``; nothing is
made up. No report gives a view that says :data:`NO_REPORT`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gui.montecarlo import NO_SECTION, MonteCarloModel, monte_carlo_model
from gui.viewmodels import Detailed, TableModel
from threadx.strategy.params import PARAM_NAMES

NO_REPORT = "no overfitting report for this run"
N_BINS = 10
#: Labels of the out-of-sample relative-rank bins of the in-sample best (0 = worst, 1 = best).
HIST_LABELS = tuple(f"{i / N_BINS:.1f}-{(i + 1) / N_BINS:.1f}" for i in range(N_BINS))
TOP_STATS = ("sharpe", "psr", "dsr", "skewness", "kurtosis")
GROUP_COLUMNS = (
    "symbol",
    "timeframe",
    "n_trials",
    "n_returns",
    "pbo",
    "pbo_splits",
    "expected_max_sr",
    "best dsr",
    "verdict",
)
#: Shown when some group has them: after "timeframe", after "expected_max_sr".
OPTIONAL_COLUMNS = (("fold", "timeframe"), ("expected_max_sr_annual", "expected_max_sr"))
#: Verdict classes, worst first (the whole run takes its worst group's class).
VERDICT_CLASSES = ("overfit", "inconclusive", "not_enough", "survives")


#: DearPyGui's default font draws ASCII only: typographic punctuation becomes its ASCII twin.
_ASCII = str.maketrans(
    {
        "\u2014": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u00d7": "x",
        "\u2264": "<=",
        "\u2265": ">=",
        "\u00b2": "^2",
    }
)


def ascii_text(text: Any) -> str:
    """``text`` as the window can draw it (dashes, quotes, ellipsis, x, <=, >= in ASCII)."""
    return str(text).translate(_ASCII)


def fmt_stat(value: Any, digits: int = 3) -> str:
    """A statistic as text: ``n/a`` for missing/NaN, else ``digits`` significant digits."""
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(f):
        return "n/a"
    return f"{f:.{digits}g}"


@dataclass(frozen=True)
class OverfitGroup:
    """One (symbol, timeframe) group of the report."""

    key: str  # "BTCUSDT 15m"
    summary: str
    verdict: str
    hist: tuple[int, ...]  # counts per bin of HIST_LABELS (empty when the report has none)
    top: TableModel

    @property
    def hist_total(self) -> int:
        return sum(self.hist)

    @property
    def hist_labels(self) -> tuple[str, ...]:
        n = len(self.hist)
        return (
            HIST_LABELS
            if n == N_BINS
            else tuple(f"{i / n:.2f}-{(i + 1) / n:.2f}" for i in range(n))
        )


@dataclass(frozen=True)
class OverfitModel(Detailed[OverfitGroup]):
    """Everything the Overfitting panel shows for one run."""

    run_id: str
    available: bool
    verdict: str
    header: str
    groups: TableModel
    detail: tuple[OverfitGroup, ...]
    verdict_class: str | None = None  # one of VERDICT_CLASSES when the report gives them
    monte_carlo: MonteCarloModel = NO_SECTION  # the report's Monte Carlo section, if any

    def group(self, key: str | None) -> OverfitGroup | None:
        """The group named ``key``, else the first one (None when there is none)."""
        return self.pick(key)


def _num(value: Any) -> Any:
    """A plain number for a table cell (None for missing/unparseable)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _hist(raw: Any) -> tuple[int, ...]:
    """The histogram's counts as given (empty when missing)."""
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        return ()
    return tuple(int(v) for v in raw)


def _top_table(rows: Sequence[Mapping[str, Any]]) -> TableModel:
    """combo_id, rank, the swept parameters (STRATEGY.md order), then the statistics."""
    params = [p for p in PARAM_NAMES if any(p in r for r in rows)]
    cols = ("rank", "combo_id", *params, *TOP_STATS)
    body = tuple(tuple(_num(r.get(c)) if c in TOP_STATS else r.get(c) for c in cols) for r in rows)
    keys = tuple(r.get("combo_id", i) for i, r in enumerate(rows))
    return TableModel(cols, body, keys)


def _best_dsr(top: Sequence[Mapping[str, Any]]) -> float | None:
    vals = [float(r["dsr"]) for r in top if isinstance(r.get("dsr"), int | float)]
    vals = [v for v in vals if not math.isnan(v)]
    return max(vals) if vals else None


def _group(g: Mapping[str, Any]) -> tuple[tuple[Any, ...], OverfitGroup]:
    top = [r for r in g.get("top") or [] if isinstance(r, Mapping)]
    fold = f" fold {g['fold']}" if g.get("fold") is not None else ""
    key = f"{g.get('symbol', '?')} {g.get('timeframe', '?')}{fold}"
    pbo = fmt_stat(g.get("pbo"), 2)
    if g.get("pbo") is None and g.get("pbo_note"):
        pbo += f" ({g['pbo_note']})"
    st = {
        k: fmt_stat(g.get(k))
        for k in ("sr_mean", "sr_var", "expected_max_sr", "logit_mean", "logit_median")
    }
    summary = (
        f"{key}: PBO {pbo} over {g.get('pbo_splits', 'n/a')} "
        f"splits; {g.get('n_trials', 'n/a')} trials{_dsr_note(g)}, "
        f"{g.get('n_returns', 'n/a')} returns; "
        f"Sharpe mean {st['sr_mean']}, variance {st['sr_var']}, expected max "
        f"{st['expected_max_sr']}; logit mean {st['logit_mean']}, median "
        f"{st['logit_median']}"
    )
    row = {
        "symbol": g.get("symbol"),
        "timeframe": g.get("timeframe"),
        "fold": g.get("fold"),
        "n_trials": g.get("n_trials"),
        "n_returns": g.get("n_returns"),
        "pbo": _num(g.get("pbo")),
        "pbo_splits": g.get("pbo_splits"),
        "expected_max_sr": _num(g.get("expected_max_sr")),
        "expected_max_sr_annual": _num(g.get("expected_max_sr_annual")),
        "best dsr": _best_dsr(top),
        "verdict": ascii_text(g.get("verdict") or ""),
    }
    return row, OverfitGroup(
        key,
        summary,
        ascii_text(g.get("verdict") or ""),
        _hist(g.get("oos_rank_hist")),
        _top_table(top),
    )


def _dsr_note(g: Mapping[str, Any]) -> str:
    """Where a group's DSR counts other trials than its rows (the sweep's, or under successive
    halving every trial started): how many."""
    n, d = g.get("n_trials"), g.get("dsr_trials")
    return f" (DSR counts {d:,})" if isinstance(d, int) and d != n else ""


def _group_columns(groups: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    cols = list(GROUP_COLUMNS)
    for name, after in OPTIONAL_COLUMNS:
        if any(g.get(name) is not None for g in groups):
            cols.insert(cols.index(after) + 1, name)
    return tuple(cols)


def _worst_class(groups: Sequence[Mapping[str, Any]]) -> str | None:
    classes = [g.get("verdict_class") for g in groups if g.get("verdict_class") in VERDICT_CLASSES]
    return min(classes, key=VERDICT_CLASSES.index) if classes else None


def overfit_model(report: Mapping[str, Any] | None, run_id: str = "") -> OverfitModel:
    """The panel's model of ``report`` (None, or not a dict: :data:`NO_REPORT`)."""
    if not isinstance(report, Mapping):
        return OverfitModel(run_id, False, NO_REPORT, "", TableModel(GROUP_COLUMNS, (), ()), ())
    raw = [g for g in report.get("groups") or [] if isinstance(g, Mapping)]
    cols = _group_columns(raw)
    rows, detail = [], []
    for g in raw:
        row, grp = _group(g)
        rows.append(tuple(row[c] for c in cols))
        detail.append(grp)
    verdict = ascii_text(report.get("verdict") or (detail[0].verdict if detail else ""))
    verdict = verdict or NO_REPORT
    n = report.get("n_trials")
    trials = f"{n:,}" if isinstance(n, int) else "n/a"
    header = f"{trials} trials, {report.get('blocks', 'n/a')} time blocks, {len(detail)} group(s)"
    groups = TableModel(cols, tuple(rows), tuple(g.key for g in detail))
    mc = monte_carlo_model(report.get("monte_carlo"))
    return OverfitModel(run_id, True, verdict, header, groups, tuple(detail), _worst_class(raw), mc)
