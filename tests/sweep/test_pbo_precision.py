"""PBO by CSCV with a stated precision (threadx.sweep.robust.pbo_cscv): exact over every split
against brute force (any S, ties included), random draws of split pairs with their standard error,
the stopping rules, and the duplicate merge."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from threadx.sweep import robust
from threadx.sweep.robust import PBOResult, distinct_columns, pbo_cscv, pbo_se


def _brute(blocks: np.ndarray) -> np.ndarray:
    """ω of every split (lexicographic order of the in-sample half), vectorised over splits."""
    n, s = blocks.shape
    splits = np.array(list(itertools.combinations(range(s), s // 2)))
    out = np.ones((len(splits), s), dtype=bool)
    out[np.arange(len(splits))[:, None], splits] = False
    comp = np.nonzero(out)[1].reshape(len(splits), s // 2)
    x, y = blocks[:, splits], blocks[:, comp]  # strategies x splits x S/2
    with np.errstate(all="ignore"), warnings.catch_warnings():  # S = 2: a block per half,
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN Sharpe (0 in CSCV) for all
        is_perf = np.nan_to_num(x.mean(-1) / x.std(-1, ddof=1))
        oos_perf = np.nan_to_num(y.mean(-1) / y.std(-1, ddof=1))
    best = is_perf.argmax(0)  # the first best on ties
    ob = oos_perf[best, np.arange(len(splits))]
    return ((oos_perf < ob).sum(0) + 1) / (n + 1)


def _direct_cscv(blocks: np.ndarray) -> tuple[float, np.ndarray]:
    """CSCV written out plainly, a Sharpe ratio of 0 where the std is <= 1e-15."""
    n, s = blocks.shape

    def sharpe(x: np.ndarray) -> float:
        sd = np.std(x, ddof=1)
        return float(np.mean(x) / sd) if sd > 1e-15 else 0.0

    lam = []
    for is_idx in itertools.combinations(range(s), s // 2):
        oos_idx = [j for j in range(s) if j not in is_idx]
        is_perf = [sharpe(blocks[i, list(is_idx)]) for i in range(n)]
        oos_perf = [sharpe(blocks[i, oos_idx]) for i in range(n)]
        best = int(np.argmax(is_perf))
        omega = (sum(p < oos_perf[best] for p in oos_perf) + 1) / (n + 1)
        lam.append(math.log(omega / (1 - omega)))
    return float(np.mean(np.array(lam) <= 0)), np.array(lam)


def test_unrank_is_lexicographic():
    for s in (2, 4, 6, 8, 12, 16, 20):
        lay = robust._Layout(s)
        pairs = math.comb(s, s // 2) // 2
        ranks = np.arange(pairs) if pairs < 50_000 else np.r_[0:100, pairs - 100 : pairs]
        masks = robust._unrank(ranks, s, lay.binom).astype(object)
        combos = list(itertools.combinations(range(s), s // 2))
        expect = [sum(1 << k for k in combos[r]) for r in ranks]
        assert list(masks) == expect, s


@pytest.mark.parametrize("s,n", [(2, 5), (4, 9), (6, 7), (10, 30), (12, 25), (14, 9), (18, 6)])
def test_exact_equals_brute_force_for_any_s(s, n):
    """S <= 16 takes the 4-group fast path (groups of 0 to 4 blocks), S = 18 the generic one."""
    rng = np.random.default_rng(s)
    blocks = rng.normal(0, 1, (n, s)) + rng.normal(0, 0.3, (n, 1))
    res = pbo_cscv(blocks)
    omegas = _brute(blocks)
    assert res.n_splits == res.n_splits_total == math.comb(s, s // 2) and res.se == 0.0
    np.testing.assert_array_equal(res.oos_rank, omegas)
    assert res.pbo == np.mean(omegas <= 0.5) and res.stop == "all"


@pytest.mark.parametrize("seed", range(4))
def test_exact_with_many_ties_equals_direct_cscv(seed):
    """Small integer block returns: many strategies tie on a half (equal sums) or have equal
    Sharpe ratios; the first in-sample best and strictly-below counts still agree."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(-2, 3, (30, 8)).astype(np.float64)
    blocks[:5] = blocks[5:10] * 2  # scaled copies: the same Sharpe ratio on every half
    res = pbo_cscv(blocks)
    pbo, lam = _direct_cscv(blocks)
    assert res.pbo == pbo
    np.testing.assert_allclose(res.logits, lam, rtol=1e-12)


def test_all_pairs_drawn_is_exact():
    rng = np.random.default_rng(3)
    blocks = rng.normal(0, 1, (60, 10))
    exact = pbo_cscv(blocks)
    drawn = pbo_cscv(blocks, se_target=1e-9)  # unreachable before the last pair
    assert drawn.n_splits == exact.n_splits == 252 and drawn.stop == "all" and drawn.se == 0.0
    assert drawn.pbo == exact.pbo
    np.testing.assert_array_equal(np.sort(drawn.oos_rank), np.sort(exact.oos_rank))


