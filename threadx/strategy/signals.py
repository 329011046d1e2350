"""Entry signals of the BB+ATR strategy (STRATEGY.md "Signals" and "Precise points").

Signals are a function of data and parameters only, never of the position:

1. *readiness*: bar ``t`` is ready when ``middle``, ``sd``, ``ATR`` (and the trend EMA if on) are
   defined at ``t`` and ``t − 1``; bars that are not ready carry no signal;
2. *crossing*: long when ``close[t] < lower[t]`` and not ``close[t−1] < lower[t−1]``; short when
   ``close[t] > upper[t]`` and not ``close[t−1] > upper[t−1]``;
3. *trend filter* (``trend_period > 0``): long needs ``close[t] > EMA[t]``, short
   ``close[t] < EMA[t]``;
4. *direction* removes the forbidden side;
5. *spacing*: a surviving signal at ``t`` is dropped when ``t − t_prev < spacing_bars``, ``t_prev``
   being the bar of the previous *kept* signal (either side); dropped signals don't reset the clock.

Steps 1–4 give :func:`raw_signals`; step 5 gives :func:`kept_signals`. Values are int8:
``+1`` long, ``−1`` short, ``0`` none.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from threadx.strategy.indicators import Bollinger, bollinger, ema
from threadx.strategy.indicators import atr as average_true_range
from threadx.strategy.params import StrategyParams

__all__ = ["Indicators", "apply_spacing", "compute_indicators", "kept_signals", "raw_signals"]


class Indicators(NamedTuple):
    """The indicator arrays a run uses: Bollinger bands, ATR and the trend EMA (or None)."""

    bands: Bollinger
    atr: np.ndarray
    trend: np.ndarray | None


def compute_indicators(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, params: StrategyParams
) -> Indicators:
    """Bollinger(bb_period, bb_std), ATR(atr_period, atr_method) and EMA(trend_period) if on."""
    bands = bollinger(close, params.bb_period, params.bb_std)
    atr = average_true_range(high, low, close, params.atr_period, params.atr_method)
    trend = ema(close, params.trend_period) if params.trend_period > 0 else None
    return Indicators(bands, atr, trend)


def _defined_here_and_before(*arrays: np.ndarray) -> np.ndarray:
    """``ready[t]``: every array is non-NaN at ``t`` and at ``t − 1`` (``ready[0]`` is False)."""
    size = arrays[0].size
    defined = np.ones(size, dtype=bool)
    for a in arrays:
        defined &= ~np.isnan(a)
    ready = np.zeros(size, dtype=bool)
    ready[1:] = defined[1:] & defined[:-1]
    return ready


def _previous(mask: np.ndarray) -> np.ndarray:
    """``mask`` shifted one bar later (``False`` at bar 0)."""
    out = np.zeros_like(mask)
    out[1:] = mask[:-1]
    return out


def raw_signals(
    close: np.ndarray,
    bands: Bollinger,
    atr: np.ndarray,
    trend: np.ndarray | None,
    params: StrategyParams,
) -> np.ndarray:
    """Signals after readiness, crossing, trend filter and direction, before spacing (int8)."""
    close = np.asarray(close, dtype=np.float64)
    arrays = [bands.middle, bands.sd, atr]
    if params.trend_period > 0:
        if trend is None:
            raise ValueError("trend_period > 0 but no trend EMA was given")
        arrays.append(trend)
    ready = _defined_here_and_before(*arrays)
    below = close < bands.lower  # False where lower is NaN
    above = close > bands.upper
    long_ = ready & below & ~_previous(below)
    short = ready & above & ~_previous(above)
    if params.trend_period > 0:
        long_ &= close > trend
        short &= close < trend
    if params.direction == "short":
        long_[:] = False
    if params.direction == "long":
        short[:] = False
    out = np.zeros(close.size, dtype=np.int8)
    out[long_] = 1
    out[short] = -1
    return out


def apply_spacing(signals: np.ndarray, spacing_bars: int) -> np.ndarray:
    """Drop every signal less than ``spacing_bars`` bars after the previous kept one.

    A loop over the (few) signal bars, not over all bars; a kept signal resets the clock whether
    or not it later opens a trade.
    """
    kept = np.zeros_like(np.asarray(signals, dtype=np.int8))
    previous: int | None = None
    for t in np.flatnonzero(signals):
        if previous is None or t - previous >= spacing_bars:
            kept[t] = signals[t]
            previous = int(t)
    return kept


def kept_signals(close: np.ndarray, indicators: Indicators, params: StrategyParams) -> np.ndarray:
    """The signals the simulation acts on: :func:`raw_signals` of ``indicators`` (those of
    :func:`compute_indicators`) then :func:`apply_spacing`."""
    bands, atr, trend = indicators
    return apply_spacing(raw_signals(close, bands, atr, trend, params), params.spacing_bars)
