"""Monte Carlo robustness of the best combinations: how bad can it get on plausible other paths?

The overfitting report (DSR, PBO) asks whether an edge is luck; this asks, for each of a run's
top-K combinations, what its own returns would have given in another order or mix. Two resamplings,
both seeded and deterministic (the same seed gives the same numbers on every machine and run):

* ``blocks`` -- a circular block bootstrap of the combination's per-bar returns: a path is made of
  blocks of ``block`` consecutive bars, each starting at a uniformly drawn bar (wrapping round the
  end), until it has as many bars as the original. Blocks keep the short-range dependence
  (volatility clusters, a position's run of bars). The block length defaults to ``round(n^(1/3))``
  bars (the rate that balances a block bootstrap's bias and variance), at least 1, and is stated in
  the output.
* ``trades`` -- the combination's closed-trade *returns* drawn with replacement, as many as it
  made, in random order. A trade's return here is its pnl over the account equity when it opened
  (:func:`trade_equity_returns`; trades never overlap, so compounding them in their own order gives
  the final equity exactly), never its absolute pnl, so a path does not depend on the equity a
  trade happened to meet. A mere reshuffle would leave
  the total return unchanged (a product does not depend on its order); drawing with replacement
  varies both the total and the drawdown.

Per combination and resampling: the mean, standard deviation and 5/50/95 % quantiles of the total
return, ``var_5`` (the 5 % value at risk of the total return: the loss, as a positive fraction,
exceeded on 5 % of the paths; 0 when even that path made money), ``p_profitable`` (share of paths
with a total return above zero), and the mean / median / 95 % quantile of the maximum drawdown
(``1 - equity / running peak``, as everywhere in ThreadX).

The paths run in compiled code (numba), one combination at a time; the cost is
``paths x (bars + trades)`` per combination, and it runs on the top-K only.

The settings (paths, block length, seed, how many of the top combinations) are
:class:`threadx.sweep.spec.MonteCarloSpec`: a spec's ``[report.monte_carlo]``, or the one
``threadx sweep report --monte-carlo`` builds from its flags.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

if TYPE_CHECKING:
    from threadx.sweep.spec import MonteCarloSpec

QUANTILES = (0.05, 0.5, 0.95)


def block_length(n_returns: int, block: int = 0) -> int:
    """The block length used for ``n_returns`` bar returns (``block`` if given, else
    ``round(n^(1/3))``), never above ``n_returns`` and at least 1."""
    chosen = block if block > 0 else round(n_returns ** (1.0 / 3.0))
    return max(1, min(int(chosen), max(n_returns, 1)))


@numba.njit(cache=True)
def _path_stats(returns: np.ndarray, index: np.ndarray) -> tuple[float, float]:
    """Total return and maximum drawdown of the path that compounds ``returns[index]``."""
    equity = 1.0
    peak = 1.0
    worst = 0.0
    for j in range(index.shape[0]):
        equity *= 1.0 + returns[index[j]]
        if equity > peak:
            peak = equity
        dd = 1.0 - equity / peak
        if dd > worst:
            worst = dd
    return equity - 1.0, min(max(worst, 0.0), 1.0)


@numba.njit(cache=True)
def _block_paths(
    returns: np.ndarray, block: int, n_paths: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    np.random.seed(seed)
    n = returns.shape[0]
    total = np.empty(n_paths)
    mdd = np.empty(n_paths)
    index = np.empty(n, np.int64)
    for p in range(n_paths):
        j = 0
        while j < n:
            start = np.random.randint(0, n)
            for k in range(block):
                if j == n:
                    break
                index[j] = (start + k) % n
                j += 1
        total[p], mdd[p] = _path_stats(returns, index)
    return total, mdd


def trade_equity_returns(pnl: np.ndarray, initial_equity: float) -> np.ndarray:
    """Each closed trade's pnl over the equity before it (``initial + earlier pnl``)."""
    pnl = np.asarray(pnl, dtype=np.float64)
    before = initial_equity + np.concatenate(([0.0], np.cumsum(pnl)[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(before > 0.0, pnl / before, np.nan)


def _seed(seed: int, *salt: int) -> int:
    """A 31-bit seed for one combination and resampling (numba's generator takes a uint32)."""
    return int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0] & 0x7FFFFFFF)


def summarize(total: np.ndarray, mdd: np.ndarray) -> dict[str, float]:
    """The distribution of total return and maximum drawdown over the paths."""
    q05, q50, q95 = (float(x) for x in np.quantile(total, QUANTILES))
    d50, d95 = (float(x) for x in np.quantile(mdd, (0.5, 0.95)))
    return {
        "return_mean": float(np.mean(total)),
        "return_std": float(np.std(total, ddof=1)) if total.size > 1 else 0.0,
        "return_p05": q05,
        "return_p50": q50,
        "return_p95": q95,
        "var_5": max(0.0, -q05),
        "p_profitable": float(np.mean(total > 0.0)),
        "max_drawdown_mean": float(np.mean(mdd)),
        "max_drawdown_p50": d50,
        "max_drawdown_p95": d95,
    }


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def resample_combination(
    bar_returns: np.ndarray,
    trade_returns: np.ndarray,
    settings: MonteCarloSpec,
    salt: int = 0,
) -> dict[str, Any]:
    """Both resamplings of one combination (``salt`` tells combinations' seeds apart)."""
    bars, trades = _finite(bar_returns), _finite(trade_returns)
    block = block_length(bars.size, settings.block)
    out: dict[str, Any] = {"bars": int(bars.size), "trades": int(trades.size), "block": block}
    if bars.size:
        tot, mdd = _block_paths(bars, block, settings.paths, _seed(settings.seed, salt, 0))
        out["blocks"] = summarize(tot, mdd)
    else:
        out["blocks"] = None
    if trades.size:
        # drawn with replacement: a block bootstrap with blocks of one trade
        tot, mdd = _block_paths(trades, 1, settings.paths, _seed(settings.seed, salt, 1))
        out["trades_resampled"] = summarize(tot, mdd)
    else:
        out["trades_resampled"] = None  # no trade: nothing to resample
    return out


def monte_carlo(
    frame_of_bars: Any,
    bar_minutes: float,
    rows: list[dict[str, Any]],
    settings: MonteCarloSpec,
) -> list[dict[str, Any]]:
    """Monte Carlo of each result row (its parameters) on the bars it was swept on: the
    reference simulation gives its bar and trade returns, then :func:`resample_combination`."""
    from threadx.strategy.params import PARAM_NAMES, params_from_mapping
    from threadx.strategy.reference import backtest_frame

    out = []
    for i, row in enumerate(rows[: settings.top_k]):
        params = params_from_mapping({k: _plain(row[k]) for k in PARAM_NAMES if k in row})
        res = backtest_frame(frame_of_bars, params, bar_minutes)
        pnl = res.trades["pnl"].to_numpy(dtype=np.float64)
        trade_returns = trade_equity_returns(pnl, float(res.equity[0]))
        mc = resample_combination(res.returns, trade_returns, settings, salt=i)
        out.append({"params": params.model_dump(), **mc})
    return out


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    return None if isinstance(v, float) and math.isnan(v) else v


def run_monte_carlo(
    run_dir: Any,
    report: dict[str, Any],
    settings: MonteCarloSpec,
    *,
    frame: Any = None,
    spec: Any = None,
    store: Any = None,
) -> dict[str, Any]:
    """Monte Carlo of the top-K rows of each group of a run's overfitting ``report`` (in its
    ranking order), on the bars the run swept (loaded from the store: ``{data_root}`` is the
    folder above ``runs/`` unless ``store`` is given). Walk-forward fold groups are skipped (their
    train windows are reported by the walk-forward report)."""
    from pathlib import Path

    from threadx.data.store import OHLCVStore
    from threadx.sweep.plan import load_datasets
    from threadx.sweep.results import RunStore
    from threadx.sweep.spec import load_spec

    runs = RunStore(Path(run_dir))
    spec = load_spec(runs.spec_path) if spec is None else spec
    store = OHLCVStore(Path(run_dir).resolve().parent.parent) if store is None else store
    frame = runs.load() if frame is None else frame
    groups = [g for g in report.get("groups") or [] if "fold" not in g]
    datasets = {(d.symbol, d.timeframe): d for d in load_datasets(spec, store)} if groups else {}
    out = []
    for g in groups:
        ds = datasets[(g["symbol"], g["timeframe"])]
        ids = [int(r["combo_id"]) for r in g["top"][: settings.top_k]]
        mine = frame[(frame["symbol"] == g["symbol"]) & (frame["timeframe"] == g["timeframe"])]
        by_id = mine.set_index("combo_id")
        rows = [{**by_id.loc[i].to_dict(), "combo_id": i} for i in ids]
        combos = monte_carlo(ds.to_frame(), ds.bar_minutes, rows, settings)
        for i, c in zip(ids, combos, strict=True):
            c["combo_id"] = i
        out.append({"symbol": g["symbol"], "timeframe": g["timeframe"], "combos": combos})
    return {
        "paths": settings.paths,
        "block": settings.block or "n^(1/3)",
        "seed": settings.seed,
        "top_k": settings.top_k,
        "groups": out,
    }