def test_sampled_pbo_is_within_its_standard_error():
    """Twenty draws (seeds) against the exact all-splits value: most within 1.96 standard
    errors, none beyond 4."""
    rng = np.random.default_rng(11)
    blocks = rng.normal(0, 1, (300, 16)) + rng.normal(0, 0.1, (300, 1))
    blocks[:10] += 0.25
    exact = pbo_cscv(blocks).pbo
    z = []
    for seed in range(20):
        res = pbo_cscv(blocks, se_target=0.02, seed=seed)
        assert res.stop == "se" and res.se <= 0.02 and res.n_splits >= 200
        assert res.n_splits < 12870 and res.n_splits % 2 == 0
        z.append((res.pbo - exact) / res.se)
    z = np.abs(z)
    print(f"\nexact PBO {exact:.4f}; |z| of 20 draws: {np.round(np.sort(z), 2)}")
    assert np.mean(z <= 1.96) >= 0.8 and z.max() < 4


def test_draws_are_seeded_capped_and_without_replacement():
    rng = np.random.default_rng(4)
    blocks = rng.normal(0, 1, (80, 16))
    a = pbo_cscv(blocks, max_splits=601)
    assert a.n_splits == 600 and a.stop == "max" and a.se > 0  # rounded down to pairs
    b = pbo_cscv(blocks, max_splits=600)
    np.testing.assert_array_equal(a.logits, b.logits)
    c = pbo_cscv(blocks, max_splits=600, seed=1)
    assert not np.array_equal(a.logits, c.logits)
    for total in (6435, 10**15):  # a permutation, then rejection of repeats
        draws = robust._Draws(total, 0)
        got = np.concatenate([draws.take(300), draws.take(500)])
        assert len(np.unique(got)) == 800 and got.min() >= 0 and got.max() < total
    small = robust._Draws(35, 0)
    assert sorted(np.concatenate([small.take(20), small.take(15)])) == list(range(35))


def test_large_s_is_drawn_not_enumerated():
    rng = np.random.default_rng(5)
    res = pbo_cscv(rng.normal(0, 1, (40, 32)), se_target=0.05, min_splits=100)
    assert res.n_splits_total == math.comb(32, 16) and 100 <= res.n_splits <= 1000
    assert res.stop == "se" and res.se <= 0.05
    with pytest.raises(ValueError, match="too many"):
        pbo_cscv(rng.normal(0, 1, (4, 32)))  # 601 million splits: never all of them


def test_stops_when_the_interval_clears_the_thresholds():
    rng = np.random.default_rng(6)
    noise = rng.normal(0, 1, (400, 16))  # exact PBO 0.403: right at a threshold
    exact = pbo_cscv(noise).pbo
    near = pbo_cscv(noise, se_target=0.01, clear_of=(0.2, 0.4))
    assert near.stop == "se" and near.se <= 0.01 and abs(near.pbo - exact) < 3 * near.se
    res = pbo_cscv(noise, se_target=0.001, clear_of=(0.2, 0.6))
    assert res.stop == "clear" and res.n_splits == 200
    assert all(abs(res.pbo - t) > 1.96 * res.se for t in (0.2, 0.6))
    assert pbo_cscv(noise, se_target=0.001, clear_of=(exact,), max_splits=800).stop == "max"


def test_standard_error_rule():
    x = np.array([1.0, 0.0] * 50)  # 50 pairs, each half below: pair means all 0.5
    pt = 52 / 104
    assert pbo_se(x, 6435) == pytest.approx(math.sqrt(pt * (1 - pt) / 2 / 50 * (1 - 50 / 6435)))
    y = np.repeat([1.0, 0.0], 50)  # pairs agree: the pair means vary
    v = np.var(np.repeat([1.0, 0.0], 25), ddof=1)
    assert pbo_se(y, 6435) == pytest.approx(math.sqrt(v / 50 * (1 - 50 / 6435)))
    assert pbo_se(np.zeros(100), 6435) > 0  # no split below half yet: still uncertain
    assert pbo_se(x, 50) == 0.0  # every pair: exact
    r = PBOResult(0.5, np.zeros(2), np.full(2, 0.5), 2, 3)  # the old constructor still works
    assert r.se == 0.0 and r.rank_histogram()[5] == 2


def test_distinct_columns_is_the_set_numpy_unique_keeps(monkeypatch):
    rng = np.random.default_rng(7)
    b = rng.integers(0, 3, (6, 5000)).astype(np.float64)
    b[2, ::7] = -0.0 * b[2, ::7]  # -0.0 equals 0.0
    first = distinct_columns(b)
    assert np.array_equal(first, np.sort(np.unique(b.T + 0.0, axis=0, return_index=True)[1]))
    monkeypatch.setattr(robust, "_row_hash", lambda bt, u: np.zeros(bt.shape[1], np.uint64))
    assert np.array_equal(distinct_columns(b), first)  # every hash collides: exact fallback
    assert len(distinct_columns(np.zeros((4, 0)))) == 0
