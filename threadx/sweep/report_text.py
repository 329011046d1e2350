"""The overfitting report (:mod:`threadx.sweep.overfit`) as terminal text: the verdict, then per
group its statistics, the PBO precision, the OOS-rank histogram of the in-sample best and the
top-K table (``threadx sweep report``, the end of ``threadx sweep run``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from threadx.core.jsonio import json_float
from threadx.strategy.params import PARAM_NAMES
from threadx.sweep.overfit import (
    DSR_BAD,
    DSR_GOOD,
    PBO_BAD,
    PBO_GOOD,
    _label,
)


def format_report(report: dict[str, Any]) -> str:
    """The report as terminal text: the verdict, then per group its statistics, the OOS-rank
    histogram of the in-sample best and the top-K table."""
    th = report.get("thresholds") or {}
    lines = [
        f"overfitting report{' of ' + report['run_id'] if report.get('run_id') else ''}: "
        f"{report.get('n_trials', 0):,} combinations, {report.get('blocks')} time blocks",
        f"verdict: {report.get('verdict')}",
        f"(DSR >= {th.get('dsr_good', DSR_GOOD)} and PBO < {th.get('pbo_good', PBO_GOOD)}: "
        f"the edge survives; DSR < {th.get('dsr_bad', DSR_BAD)} or PBO >= "
        f"{th.get('pbo_bad', PBO_BAD)}: likely overfit; else inconclusive)",
    ]
    for g in report.get("groups") or []:
        lines += ["", *_format_group(g, report)]
    if report.get("monte_carlo"):
        lines += ["", *format_monte_carlo(report["monte_carlo"])]
    return "\n".join(lines)


def format_monte_carlo(mc: dict[str, Any]) -> list[str]:
    """The Monte Carlo section: per group and top combination, the block bootstrap of its bar
    returns and the resampled trades (total return quantiles, 5 % VaR, share of profitable paths,
    max drawdown)."""
    out = [
        f"Monte Carlo: {mc['paths']:,} paths per combination, seed {mc['seed']}; blocks = "
        "circular block bootstrap of bar returns, trades = trade returns drawn with replacement",
    ]
    head = (
        f"  {'combo':>7} {'method':<7} {'block':>5} {'ret p05':>9} {'ret p50':>9} "
        f"{'ret p95':>9} {'VaR 5%':>8} {'P(>0)':>6} {'MDD p50':>8} {'MDD p95':>8}"
    )
    for g in mc.get("groups") or []:
        out += [f"{g['symbol']} {g['timeframe']}:", head]
        for c in g["combos"]:
            for method, key in (("blocks", "blocks"), ("trades", "trades_resampled")):
                s = c.get(key)
                if s is None:
                    out.append(f"  {c['combo_id']:>7} {method:<7} (no {method})")
                    continue
                block = str(c["block"]) if method == "blocks" else "-"
                out.append(
                    f"  {c['combo_id']:>7} {method:<7} {block:>5} {s['return_p05']:>9.2%} "
                    f"{s['return_p50']:>9.2%} {s['return_p95']:>9.2%} {s['var_5']:>8.2%} "
                    f"{s['p_profitable']:>6.1%} {s['max_drawdown_p50']:>8.2%} "
                    f"{s['max_drawdown_p95']:>8.2%}"
                )
    return out


def _num(v: Any, fmt: str = ".4g") -> str:
    return "n/a" if v is None else format(json_float(v), fmt)


def _dsr_trials(g: dict[str, Any], report: dict[str, Any]) -> int:
    """The trials a group's DSR deflates by (a walk-forward fold: its own; reports written
    before ``dsr_trials`` existed: the sweep's)."""
    return int(g.get("dsr_trials", report.get("n_trials", 0)))


def _format_group(g: dict[str, Any], report: dict[str, Any]) -> list[str]:
    n_ret = g.get("n_returns")
    out = [
        f"{_label(g)}: {g['n_trials']:,} combinations, "
        f"{'?' if n_ret is None else format(n_ret, ',')} bar returns each",
        f"  Sharpe per bar over the combinations: mean {_num(g.get('sr_mean'))}, variance "
        f"{_num(g.get('sr_var'))}; expected best of {_dsr_trials(g, report):,} random "
        f"strategies {_num(g.get('expected_max_sr'))} per bar "
        f"({_num(g.get('expected_max_sr_annual'), '.3g')} annualised)",
    ]
    if g.get("pbo") is None:
        out.append(f"  PBO n/a: {g.get('pbo_note')}")
    else:
        prec, how = _pbo_precision(g, report.get("thresholds") or {})
        out.append(
            f"  PBO {g['pbo']:.3f}{prec} ({g['pbo_strategies']:,} distinct "
            f"strategies); logit mean {g['logit_mean']:.3f}, median "
            f"{g['logit_median']:.3f}"
        )
        out += how
        out += _format_hist(g.get("oos_rank_hist") or [])
    out.append(f"  verdict: {g.get('verdict')}")
    top = g.get("top") or []
    if top:
        out.append(f"  top {len(top)} by {', '.join(report.get('rank_by') or [])}:")
        cols = [
            "rank",
            "combo_id",
            *(c for c in PARAM_NAMES if c in top[0]),
            "sharpe",
            "sharpe_per_bar",
            "psr",
            "dsr",
            "skewness",
            "kurtosis",
        ]
        table = pd.DataFrame(top, columns=cols).to_string(
            index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a"
        )
        out += ["  " + line for line in table.splitlines()]
    return out


_STOPS = {
    "se": "until the standard error of PBO reached the target {target:g}",
    "clear": "until the 95% interval of PBO cleared the verdict thresholds {good:g} and "
    "{bad:g} (standard error target {target:g})",
    "max": "up to the cap on strategies x splits (standard error target {target:g})",
    "all": "until every split was used",
}


def _pbo_precision(g: dict[str, Any], th: dict[str, Any]) -> tuple[str, list[str]]:
    """How precise PBO is: exact over every split, or its standard error, and the line that
    says how the splits were drawn."""
    done, total = g.get("pbo_splits") or 0, g.get("pbo_splits_total") or 0
    if g.get("pbo_se") is None:  # a report of an older version
        return f" over {done:,} of {total:,} splits", []
    if done == total:
        return f" over all {total:,} splits, exact", []
    why = _STOPS.get(g.get("pbo_stop") or "", "").format(
        target=g.get("pbo_se_target") or 0,
        good=th.get("pbo_good", PBO_GOOD),
        bad=th.get("pbo_bad", PBO_BAD),
    )
    return (
        f" ± {g['pbo_se']:.3f} (standard error) over {done:,} of {total:,} splits",
        [f"  splits drawn at random in complementary pairs {why}".rstrip()],
    )


def _format_hist(hist: list[int]) -> list[str]:
    total, peak = max(sum(hist), 1), max(hist, default=0) or 1
    out = ["  out-of-sample relative rank of the in-sample best (0 = worst, 1 = best):"]
    for i, c in enumerate(hist):
        lo, hi = i / len(hist), (i + 1) / len(hist)
        out.append(f"    {lo:.1f}-{hi:.1f} {'#' * round(30 * c / peak):<30} {c / total:6.1%}")
    return out
