"""Performance metrics: the ONE implementation of the STRATEGY.md "Metrics" table.

Inputs are an equity curve (one value per bar) and per-trade arrays (net pnl, bars held, fees).
Every formula below is written so that a fused kernel can reproduce it from streaming sums
(O(1) state per combination):

======================  =====================================================================
metric                  formula (``r`` = bar returns, ``k = len(r)``, ``ppy`` = periods/year)
======================  =====================================================================
final_equity            ``equity[last]``
total_return            ``final / initial − 1``
cagr                    ``(final / initial) ** (365.25 days / span) − 1``; span = last − first
                        timestamp; ``−1`` if ruined (or final <= 0); ``0`` if span = 0
annual_volatility       ``sd · √ppy``, ``sd = √((Σr² − k·mean²) / (k − 1))`` (two-pass here)
sharpe                  ``mean / sd · √ppy``; 0 when ``sd < 1e-12``
sortino                 ``mean / dd · √ppy``, ``dd = √(Σ min(r,0)² / k)``; if ``dd == 0``:
                        ``+inf`` when mean > 0 else 0
max_drawdown            ``max_t (1 − equity[t] / peak[t])``, peak = running max of equity,
                        clamped to [0, 1] (a non-positive peak counts as drawdown 1)
calmar                  ``cagr / max_drawdown``; if max_drawdown = 0: +inf when cagr > 0, else 0
n_trades                number of closed trades (end_of_data and ruin included)
win_rate                ``#(pnl > 0) / n_trades``; 0 without trades
profit_factor           ``Σ pnl⁺ / |Σ pnl⁻|``; +inf if no loss but profit; 0 if neither
expectancy              ``Σ pnl / n_trades``; 0 without trades
avg_win                 ``Σ pnl⁺ / #(pnl > 0)``; 0 without winners
avg_loss                ``Σ pnl⁻ / #(pnl < 0)`` (a negative number); 0 without losers
exposure                ``Σ bars_held / n_bars`` (fraction of bars ending in a position)
avg_bars_held           ``Σ bars_held / n_trades``; 0 without trades
total_fees              ``Σ fees`` (entry and exit fees of every trade)
ruined                  bool
======================  =====================================================================

Bar returns: ``r[t] = equity[t] / equity[t−1] − 1`` for ``t = 1 .. n−1``, and ``r[t] = 0``
whenever ``equity[t−1] <= 0`` (STRATEGY.md "Precise points"). Fewer than 2 returns make
annual_volatility, sharpe and sortino 0. Sums use ``math.fsum`` (correctly rounded), so the
reference values are as exact as float64 allows. A trade with pnl exactly 0 is neither a win nor a
loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from threadx.core import units

__all__ = [
    "INT_METRICS",
    "METRIC_NAMES",
    "MINUTES_PER_YEAR",
    "SHARPE_STD_FLOOR",
    "bar_returns",
    "compute_metrics",
    "drawdown",
    "metrics_to_json",
    "periods_per_year",
]

METRIC_NAMES: tuple[str, ...] = (
    "final_equity",
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "calmar",
    "n_trades",
    "win_rate",
    "profit_factor",
    "expectancy",
    "avg_win",
    "avg_loss",
    "exposure",
    "avg_bars_held",
    "total_fees",
    "ruined",
)
#: Metrics that are integers (``ruined`` is a bool, i.e. an int 0/1) and must match exactly.
INT_METRICS: tuple[str, ...] = ("n_trades", "ruined")

#: 365.25 days · 24 h · 60 min: crypto trades around the clock; nanoseconds in that CAGR year
#: (their one home: :mod:`threadx.core.units`).
MINUTES_PER_YEAR = units.MINUTES_PER_YEAR
_NS_PER_YEAR = units.NS_PER_YEAR
#: Sharpe is 0 when the standard deviation of bar returns is below this.
SHARPE_STD_FLOOR = 1e-12


def periods_per_year(bar_minutes: float) -> float:
    """Bars per year for a timeframe of ``bar_minutes`` minutes: ``525960 / bar_minutes``."""
    if isinstance(bar_minutes, bool) or not bar_minutes > 0:
        raise ValueError(f"bar_minutes must be > 0, got {bar_minutes!r}")
    return MINUTES_PER_YEAR / bar_minutes


def bar_returns(equity: np.ndarray) -> np.ndarray:
    """``r[t−1] = equity[t] / equity[t−1] − 1`` for ``t >= 1`` (length ``n − 1``);
    ``0`` wherever ``equity[t−1] <= 0``."""
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1:
        raise ValueError(f"equity must be a 1-D array, got shape {eq.shape}")
    if eq.size < 2:
        return np.zeros(0, dtype=np.float64)
    prev, cur = eq[:-1], eq[1:]
    out = np.zeros(eq.size - 1, dtype=np.float64)
    ok = prev > 0
    out[ok] = cur[ok] / prev[ok] - 1.0
    return out


def drawdown(equity: np.ndarray) -> np.ndarray:
    """Per-bar drawdown ``1 − equity[t] / max_{u<=t} equity[u]``, clamped to [0, 1]
    (1 where the running peak is not positive)."""
    eq = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(eq) if eq.size else eq
    dd = np.ones(eq.size, dtype=np.float64)
    ok = peak > 0
    dd[ok] = 1.0 - eq[ok] / peak[ok]
    return np.clip(dd, 0.0, 1.0)


def _cagr(final: float, initial: float, span_ns: int, ruined: bool) -> float:
    """``(final/initial) ** (365.25 days / span) − 1``; −1 if ruined; 0 for a span of 0."""
    if ruined or final <= 0:
        return -1.0
    if span_ns <= 0:
        return 0.0
    try:
        return (final / initial) ** (_NS_PER_YEAR / span_ns) - 1.0
    except OverflowError:  # a huge gain over a short span: the float limit is +inf
        return math.inf


def _return_stats(r: np.ndarray, ppy: float) -> tuple[float, float, float]:
    """``(annual_volatility, sharpe, sortino)`` from bar returns (see the module table)."""
    k = r.size
    if k < 2:
        return 0.0, 0.0, 0.0
    mean = math.fsum(r) / k
    sd = math.sqrt(math.fsum((r - mean) ** 2) / (k - 1))
    root = math.sqrt(ppy)
    vol = sd * root
    sharpe = 0.0 if sd < SHARPE_STD_FLOOR else mean / sd * root
    downside = math.sqrt(math.fsum(np.minimum(r, 0.0) ** 2) / k)
    if downside == 0.0:
        sortino = math.inf if mean > 0 else 0.0
    else:
        sortino = mean / downside * root
    return vol, sharpe, sortino


# --- return statistics for the overfitting report (not STRATEGY.md metrics) ---------------------
STAT_NAMES: tuple[str, ...] = ("skewness", "kurtosis")
DEFAULT_BLOCKS = 16


def block_bounds(n_returns: int, blocks: int) -> np.ndarray:
    """Start indices (into the returns) of ``blocks`` equal blocks, plus ``n_returns`` at the end:
    return ``j`` belongs to block ``floor(j * blocks / n_returns)``; empty blocks when there are
    fewer returns than blocks."""
    b = np.arange(blocks + 1, dtype=np.int64)
    return -((-b * int(n_returns)) // int(blocks))  # ceil(b * n / S)


def return_statistics(r: np.ndarray, blocks: int = DEFAULT_BLOCKS) -> dict[str, Any]:
    """Skewness and kurtosis (Pearson: 3 for a normal) of the bar returns ``r`` (population
    moments about the mean; 0 and 3 when the population sd is below ``SHARPE_STD_FLOOR``) and the
    sum of the returns of each of ``blocks`` equal time blocks (:func:`block_bounds`).

    The kernels accumulate the same quantities in one pass: Σr, Σr³, Σr⁴, the central second
    moment, and the running Σr at block boundaries.
    """
    r = np.asarray(r, dtype=np.float64)
    k = r.size
    skew, kurt = 0.0, 3.0
    if k >= 1:
        m1 = math.fsum(r) / k
        m2 = math.fsum((r - m1) ** 2) / k
        if math.sqrt(m2) >= SHARPE_STD_FLOOR:
            e3 = math.fsum(r**3) / k
            m3 = e3 - 3.0 * m1 * m2 - m1**3
            m4 = math.fsum(r**4) / k - 4.0 * m1 * e3 + 6.0 * m1 * m1 * m2 + 3.0 * m1**4
            skew = m3 / (m2 * math.sqrt(m2))
            kurt = m4 / (m2 * m2)
    bounds = block_bounds(k, blocks) if blocks > 0 else np.zeros(1, dtype=np.int64)
    sums = np.array([math.fsum(r[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return {"skewness": skew, "kurtosis": kurt, "blocks": sums.astype(np.float64)}


def _calmar(cagr: float, max_dd: float) -> float:
    if max_dd > 0:
        return cagr / max_dd
    return math.inf if cagr > 0 else 0.0


def _trade_stats(pnl: np.ndarray, bars: np.ndarray, fees: np.ndarray, n_bars: int) -> dict:
    """Trade metrics (n_trades … total_fees) with the STRATEGY.md edge cases."""
    n = int(pnl.size)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    gross_win, gross_loss = math.fsum(wins), math.fsum(losses)
    if gross_loss < 0:
        profit_factor = gross_win / -gross_loss
    else:
        profit_factor = math.inf if gross_win > 0 else 0.0
    held = math.fsum(bars)
    return {
        "n_trades": n,
        "win_rate": wins.size / n if n else 0.0,
        "profit_factor": profit_factor,
        "expectancy": math.fsum(pnl) / n if n else 0.0,
        "avg_win": gross_win / wins.size if wins.size else 0.0,
        "avg_loss": gross_loss / losses.size if losses.size else 0.0,
        "exposure": held / n_bars if n_bars > 0 else 0.0,
        "avg_bars_held": held / n if n else 0.0,
        "total_fees": math.fsum(fees),
    }


def compute_metrics(
    equity: np.ndarray,
    trade_pnl: np.ndarray,
    trade_bars_held: np.ndarray,
    trade_fees: np.ndarray,
    first_ts_ns: int,
    last_ts_ns: int,
    initial_capital: float,
    bar_minutes: float,
    ruined: bool,
    n_bars: int,
) -> dict[str, Any]:
    """Every metric of STRATEGY.md, keyed by :data:`METRIC_NAMES` in that order.

    Values are plain Python ``float`` (``int`` for n_trades, ``bool`` for ruined); ±inf appear
    where the table says so (use :func:`metrics_to_json` before writing JSON).
    """
    eq = np.asarray(equity, dtype=np.float64)
    if eq.ndim != 1 or eq.size == 0:
        raise ValueError(f"equity must be a non-empty 1-D array, got shape {eq.shape}")
    pnl = np.asarray(trade_pnl, dtype=np.float64).ravel()
    bars = np.asarray(trade_bars_held, dtype=np.float64).ravel()
    fees = np.asarray(trade_fees, dtype=np.float64).ravel()
    if not pnl.size == bars.size == fees.size:
        raise ValueError(
            f"trade arrays differ in length: pnl {pnl.size}, bars {bars.size}, fees {fees.size}"
        )
    final = float(eq[-1])
    initial = float(initial_capital)
    ruined = bool(ruined)
    cagr = _cagr(final, initial, int(last_ts_ns) - int(first_ts_ns), ruined)
    vol, sharpe, sortino = _return_stats(bar_returns(eq), periods_per_year(bar_minutes))
    max_dd = float(drawdown(eq).max())
    out: dict[str, Any] = {
        "final_equity": final,
        "total_return": final / initial - 1.0,
        "cagr": float(cagr),
        "annual_volatility": vol,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "calmar": _calmar(cagr, max_dd),
    }
    out.update(_trade_stats(pnl, bars, fees, int(n_bars)))
    out["ruined"] = ruined
    return {name: out[name] for name in METRIC_NAMES}


def metrics_to_json(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe copy by the project's one policy (:mod:`threadx.core.jsonio`): +inf → ``"inf"``,
    −inf → ``"-inf"``, NaN → ``None``; numpy scalars become plain Python numbers; key order
    kept."""
    from threadx.core.jsonio import to_jsonable

    return {str(k): to_jsonable(v) for k, v in metrics.items()}
