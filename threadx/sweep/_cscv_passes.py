"""The compiled passes of PBO by CSCV (:func:`threadx.sweep.robust.pbo_cscv`): numba, parallel over
strategies, one pass scoring a half and its complement (two splits).

Internal to :mod:`threadx.sweep.robust`, which holds the statistics and the stopping rules; these
are the hot loops, kept apart so that each module reads on its own.
"""

from __future__ import annotations

import numba
import numpy as np

# Half sums come from per-tile tables of the subset sums of each group of 4 blocks (4 lookups per
# half instead of 8 additions), so a half's sums depend on its own blocks only, always added in
# the same order: strategies equal on a half tie exactly on it, wherever it is computed. The
# passes compare the numerator with threshold x denominator instead of dividing (the threshold
# moved by _MARGIN, far above the rounding error) and divide only for the strategies close to it.
_MARGIN = 1e-9
_TILE_DOUBLES = 1 << 14  # doubles per table (2 per tile): 256 strategies up to S = 16, in L2
_PERM_LIMIT = 1 << 20  # complementary pairs up to which the draw order is a full permutation
_EXACT_LIMIT = 1 << 26  # splits at most for "every split" (S = 28: 40 million)
_ELITE = 32  # strategies whose exact scores seed the screen of every split (best whole-period)


@numba.njit(inline="always")
def _nd(a: float, q: float, half: int, tiny: float) -> tuple[float, float]:
    d = half * q - a * a
    if d > tiny:
        return a * abs(a), d
    return 0.0, 1.0


@numba.njit(inline="always")
def _half_tiny(s_blocks: int) -> tuple[int, float]:
    """Blocks per half, and the denominator at or below which :func:`_nd` scores 0."""
    half = s_blocks // 2
    return half, 1e-30 * half * (half - 1)


