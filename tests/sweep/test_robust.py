"""PSR / DSR / PBO against independent computations and a published worked example."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from threadx.sweep.robust import (
    block_sharpe,
    dsr,
    expected_max_sharpe,
    moments_from_sums,
    pbo_cscv,
    psr,
)

stats = pytest.importorskip("scipy.stats")


def test_moments_from_power_sums_match_scipy():
    rng = np.random.default_rng(1)
    r = rng.standard_t(4, 5000) * 1e-3 + 2e-5
    m, v, sk, ku = moments_from_sums(len(r), r.sum(), (r**2).sum(), (r**3).sum(), (r**4).sum())
    assert m == pytest.approx(r.mean(), rel=1e-12)
    assert v == pytest.approx(r.var(), rel=1e-9)
    assert sk == pytest.approx(stats.skew(r), rel=1e-7)
    assert ku == pytest.approx(stats.kurtosis(r, fisher=False), rel=1e-7)


def _independent_dsr(sr, n, skew, kurt, var_sr, trials):
    norm = stats.norm
    sr0 = math.sqrt(var_sr) * (
        (1 - np.euler_gamma) * norm.ppf(1 - 1 / trials)
        + np.euler_gamma * norm.ppf(1 - 1 / (trials * np.e))
    )
    z = (sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    return norm.cdf(z)


@pytest.mark.parametrize(
    "sr,n,skew,kurt,var_sr,trials",
    [
        (0.05, 1000, -0.5, 5.0, 0.001, 1000),
        (0.01, 30000, 0.3, 12.0, 1e-5, 300_000),
        (-0.02, 500, 0.0, 3.0, 0.002, 10),
        (0.2, 100, -2.0, 9.0, 0.01, 2),
    ],
)
def test_dsr_matches_independent_scipy_implementation(sr, n, skew, kurt, var_sr, trials):
    assert dsr(sr, n, skew, kurt, var_sr, trials) == pytest.approx(
        _independent_dsr(sr, n, skew, kurt, var_sr, trials), abs=1e-6
    )


def test_dsr_published_worked_example():
    """Bailey & López de Prado (2014), 'The Deflated Sharpe Ratio', numerical example: annual
    SR 2.5 over 5 years of daily returns (T = 1250), skew -3, kurtosis 10, N = 100 trials with
    annualised variance of Sharpe ratios 1/2 -> SR0 ~ 0.1132 (daily), DSR ~ 0.9004."""
    sr = 2.5 / math.sqrt(250)
    assert expected_max_sharpe(0.5 / 250, 100) == pytest.approx(0.1132, abs=5e-4)
    assert dsr(sr, 1250, -3.0, 10.0, 0.5 / 250, 100) == pytest.approx(0.9004, abs=5e-4)


def test_psr_basics():
    assert psr(0.0, 100, 0.0, 3.0) == pytest.approx(0.5)
    assert psr(0.1, 1000, 0.0, 3.0) > 0.99
    assert math.isnan(psr(0.1, 1, 0.0, 3.0))


def _direct_cscv(blocks):
    """CSCV written out plainly: per split, concatenate blocks, compute Sharpe, rank."""
    n, s = blocks.shape
    lam = []
    for is_idx in itertools.combinations(range(s), s // 2):
        oos_idx = [j for j in range(s) if j not in is_idx]
        is_perf = [
            np.mean(blocks[i, list(is_idx)]) / np.std(blocks[i, list(is_idx)], ddof=1)
            for i in range(n)
        ]
        oos_perf = [
            np.mean(blocks[i, oos_idx]) / np.std(blocks[i, oos_idx], ddof=1) for i in range(n)
        ]
        best = int(np.argmax(is_perf))
        omega = (sum(p < oos_perf[best] for p in oos_perf) + 1) / (n + 1)
        lam.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.array(lam) <= 0)), np.array(lam)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pbo_matches_direct_cscv(seed):
    rng = np.random.default_rng(seed)
    blocks = rng.normal(0, 1, (25, 8)) + rng.normal(0, 0.3, (25, 1))
    res = pbo_cscv(blocks)
    pbo, lam = _direct_cscv(blocks)
    assert res.n_splits == math.comb(8, 4)
    assert res.pbo == pytest.approx(pbo)
    np.testing.assert_allclose(res.logits, lam, rtol=1e-9)
    assert sum(res.rank_histogram()) == res.n_splits


def test_pbo_noise_vs_skill():
    rng = np.random.default_rng(5)
    noise = rng.normal(0, 1, (400, 16))
    assert pbo_cscv(noise, max_splits=2000).pbo > 0.3
    skill = noise.copy()
    skill[:20] += 1.5  # a few strategies that are good in every block
    assert pbo_cscv(skill, max_splits=2000).pbo < 0.1


def test_block_sharpe_zero_variance():
    out = block_sharpe(np.array([1.0, 0.0]), np.array([0.5, 0.0]), 8)
    assert out[1] == 0.0 and out[0] > 0
