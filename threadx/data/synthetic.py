"""Seeded synthetic 1-minute bars: pure noise, or noise with a planted mean-reverting edge.

The ground truth for the things real data cannot check: the overfitting report's calibration
(on pure noise no combination has an edge; with a planted edge the best ones do) and the
search benchmarks (a sampler has something to find). Written to the store like imported data
(``OHLCVStore.write``), so the pipeline runs on them as on real bars.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def synthetic_1m(
    n: int, seed: int, *, sigma_rw: float, phi: float = 0.0, sigma_ou: float = 0.0
) -> pd.DataFrame:
    """Seeded 1-minute bars whose log close is a random walk (sd ``sigma_rw`` per bar) plus an
    AR(1) / discrete OU component ``y[t] = phi * y[t-1] + sigma_ou * e[t]`` (the planted
    mean-reverting edge; none when ``sigma_ou = 0``). Each bar opens at the previous close; high
    and low are exact draws of the maximum / minimum of a Brownian bridge from open to close with
    the bar's variance, so a stop touched inside the bar is as likely as in continuous trading
    (too-small wicks would hand stop exits a free edge on pure noise)."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(sigma_rw * rng.standard_normal(n))
    shocks = sigma_ou * rng.standard_normal(n)
    ou = np.empty(n)
    acc = 0.0
    for i in range(n):
        acc = phi * acc + shocks[i]
        ou[i] = acc
    log_close = math.log(20_000.0) + walk + ou
    log_open = np.r_[log_close[0], log_close[:-1]]
    move = log_close - log_open
    var = sigma_rw**2 + 2 * sigma_ou**2 / (1 + phi)  # variance of one bar's log move
    up = (move + np.sqrt(move**2 - 2 * var * np.log(1 - rng.random(n)))) / 2
    down = (move - np.sqrt(move**2 - 2 * var * np.log(1 - rng.random(n)))) / 2
    close, open_ = np.exp(log_close), np.exp(log_open)
    idx = pd.date_range("2024-01-01", periods=n, freq="1min", tz="UTC", name="time")
    return pd.DataFrame(
        {
            "open": open_,
            "close": close,
            "volume": np.ones(n),
            "high": np.maximum(np.exp(log_open + up), np.maximum(open_, close)),
            "low": np.minimum(np.exp(log_open + down), np.minimum(open_, close)),
        },
        index=idx.as_unit("ns"),
    )[["open", "high", "low", "close", "volume"]]
