"""View model of the Overfitting panel's Monte Carlo section (pure Python: no DearPyGui, no Ray).

It reads the ``monte_carlo`` section of a run's overfitting report
(:func:`threadx.sweep.montecarlo.run_monte_carlo`, printed by
:func:`threadx.sweep.report_text.format_monte_carlo`)::

    {"paths": int, "block": int | "n^(1/3)", "seed": int, "top_k": int,
     "groups": [{"symbol", "timeframe",
                 "combos": [{"combo_id", "params", "bars", "trades", "block",
                             "blocks": <summary> | None,
                             "trades_resampled": <summary> | None}]}]}

where a summary holds ``return_p05/p50/p95``, ``var_5``, ``p_profitable`` and
``max_drawdown_p50/p95`` (fractions). One table per (symbol, timeframe): a row per combination
and resampling, its raw fractions (missing ones stay empty). A report without the section gives a
model that says :data:`NO_MONTE_CARLO`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gui.viewmodels import Detailed, TableModel

NO_MONTE_CARLO = "no Monte Carlo section in this run's report (threadx sweep report --monte-carlo)"
MC_COLUMNS = (
    "combo",
    "method",
    "block",
    "return p05",
    "return p50",
    "return p95",
    "VaR 5 %",
    "P(>0)",
    "MDD p50",
    "MDD p95",
)
#: Summary keys of the numeric columns, in :data:`MC_COLUMNS` order (after "block").
SUMMARY_KEYS = (
    "return_p05",
    "return_p50",
    "return_p95",
    "var_5",
    "p_profitable",
    "max_drawdown_p50",
    "max_drawdown_p95",
)
#: (method shown, the combination's key of its summary)
METHODS = (("blocks", "blocks"), ("trades", "trades_resampled"))


@dataclass(frozen=True)
class MonteCarloGroup:
    """The table of one (symbol, timeframe)."""

    key: str  # "BTCUSDT 15m"
    table: TableModel


@dataclass(frozen=True)
class MonteCarloModel(Detailed[MonteCarloGroup]):
    """The Monte Carlo section of one run's report (or its absence)."""

    available: bool
    header: str
    detail: tuple[MonteCarloGroup, ...]


NO_SECTION = MonteCarloModel(False, NO_MONTE_CARLO, ())


def _value(v: Any) -> Any:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _rows(combo: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    rows = []
    for method, key in METHODS:
        s = combo.get(key)
        block = combo.get("block") if method == "blocks" else None
        values = (
            tuple(_value(s.get(k)) for k in SUMMARY_KEYS)
            if isinstance(s, Mapping)
            else (None,) * len(SUMMARY_KEYS)
        )
        rows.append((combo.get("combo_id"), method, block, *values))
    return rows


def _group(g: Mapping[str, Any]) -> MonteCarloGroup:
    combos = [c for c in g.get("combos") or [] if isinstance(c, Mapping)]
    rows = tuple(r for c in combos for r in _rows(c))
    keys = tuple(f"{r[0]}/{r[1]}" for r in rows)
    key = f"{g.get('symbol', '?')} {g.get('timeframe', '?')}"
    return MonteCarloGroup(key, TableModel(MC_COLUMNS, rows, keys))


def monte_carlo_model(section: Mapping[str, Any] | None) -> MonteCarloModel:
    """The model of a report's ``monte_carlo`` section (None or not a dict: :data:`NO_SECTION`)."""
    if not isinstance(section, Mapping):
        return NO_SECTION
    groups = tuple(_group(g) for g in section.get("groups") or [] if isinstance(g, Mapping))
    paths = section.get("paths")
    n = f"{paths:,}" if isinstance(paths, int) else "n/a"
    header = (
        f"Monte Carlo: {n} paths per combination, seed {section.get('seed', 'n/a')}, block "
        f"{section.get('block', 'n/a')} bars; blocks = circular block bootstrap of bar returns, "
        "trades = trade returns drawn with replacement (fractions)"
    )
    return MonteCarloModel(True, header, groups)