@numba.njit(inline="always")
def _tiling(n, nsub, n_chunks):
    """Strategies per tile (``nsub x tile`` doubles per table), tiles, and tiles per chunk."""
    tile = min(max(32, _TILE_DOUBLES // nsub), n)
    n_tiles = (n + tile - 1) // tile
    return tile, n_tiles, (n_tiles + n_chunks - 1) // n_chunks


@numba.njit(inline="always")
def _scratch(nsub, width):
    """Work arrays for ``width`` strategies: the tables ``ts, tq`` (:func:`_tables`) and the half
    sums ``sa, qa, sb, qb`` (:func:`_half_sums`)."""
    ts = np.empty((nsub, width))
    tq = np.empty((nsub, width))
    return ts, tq, np.empty(width), np.empty(width), np.empty(width), np.empty(width)


@numba.njit(cache=True, nogil=True)
def _tables(bt, lo, w, gstart, gsize, toff, ts, tq):  # pragma: no cover - numba
    """Subset sums (and sums of squares) of every block group for strategies lo..lo+w."""
    for g in range(len(gstart)):
        base = toff[g]
        for i in range(w):
            ts[base, i] = 0.0
            tq[base, i] = 0.0
        for msk in range(1, 1 << gsize[g]):
            hb = 0
            while (msk >> (hb + 1)) != 0:
                hb += 1
            prev = base + (msk ^ (1 << hb))
            k = gstart[g] + hb
            r = base + msk
            for i in range(w):
                v = bt[k, lo + i]
                ts[r, i] = ts[prev, i] + v
                tq[r, i] = tq[prev, i] + v * v


@numba.njit(inline="always")
def _load_tile(bt, t, tile, gstart, gsize, toff, ts, tq):
    """The tables of tile ``t`` (:func:`_tables`); its first strategy and its width."""
    lo = t * tile
    w = min(bt.shape[1], lo + tile) - lo
    _tables(bt, lo, w, gstart, gsize, toff, ts, tq)
    return lo, w


@numba.njit(cache=True, nogil=True)
def _half_sums(ts, tq, ia, ib, j, w, sa, qa, sb, qb):  # pragma: no cover - numba
    r = ia[j, 0]
    r2 = ib[j, 0]
    for i in range(w):
        sa[i] = ts[r, i]
        qa[i] = tq[r, i]
        sb[i] = ts[r2, i]
        qb[i] = tq[r2, i]
    for g in range(1, ia.shape[1]):
        r = ia[j, g]
        r2 = ib[j, g]
        for i in range(w):
            sa[i] += ts[r, i]
            qa[i] += tq[r, i]
            sb[i] += ts[r2, i]
            qb[i] += tq[r2, i]


@numba.njit(cache=True, nogil=True)
def _scores(sub, gstart, gsize, toff, nsub, ia, ib):  # pragma: no cover - numba
    """Exact scores ``[m, E, 2]`` of the columns of ``sub[S, E]`` on half A and half B of every
    pair: the same arithmetic as the passes, bit for bit."""
    s_blocks, e = sub.shape
    m = ia.shape[0]
    half, tiny = _half_tiny(s_blocks)
    ts, tq, sa, qa, sb, qb = _scratch(nsub, e)
    _tables(sub, 0, e, gstart, gsize, toff, ts, tq)
    out = np.empty((m, e, 2))
    for j in range(m):
        _half_sums(ts, tq, ia, ib, j, e, sa, qa, sb, qb)
        for i in range(e):
            x, d = _nd(sa[i], qa[i], half, tiny)
            out[j, i, 0] = x / d
            y, f = _nd(sb[i], qb[i], half, tiny)
            out[j, i, 1] = y / f
    return out


@numba.njit(cache=True, nogil=True)
def _best_scores(bt, best, gstart, gsize, toff, nsub, ia, ib):  # pragma: no cover - numba
    """``[3, m, 2]``: score, numerator and denominator of ``best[j, 0]`` on half B and of
    ``best[j, 1]`` on half A of pair ``j`` (the out-of-sample score of each in-sample best), as
    the passes compute them."""
    m = ia.shape[0]
    half, tiny = _half_tiny(bt.shape[0])
    ts, tq, sa, qa, sb, qb = _scratch(nsub, 1)
    out = np.empty((3, m, 2))
    for j in range(m):
        _tables(bt, best[j, 0], 1, gstart, gsize, toff, ts, tq)
        _half_sums(ts, tq, ia, ib, j, 1, sa, qa, sb, qb)
        y, f = _nd(sb[0], qb[0], half, tiny)
        out[0, j, 0], out[1, j, 0], out[2, j, 0] = y / f, y, f
        _tables(bt, best[j, 1], 1, gstart, gsize, toff, ts, tq)
        _half_sums(ts, tq, ia, ib, j, 1, sa, qa, sb, qb)
        x, d = _nd(sa[0], qa[0], half, tiny)
        out[0, j, 1], out[1, j, 1], out[2, j, 1] = x / d, x, d
    return out


@numba.njit(inline="always")
def _sum4(t, r0, r1, r2, r3, i):
    return ((t[r0, i] + t[r1, i]) + t[r2, i]) + t[r3, i]  # the order of _half_sums


@numba.njit(inline="always")
def _maybe_best(x, d, low, eq, bx, bd):
    """The screen of the in-sample best: ``x / d`` may exceed (``eq``: or equal) the score that
    ``low`` is the lowered form of, and is not the numerator and denominator ``bx`` / ``bd`` of
    the best so far (equal halves tie exactly: the earlier one stays)."""
    p = low * d
    return ((x > p) | (eq & (x == p))) & ((x != bx) | (d != bd))


@numba.njit(cache=True, nogil=True)
def _screen_best(ts, tq, ia, ib, j, w, la, ea, ax, ad, lb, eb, bx, bd, half, tiny):  # noqa: E501  # pragma: no cover
    """The range ``[first, last]`` of the tile's strategies that pass :func:`_maybe_best` on
    half A, then on half B (empty: first > last): 4 block groups, no intermediate arrays."""
    a0, a1, a2, a3 = ia[j, 0], ia[j, 1], ia[j, 2], ia[j, 3]
    b0, b1, b2, b3 = ib[j, 0], ib[j, 1], ib[j, 2], ib[j, 3]
    fa, ga, fb, gb = w, -1, w, -1
    for i in range(w):
        x, d = _nd(_sum4(ts, a0, a1, a2, a3, i), _sum4(tq, a0, a1, a2, a3, i), half, tiny)
        ka = _maybe_best(x, d, la, ea, ax, ad)
        fa = min(fa, i if ka else w)
        ga = max(ga, i if ka else -1)
        y, f = _nd(_sum4(ts, b0, b1, b2, b3, i), _sum4(tq, b0, b1, b2, b3, i), half, tiny)
        kb = _maybe_best(y, f, lb, eb, bx, bd)
        fb = min(fb, i if kb else w)
        gb = max(gb, i if kb else -1)
    return fa, ga, fb, gb


@numba.njit(inline="always")
def _undecided(x, d, lo, hi, rx, rd):
    """``x / d`` may round either side of the score between ``lo`` and ``hi``, and is not the
    reference's own numerator and denominator ``rx`` / ``rd`` (an exact tie: not below)."""
    return (x >= lo * d) & (x < hi * d) & ((x != rx) | (d != rd))


@numba.njit(cache=True, nogil=True)
def _screen_below(ts, tq, ia, ib, j, w, oa, ya, fa, ob, xb, db, half, tiny):  # pragma: no cover
    """How many of the tile's strategies are surely below ``oa`` on half B and the range of the
    undecided ones (:func:`_undecided`), then the same on half A for ``ob``."""
    a0, a1, a2, a3 = ia[j, 0], ia[j, 1], ia[j, 2], ia[j, 3]
    b0, b1, b2, b3 = ib[j, 0], ib[j, 1], ib[j, 2], ib[j, 3]
    lo_a, hi_a, lo_b, hi_b = _low(oa), _high(oa), _low(ob), _high(ob)
    ca, cb = 0, 0
    f0, g0, f1, g1 = w, -1, w, -1
    for i in range(w):
        y, f = _nd(_sum4(ts, b0, b1, b2, b3, i), _sum4(tq, b0, b1, b2, b3, i), half, tiny)
        ca += y < lo_a * f
        ka = _undecided(y, f, lo_a, hi_a, ya, fa)
        f0 = min(f0, i if ka else w)
        g0 = max(g0, i if ka else -1)
        x, d = _nd(_sum4(ts, a0, a1, a2, a3, i), _sum4(tq, a0, a1, a2, a3, i), half, tiny)
        cb += x < lo_b * d
        kb = _undecided(x, d, lo_b, hi_b, xb, db)
        f1 = min(f1, i if kb else w)
        g1 = max(g1, i if kb else -1)
    return ca, f0, g0, cb, f1, g1


@numba.njit(inline="always")
def _low(v: float) -> float:
    return v - abs(v) * _MARGIN


@numba.njit(inline="always")
def _high(v: float) -> float:
    return v + abs(v) * _MARGIN


@numba.njit(cache=True, nogil=True)
def _pick(s, q, i0, i1, lo, low, eq, half, tiny, best):  # pragma: no cover - numba
    """Exact scores of the tile's strategies ``i0..i1`` that pass :func:`_maybe_best`; the first
    strictly best of them replaces ``best`` (score, numerator, denominator, index)."""
    for i in range(i0, i1 + 1):
        x, d = _nd(s[i], q[i], half, tiny)
        if _maybe_best(x, d, low, eq, best[1], best[2]):
            v = x / d
            if v > best[0]:
                best[0], best[1], best[2], best[3] = v, x, d, lo + i


@numba.njit(cache=True, nogil=True)
def _below(s, q, i0, i1, o, rx, rd, half, tiny):  # pragma: no cover - numba
    """Exact count of the tile's strategies ``i0..i1`` scoring below ``o`` among the undecided
    ones."""
    c = 0
    lo, hi = _low(o), _high(o)
    for i in range(i0, i1 + 1):
        x, d = _nd(s[i], q[i], half, tiny)
        c += _undecided(x, d, lo, hi, rx, rd) & ((x / d) < o)
    return c


@numba.njit(parallel=True, cache=True, nogil=True)
def _cscv_best(bt, gstart, gsize, toff, nsub, ia, ib, seed, n_chunks):  # pragma: no cover
    """Per chunk of strategies and pair ``j``: the best score on half A (``[:, j, 0]``) and on
    half B (``[:, j, 1]``) as (score, numerator, denominator, first index) in ``[..., 0:4]``.
    ``seed[j]`` is a lower bound of the best score: only strategies that may reach
    ``max(seed, best so far)`` are divided out."""
    n = bt.shape[1]
    m, groups = ia.shape
    half, tiny = _half_tiny(bt.shape[0])
    res = np.empty((n_chunks, m, 2, 4))
    res[..., 0] = -np.inf
    res[..., 1:3] = np.nan
    res[..., 3] = -1
    tile, n_tiles, per = _tiling(n, nsub, n_chunks)
    for c in numba.prange(n_chunks):
        ts, tq, sa, qa, sb, qb = _scratch(nsub, tile)
        for t in range(c * per, min((c + 1) * per, n_tiles)):
            lo, w = _load_tile(bt, t, tile, gstart, gsize, toff, ts, tq)
            for j in range(m):
                ra, rb = res[c, j, 0], res[c, j, 1]
                # until the chunk has a best, a strategy equal to the seed may be it; then only
                # a strictly better one replaces it (x > low * d covers every score > best)
                ea, eb = ra[0] < seed[j, 0], rb[0] < seed[j, 1]
                la, lb = _low(max(seed[j, 0], ra[0])), _low(max(seed[j, 1], rb[0]))
                if groups == 4:
                    fa, ga, fb, gb = _screen_best(
                        ts, tq, ia, ib, j, w, la, ea, ra[1], ra[2], lb, eb, rb[1], rb[2], half, tiny
                    )
                    if ga >= 0 or gb >= 0:
                        _half_sums(ts, tq, ia, ib, j, w, sa, qa, sb, qb)
                else:
                    _half_sums(ts, tq, ia, ib, j, w, sa, qa, sb, qb)
                    fa, ga, fb, gb = 0, w - 1, 0, w - 1
                if ga >= 0:
                    _pick(sa, qa, fa, ga, lo, la, ea, half, tiny, ra)
                if gb >= 0:
                    _pick(sb, qb, fb, gb, lo, lb, eb, half, tiny, rb)
    return res


@numba.njit(parallel=True, cache=True, nogil=True)
def _cscv_below(bt, gstart, gsize, toff, nsub, ia, ib, ref, n_chunks):  # pragma: no cover
    """Per chunk and pair ``j``: how many strategies score below ``ref[0, j, 0]`` on half B
    (``[..., 0]``) and below ``ref[0, j, 1]`` on half A (``[..., 1]``); exact (divides only where
    the screen cannot tell). ``ref[1:3]``: those scores' numerators and denominators."""
    n = bt.shape[1]
    m, groups = ia.shape
    half, tiny = _half_tiny(bt.shape[0])
    cnt = np.zeros((n_chunks, m, 2), np.int64)
    tile, n_tiles, per = _tiling(n, nsub, n_chunks)
    for c in numba.prange(n_chunks):
        ts, tq, sa, qa, sb, qb = _scratch(nsub, tile)
        for t in range(c * per, min((c + 1) * per, n_tiles)):
            lo, w = _load_tile(bt, t, tile, gstart, gsize, toff, ts, tq)
            for j in range(m):
                oa, ya, fa = ref[0, j, 0], ref[1, j, 0], ref[2, j, 0]
                ob, xb, db = ref[0, j, 1], ref[1, j, 1], ref[2, j, 1]
                if groups == 4:
                    c0, f0, g0, c1, f1, g1 = _screen_below(
                        ts, tq, ia, ib, j, w, oa, ya, fa, ob, xb, db, half, tiny
                    )
                    if g0 >= 0 or g1 >= 0:
                        _half_sums(ts, tq, ia, ib, j, w, sa, qa, sb, qb)
                else:
                    _half_sums(ts, tq, ia, ib, j, w, sa, qa, sb, qb)
                    c0 = c1 = 0
                    for i in range(w):
                        y, f = _nd(sb[i], qb[i], half, tiny)
                        c0 += y < _low(oa) * f
                        x, d = _nd(sa[i], qa[i], half, tiny)
                        c1 += x < _low(ob) * d
                    f0, g0, f1, g1 = 0, w - 1, 0, w - 1
                if g0 >= 0:
                    c0 += _below(sb, qb, f0, g0, oa, ya, fa, half, tiny)
                if g1 >= 0:
                    c1 += _below(sa, qa, f1, g1, ob, xb, db, half, tiny)
                cnt[c, j, 0] += c0
                cnt[c, j, 1] += c1
    return cnt


@numba.njit(cache=True, nogil=True)
def _unrank(ranks, s, binom):  # pragma: no cover - numba
    """Bit masks of the halves of ``s`` blocks that contain block 0, by lexicographic rank
    (the first half of ``itertools.combinations(range(s), s // 2)``)."""
    out = np.empty(len(ranks), np.uint64)
    for t in range(len(ranks)):
        r = ranks[t]
        mask = np.uint64(1)
        k = s // 2 - 1
        x = 1
        while k > 0:
            c = binom[s - 1 - x, k - 1]
            if r < c:
                mask |= np.uint64(1) << np.uint64(x)
                k -= 1
            else:
                r -= c
            x += 1
        out[t] = mask
    return out


@numba.njit(cache=True, nogil=True)
def _row_hash(bt, u):  # pragma: no cover - numba
    """A 64-bit hash per column of ``bt[S, n]`` from the bit patterns ``u`` (``bt`` viewed as
    uint64; -0.0 hashed as 0.0)."""
    s, n = bt.shape
    h = np.full(n, np.uint64(0x9E3779B97F4A7C15))
    for k in range(s):
        for i in range(n):
            v = np.uint64(0) if bt[k, i] == 0.0 else u[k, i]
            x = (h[i] ^ v) * np.uint64(0xBF58476D1CE4E5B9)
            h[i] = x ^ (x >> np.uint64(31))
    return h


@numba.njit(cache=True, nogil=True)
def _first_of_codes(bt, codes, n_codes):  # pragma: no cover - numba
    """First position of every code, and whether all positions of a code hold equal columns."""
    s, n = bt.shape
    first = np.full(n_codes, -1, np.int64)
    for i in range(n):
        if first[codes[i]] < 0:
            first[codes[i]] = i
    for i in range(n):
        f = first[codes[i]]
        if f != i:
            for k in range(s):
                if bt[k, i] != bt[k, f]:
                    return first, False
    return first, True
