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

import numba
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
    """Sharpe (mean/std, ddof=1) of ``k`` block returns from their sum and sum of squares;
    0 when the std is at most 1e-15 (the same rule as :func:`_cscv_omegas`)."""
    mean = sum_b / k
    var = np.maximum(sum_b2 / k - mean * mean, 0.0) * k / max(k - 1, 1)
    sd = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 1e-15, mean / sd, 0.0)
    return out


@numba.njit(cache=True, nogil=True)
def _sharpe_nb(s1: float, s2: float, k: int) -> float:
    mean = s1 / k
    var = max(s2 / k - mean * mean, 0.0) * k / max(k - 1, 1)
    sd = math.sqrt(var)
    return mean / sd if sd > 1e-15 else 0.0


@numba.njit(parallel=True, cache=True, nogil=True)
def _cscv_omegas(b: np.ndarray, in_sample: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    """ω of every split: ``in_sample[j, k]`` is True when block ``k`` is in split ``j``'s
    in-sample half. One pass over the strategies per split (O(n) memory per thread): in- and
    out-of-sample sums straight from the blocks, the first in-sample best on ties."""
    n, s = b.shape
    m = in_sample.shape[0]
    half = s // 2
    out = np.empty(m)
    for j in numba.prange(m):
        oos = np.empty(n)
        best = 0
        best_is = -np.inf
        for i in range(n):
            si = 0.0
            si2 = 0.0
            so = 0.0
            so2 = 0.0
            for k in range(s):
                v = b[i, k]
                if in_sample[j, k]:
                    si += v
                    si2 += v * v
                else:
                    so += v
                    so2 += v * v
            p = _sharpe_nb(si, si2, half)
            oos[i] = _sharpe_nb(so, so2, s - half)
            if p > best_is:
                best_is = p
                best = i
        ob = oos[best]
        below = 0
        for i in range(n):
            below += oos[i] < ob
        out[j] = (below + 1) / (n + 1)
    return out


def pbo_cscv(blocks: np.ndarray, max_splits: int | None = None) -> PBOResult:
    """PBO over the rows of ``blocks[n_strategies, S]`` (per-block returns), S even.

    All ``C(S, S/2)`` splits are used (12,870 for S = 16) unless ``max_splits`` takes an evenly
    spaced subset. A compiled loop, parallel over splits, keeps memory at O(n_strategies) per
    thread: nothing of size strategies x splits is ever built.
    """
    b = np.ascontiguousarray(blocks, dtype=np.float64)
    if b.ndim != 2:
        raise ValueError(f"blocks must be a 2-D array (strategies x blocks), got {b.shape}")
    n, s = b.shape
    if s < 2 or s % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, got {s}")
    if n < 2:
        raise ValueError("CSCV needs at least 2 strategies")
    if not np.all(np.isfinite(b)):
        raise ValueError("block returns must be finite")
    splits = np.array(list(itertools.combinations(range(s), s // 2)), dtype=np.int64)
    if max_splits is not None and len(splits) > max_splits:
        splits = splits[np.linspace(0, len(splits) - 1, max_splits).astype(np.int64)]
    in_sample = np.zeros((len(splits), s), dtype=np.bool_)
    in_sample[np.arange(len(splits))[:, None], splits] = True
    omegas = _cscv_omegas(b, in_sample)
    logits = np.log(omegas / (1 - omegas))
    return PBOResult(float(np.mean(logits <= 0)), logits, omegas, len(splits), n)
