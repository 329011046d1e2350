"""Seeded synthetic 1-minute OHLCV series for benchmarks and tests.

Close prices follow geometric Brownian motion with the correct drift term: log-returns are normal
with mean ``(mu - sigma**2 / 2) * dt`` and variance ``sigma**2 * dt`` (so ``E[S_t] = S_0 e^{mu
t}``), ``mu`` and ``sigma`` annualised, ``dt`` one bar in years (crypto: 525,960 minutes a year).
Each bar opens at the previous close; high and low extend beyond the body by the size of a Brownian
excursion within the bar (half-normal of the intrabar volatility), so ``high >= max(open, close)``
and ``low <= min(open, close)`` always hold. Volume is log-normal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from threadx.core.units import MINUTES_PER_YEAR
from threadx.core.utc import as_utc
from threadx.data.schema import COLUMNS, INDEX_NAME, validate_ohlcv


def gbm_ohlcv(
    n_bars: int,
    *,
    seed: int = 0,
    start: str | pd.Timestamp = "2023-01-01",
    s0: float = 20_000.0,
    mu: float = 0.0,
    sigma: float = 0.6,
    bar_minutes: int = 1,
    volume_mean: float = 5.0,
) -> pd.DataFrame:
    """A schema-valid frame of ``n_bars`` bars (``bar_minutes`` apart) starting at ``start`` UTC."""
    if n_bars < 1:
        raise ValueError(f"n_bars must be >= 1, got {n_bars}")
    if s0 <= 0 or sigma < 0:
        raise ValueError("s0 must be > 0 and sigma >= 0")
    rng = np.random.default_rng(seed)
    dt = bar_minutes / MINUTES_PER_YEAR
    vol = sigma * np.sqrt(dt)
    log_ret = (mu - 0.5 * sigma**2) * dt + vol * rng.standard_normal(n_bars)
    close = s0 * np.exp(np.cumsum(log_ret))
    open_ = np.empty(n_bars)
    open_[0] = s0
    open_[1:] = close[:-1]
    up = np.abs(rng.standard_normal(n_bars)) * vol * 0.5
    down = np.abs(rng.standard_normal(n_bars)) * vol * 0.5
    high = np.maximum(open_, close) * np.exp(up)
    low = np.minimum(open_, close) * np.exp(-down)
    volume = rng.lognormal(np.log(volume_mean), 1.0, n_bars)
    t0 = as_utc(start)
    idx = pd.date_range(t0, periods=n_bars, freq=f"{bar_minutes}min", name=INDEX_NAME)
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": volume},
        index=idx.as_unit("ns"),
    )[list(COLUMNS)]
    return validate_ohlcv(frame, source=f"gbm_ohlcv(seed={seed})")
