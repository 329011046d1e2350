"""How much to trust a ranking: PSR, DSR (Bailey & López de Prado) and PBO by CSCV.

All Sharpe ratios here are *per bar* (not annualised), as the formulas require; annualise with
``sqrt(periods_per_year)`` for display only.

* Probabilistic Sharpe Ratio (Bailey & López de Prado, 2012)::

      PSR(SR*) = Φ( (SR − SR*) · √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²) )

  ``n`` bar returns, ``γ3`` skewness, ``γ4`` kurtosis (non-excess: 3 for a normal).
* Deflated Sharpe Ratio (Bailey & López de Prado, 2014): PSR against the expected maximum Sharpe of
  ``N`` unskilled trials whose Sharpe ratios have variance ``V``::

      SR0 = √V · ((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))),   γ = Euler–Mascheroni

* Probability of Backtest Overfitting by combinatorially symmetric cross-validation (Bailey,
  Borwein, López de Prado & Zhu, 2015) over ``S`` equal time blocks: for every split of the blocks
  into two halves, the in-sample best combination's out-of-sample relative rank ``ω`` gives the
  logit ``λ = ln(ω / (1 − ω))``; PBO is the share of splits with ``λ <= 0``. Performance on a set
  of blocks is the Sharpe ratio of those blocks' returns (each block's return is the sum of its bar
  returns), computed for all combinations at once from per-block sums.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def moments_from_sums(n: float, s1: float, s2: float, s3: float, s4: float
                      ) -> tuple[float, float, float, float]:  # fmt: skip
    """(mean, population variance, skewness, kurtosis) from raw power sums Σr, Σr², Σr³, Σr⁴.
    Skewness and kurtosis are 0 and 3 when the variance is 0."""
    if n <= 0:
        return 0.0, 0.0, 0.0, 3.0
    m1 = s1 / n
    m2 = max(s2 / n - m1 * m1, 0.0)
    m3 = s3 / n - 3 * m1 * s2 / n + 2 * m1**3
    m4 = s4 / n - 4 * m1 * s3 / n + 6 * m1 * m1 * s2 / n - 3 * m1**4
    if m2 <= 0:
        return m1, 0.0, 0.0, 3.0
    return m1, m2, m3 / m2**1.5, m4 / m2**2


def psr(sr: float, n: int, skew: float, kurt: float, sr_star: float = 0.0) -> float:
    """Probability that the true per-bar Sharpe exceeds ``sr_star`` (NaN if undefined)."""
    if n < 2:
        return math.nan
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if denom <= 0:
        return math.nan
    return _N.cdf((sr - sr_star) * math.sqrt(n - 1) / math.sqrt(denom))


def expected_max_sharpe(var_sr: float, n_trials: int, mean_sr: float = 0.0) -> float:
    """Expected maximum of ``n_trials`` Sharpe ratios with variance ``var_sr`` (False Strategy
    Theorem approximation)."""
    if n_trials < 2 or var_sr <= 0:
        return mean_sr
    z1 = _N.inv_cdf(1 - 1 / n_trials)
    z2 = _N.inv_cdf(1 - 1 / (n_trials * math.e))
    return mean_sr + math.sqrt(var_sr) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def dsr(sr: float, n: int, skew: float, kurt: float, var_sr: float, n_trials: int) -> float:
    """Deflated Sharpe Ratio: PSR against the expected best Sharpe of ``n_trials`` null trials."""
    return psr(sr, n, skew, kurt, expected_max_sharpe(var_sr, n_trials))


@dataclass(frozen=True)
class PBOResult:
    pbo: float  # share of splits where the in-sample best ranks in the lower half out of sample
    logits: np.ndarray  # λ per split
    oos_rank: np.ndarray  # relative out-of-sample rank ω of the in-sample best, per split
    n_splits: int
    n_strategies: int

    def rank_histogram(self, bins: int = 10) -> list[int]:
        """Counts of ω in ``bins`` equal bins of (0, 1): the distribution of OOS ranks."""
        counts, _ = np.histogram(self.oos_rank, bins=bins, range=(0.0, 1.0))
        return [int(c) for c in counts]


def block_sharpe(sum_b: np.ndarray, sum_b2: np.ndarray, k: int) -> np.ndarray:
    """Sharpe (mean/std, ddof=1) of ``k`` block returns from their sum and sum of squares."""
    mean = sum_b / k
    var = np.maximum(sum_b2 / k - mean * mean, 0.0) * k / max(k - 1, 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 1e-15, mean / sd, 0.0)
    return out


def pbo_cscv(blocks: np.ndarray, max_splits: int | None = None, chunk: int = 64) -> PBOResult:
    """PBO over the columns of ``blocks[n_strategies, S]`` (per-block returns), S even.

    All ``C(S, S/2)`` splits are used (12,870 for S = 16) unless ``max_splits`` takes an evenly
    spaced subset. Memory is O(n_strategies × chunk): splits are processed ``chunk`` at a time.
    """
    b = np.asarray(blocks, dtype=np.float64)
    n, s = b.shape
    if s < 2 or s % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {s}")
    if n < 2:
        raise ValueError("CSCV needs at least 2 strategies")
    splits = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.int64)
    if max_splits is not None and len(splits) > max_splits:
        splits = splits[np.linspace(0, len(splits) - 1, max_splits).astype(np.int64)]
    ind = np.zeros((s, len(splits)))
    ind[splits.T, np.arange(len(splits))] = 1.0
    b2 = b * b
    tot, tot2 = b.sum(1), b2.sum(1)
    half = s // 2
    omegas = np.empty(len(splits))
    for lo in range(0, len(splits), chunk):
        a = ind[:, lo : lo + chunk]
        is_s, is_s2 = b @ a, b2 @ a
        is_perf = block_sharpe(is_s, is_s2, half)
        oos_perf = block_sharpe(tot[:, None] - is_s, tot2[:, None] - is_s2, half)
        best = np.argmax(is_perf, axis=0)  # first index on ties: deterministic
        cols = np.arange(a.shape[1])
        oos_best = oos_perf[best, cols]
        below = (oos_perf < oos_best[None, :]).sum(0)
        omegas[lo : lo + chunk] = (below + 1) / (n + 1)
    logits = np.log(omegas / (1 - omegas))
    return PBOResult(float(np.mean(logits <= 0)), logits, omegas, len(splits), n)
