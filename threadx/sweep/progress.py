"""Pure view helpers shared by the CLI and the GUI: ETA text and ranking tables."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from threadx.core.units import SECONDS_PER_HOUR, SECONDS_PER_MINUTE
from threadx.sweep.states import RunState

if TYPE_CHECKING:
    from threadx.sweep.spec import SweepSpec

RANK_METRICS = ("sharpe", "total_return", "max_drawdown", "n_trades", "win_rate", "profit_factor")


def format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, SECONDS_PER_HOUR)
    m, s = divmod(rem, SECONDS_PER_MINUTE)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def eta_text(elapsed_s: float, fraction_done: float) -> str:
    """``"ETA 01:23"`` from elapsed time and the fraction done; ``"done in ..."`` at 100 %."""
    if fraction_done >= 1.0:
        return f"done in {format_duration(elapsed_s)}"
    if fraction_done <= 0.0 or elapsed_s <= 0:
        return "ETA --:--"
    return f"ETA {format_duration(elapsed_s * (1.0 - fraction_done) / fraction_done)}"


def ranking_table(frame: pd.DataFrame, spec: SweepSpec) -> str:
    """Ranked rows as text: rank, dataset, the swept parameters, the headline metrics. An
    aggregate ranking (:func:`threadx.sweep.results.rank_aggregate`) shows ``n_datasets``, the
    aggregated ranked metrics and the first one's value on each dataset instead."""
    if frame.empty:
        return "  (no results)"
    swept = list(spec.grid_values())
    ranked = [k.lstrip("+-") for k in spec.rank.by]
    metrics = list(dict.fromkeys([*ranked, *RANK_METRICS]))
    per_dataset = [c for c in frame.columns if "@" in str(c)]
    cols = [
        c
        for c in ("rank", "symbol", "timeframe", *swept, "n_datasets", *metrics, *per_dataset)
        if c in frame.columns
    ]
    return frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}")


def aggregate_title(how: str, n_datasets: int) -> str:
    """``"worst case across 2 datasets"``-style words for an aggregate ranking ('' for none)."""
    if how == "none":
        return ""
    word = "median" if how == "median" else "worst case"
    return f"{word} across {n_datasets} dataset{'s' if n_datasets != 1 else ''}"


def progress_line(st: dict) -> str:
    """One line from a progress/status dict: bar, done/total, throughput, ETA, state."""
    total = st.get("total") or st.get("total_tasks") or 0
    done = st.get("done") if "done" in st else st.get("done_tasks", 0)
    frac = st.get("fraction", done / total if total else 1.0)
    width = 30
    bar = "#" * int(width * frac) + "-" * (width - int(width * frac))
    rate = st.get("bar_steps_per_s") or 0.0
    eta = eta_text(st.get("elapsed_s") or 0.0, frac)
    state = f" [{st['state']}]" if st.get("state") not in (None, RunState.RUNNING) else ""
    if st.get("search"):  # a sampling run: trials evaluated / budget, the best so far
        best = st.get("best")
        shown = f"best {best['metric']} {best['value']:.4g}" if best else "best --"
        return (
            f"[{bar}] {st.get('evaluated') or done:,}/{total:,} trials ({st['search']}) "
            f"{frac:6.1%}  {shown}  {rate:,.3g} bar-steps/s  {eta}{state}"
        )
    return f"[{bar}] {done:,}/{total:,} {frac:6.1%}  {rate:,.3g} bar-steps/s  {eta}{state}"
