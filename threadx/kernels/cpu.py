"""Fused BB+ATR sweep kernel on the CPU (numba ``njit(parallel=True)``, ``prange`` over combos).

:func:`simulate_one` is the whole per-combination computation -- signals, the STRATEGY.md
simulation and streaming metrics -- in ONE pass over the bars with O(1) state. It is a plain
Python function using only scalar math and array indexing, so that the very same source is
compiled twice: here by ``numba.njit`` and in :mod:`threadx.kernels.gpu` by
``numba.cuda.jit(device=True)``. The twins cannot drift.

It lives in this file together with the cached ``prange`` driver on purpose: numba's on-disk
cache is invalidated by the modification time of the file holding the cached function, and a
cached caller embeds its callees, so body and driver must share a file. Constants imported from
other modules (the ``C_*``/``O_*`` columns of :mod:`~threadx.kernels.layout`,
``SHARPE_STD_FLOOR``) are frozen into the cached machine code: after changing one of them, delete
``threadx/kernels/__pycache__/cpu.*.nb[ic]``.

How one pass goes (every decision uses the very floating-point expressions of the reference, so
that no signal, stop or ruin can flip at an exact tie; only the metric sums may round
differently, far below the 1e-9 relative tolerance the tests allow):

* **Flat**: nothing can happen before the next *kept* signal. The band crossings do not depend
  on the position, so they are computed once per distinct ``(bb_period, bb_std, direction)``
  before the pass, as bits (:mod:`threadx.kernels.crossing`, the very comparisons the
  reference makes; shared by every combination differing only in other parameters). The scan
  reads 64 bars per word and jumps to the lowest set bit; only there are the side and the trend
  filter looked at. Spacing needs no per-bar state: after a kept signal at ``w`` the scan resumes at
  ``w + max(spacing, 1)``.
* **In a position**, a fast path runs over the bars where nothing happens (no stop, no take
  profit, before the max-hold bar and the last bar): one tight loop for the exit tests and the
  trailing stop (a short's tests are a long's on negated prices: negation is exact), then one
  loop for mark to market, ruin and the return statistics. The first bar with an event goes
  through the general code, which is the STRATEGY.md step list. Signals are not evaluated in a
  position: after the exit, one scan from the spacing clock both replays the position's signals
  (they only move the clock) and finds the next kept signal, a same-bar re-entry included.
* Flat bars have exact zero returns: they are not visited, only counted at the end.

Streaming metrics: how each metric is summed in one pass (compensated sums, pivoted segments
for the variance, the exact maximum drawdown from each peak's trough, the block sums of the
overfitting report) is in STRATEGY.md, "What the fused kernel does identically".
"""

from __future__ import annotations

import math

import numba
import numpy as np

from threadx.kernels.crossing import crossing_bank
from threadx.kernels.layout import (
    C_ATR_IDX,
    C_ATR_MULTIPLIER,
    C_BB_IDX,
    C_BB_STD,
    C_FEE_BPS,
    C_INITIAL_CAPITAL,
    C_LEVERAGE,
    C_MAX_HOLD,
    C_READY_FROM,
    C_RISK,
    C_SLIPPAGE_BPS,
    C_SPACING,
    C_TRAILING,
    C_TREND_IDX,
    DEFAULT_BLOCKS,
    N_OUT,
    N_STATS,
    O_ANNUAL_VOLATILITY,
    O_AVG_BARS_HELD,
    O_AVG_LOSS,
    O_AVG_WIN,
    O_CAGR,
    O_CALMAR,
    O_EXPECTANCY,
    O_EXPOSURE,
    O_FINAL_EQUITY,
    O_MAX_DRAWDOWN,
    O_N_TRADES,
    O_PROFIT_FACTOR,
    O_RUINED,
    O_SHARPE,
    O_SORTINO,
    O_TOTAL_FEES,
    O_TOTAL_RETURN,
    O_WIN_RATE,
    PackedSweep,
    finalisation_constants,
    out_width,
)
from threadx.strategy.metrics import SHARPE_STD_FLOOR

# returns summed about one pivot before a merge into (n, mean, M2) (see the module docstring)
SEGMENT_MAX = 64
# relative margin of the drawdown pre-test, far above the three roundings of its threshold
DD_MARGIN = 1e-12

_u = np.uint64  # unsigned indices: no negative-index wrap-around code in the hot loops


def simulate_one(  # noqa: C901 -- one fused pass (signals + simulation + metrics) by design
    i, op, hi, lo, cl, middle, sd, atr, trend, cross_bits, cross_row, P, out, cagr_exp, sqrt_ppy
):
    """Simulate combination ``P[i]`` over all bars and write its metrics, return statistics and
    block return sums into ``out[i]`` (columns :func:`threadx.kernels.layout.out_names`).

    Plain Python on purpose (compiled for CPU and GPU); see the module docstring. Arrays: bars
    ``op, hi, lo, cl`` (n_bars), banks ``middle, sd, atr, trend`` (rows x n_bars), ``P`` and
    ``out`` as in :mod:`threadx.kernels.layout`. ``cagr_exp`` = 1 year / span (0 for a zero
    span), ``sqrt_ppy`` = sqrt(periods per year).
    """
    n = cl.shape[0]
    k = P[i, C_BB_STD]
    am = P[i, C_ATR_MULTIPLIER]
    trailing = P[i, C_TRAILING] != 0.0
    max_hold = int(P[i, C_MAX_HOLD])
    spacing = int(P[i, C_SPACING])
    risk = P[i, C_RISK]
    lev = P[i, C_LEVERAGE]
    f = P[i, C_FEE_BPS] / 1e4
    s = P[i, C_SLIPPAGE_BPS] / 1e4
    init = P[i, C_INITIAL_CAPITAL]
    tr = int(P[i, C_TREND_IDX])
    ready = int(P[i, C_READY_FROM])
    mid_r = middle[int(P[i, C_BB_IDX])]
    sd_r = sd[int(P[i, C_BB_IDX])]
    atr_r = atr[int(P[i, C_ATR_IDX])]
    trd = cl  # never read when the trend filter is off
    if tr >= 0:
        trd = trend[tr]
    row = cross_row[i]  # the combination's row in cross_bits
    gap = spacing if spacing > 1 else 1  # after a kept signal at u, none is kept before u + gap
    last = n - 1

    # simulation state (sq = side * qty; sst = side * stop, the stop in the trader's direction)
    cash = init
    side = 0
    sgn = 0.0
    sq = 0.0
    qty = 0.0
    entry_fill = 0.0
    entry_bar = 0
    sst = 0.0
    fee_entry = 0.0
    s0 = 0  # first bar of the open position whose return is not in the statistics yet
    ruined = False
    # signal state: the signals of bars before scan_from are processed or cannot be kept
    scan_from = ready
    # trade statistics
    n_trades = 0
    n_win = 0
    n_loss = 0
    sum_win = 0.0
    sum_loss = 0.0
    pnl_sum = 0.0
    pnl_comp = 0.0
    held = 0
    fees = 0.0
    # return statistics
    eq = init
    eq_prev = init
    peak = init
    trough = init  # lowest equity since the peak
    max_dd = 0.0
    dd_factor = 1.0 + DD_MARGIN  # (1 - max_dd) * (1 + DD_MARGIN)
    dd_below = peak * dd_factor  # only a trough below this can deepen the maximum drawdown
    r_sum = 0.0
    r_comp = 0.0
    down2 = 0.0
    w_n = 0
    w_mean = 0.0
    w_m2 = 0.0
    seg_n = 0
    seg_pivot = 0.0
    seg_s1 = 0.0
    seg_s2 = 0.0
    s3 = 0.0  # sum(r^3), compensated (mixed signs), and sum(r^4)
    s3_comp = 0.0
    s4 = 0.0
    # block b holds the returns r[t] with floor((t - 1) * nb / n_ret) == b; it starts at bar
    # 1 + ceil(b * n_ret / nb). Its sum is the running sum(r) at its end minus at its start.
    n_ret = n - 1
    col0 = N_OUT + N_STATS
    nb = out.shape[1] - col0
    blk = 0
    blk_next = n + 1  # first bar of block blk + 1 (never reached without blocks)
    if nb > 0:
        blk_next = 1 + (n_ret + nb - 1) // nb
    bs_hi = 0.0  # running sum(r) (r_sum, r_comp) at the start of block blk
    bs_lo = 0.0

    t = 0
    done = False
    nxt = -1  # bar of the next kept signal once a scan found it (n: none left; -1: unknown)
    nxt_side = 0
    while True:
        if seg_n >= SEGMENT_MAX or (done and seg_n > 0):
            # merge the segment (n, mean and M2 about its pivot) into the totals (Chan et al.)
            seg_mean = seg_s1 / seg_n
            seg_m2 = seg_s2 - seg_s1 * seg_mean
            if seg_m2 < 0.0:
                seg_m2 = 0.0
            seg_mean += seg_pivot
            tot = w_n + seg_n
            delta = seg_mean - w_mean
            w_mean += delta * seg_n / tot
            w_m2 += seg_m2 + delta * delta * w_n * seg_n / tot
            w_n = tot
            seg_n = 0
            seg_s1 = 0.0
            seg_s2 = 0.0
        if done:
            break
        sig = 0
        first = -1  # >= 0: scan for the first kept signal at or after bar `first`
        ruin_bar = False
        top = side == 0  # flat since an earlier bar: the next event is the next kept signal
        if side != 0:
            # Fast path over the position's bars where nothing happens (no exit, no ruin, before
            # the max-hold bar and the last bar): trail the stop, mark to market, statistics.
            # A short's tests are a long's on negated prices (exact: negation does not round).
            t_end = entry_bar + max_hold - 1
            if t_end > last - 1:
                t_end = last - 1
            t_hi = s0 - 1 + (SEGMENT_MAX - seg_n)  # the returns of s0 .. t_hi fill the segment
            if t_hi > t_end:
                t_hi = t_end
            while t < t_hi:
                v = _u(t + 1)
                c = cl[v]
                ext = lo[v] if side > 0 else hi[v]
                if (sgn * ext <= sst) | (sgn * c >= sgn * mid_r[v]):
                    break  # stop or take profit (one branch: which one is unpredictable)
                if trailing:
                    sst = max(sst, sgn * c - am * atr_r[v])
                t += 1
            # mark to market and statistics of bars s0 .. t (s0 is the entry bar after an entry),
            # in a loop of their own (fewer live registers); a ruin ends the position there (its
            # stop no longer matters)
            t1 = t
            if seg_n == 0:  # the pivot is the segment's first return (a ruin at s0 sets its own)
                seg_pivot = (cash + sq * (cl[_u(s0)] - entry_fill)) / eq_prev - 1.0
            for u in range(s0, t1 + 1):
                eq = cash + sq * (cl[_u(u)] - entry_fill)
                if eq <= 0.0:
                    t = u
                    ruin_bar = True
                    break
                r = eq / eq_prev - 1.0  # equity[t-1] > 0: a ruined run has stopped
                while u >= blk_next:  # close the blocks that end before bar u
                    out[i, col0 + blk] = (r_sum - bs_hi) + (r_comp - bs_lo)
                    bs_hi = r_sum
                    bs_lo = r_comp
                    blk += 1
                    blk_next = 1 + ((blk + 1) * n_ret + nb - 1) // nb
                dr = r - seg_pivot
                seg_s1 += dr
                seg_s2 += dr * dr
                tmp = r_sum + r  # TwoSum: branch-free, the same error term as Neumaier's
                bv = tmp - r_sum
                r_comp += (r_sum - (tmp - bv)) + (r - bv)
                r_sum = tmp
                neg = min(r, 0.0)
                down2 += neg * neg
                r2 = r * r
                r3 = r2 * r
                tmp = s3 + r3
                bv = tmp - s3
                s3_comp += (s3 - (tmp - bv)) + (r3 - bv)
                s3 = tmp
                s4 += r2 * r2
                if eq > peak:
                    # the drawdown from the old peak ends: 1 - trough/peak is its deepest point
                    if trough < dd_below:
                        max_dd = max(max_dd, 1.0 - trough / peak)
                        dd_factor = (1.0 - max_dd) * (1.0 + DD_MARGIN)
                    peak = eq
                    trough = eq
                    dd_below = peak * dd_factor
                else:
                    trough = min(trough, eq)
                eq_prev = eq
            seg_n += (t if ruin_bar else t1 + 1) - s0
            s0 = t1 + 1
            if not ruin_bar:
                if t == t_hi and t_hi < t_end:
                    continue  # the segment is full: merge it and go on
                # 1. exits of an open position on bar t (opened on an earlier bar)
                t += 1
                v = _u(t)
                c = cl[v]
                # branch-free selections: the side and the exit reason are unpredictable
                lov = lo[v]
                hiv = hi[v]
                ext = lov if side > 0 else hiv
                hit_stop = sgn * ext <= sst
                # a stop fills at the stop, or at the open if the bar gapped through it
                px_stop = sgn * min(sgn * op[v], sst)
                if hit_stop | (sgn * c >= sgn * mid_r[v]) | (t - entry_bar >= max_hold):
                    px = px_stop if hit_stop else c  # else take profit or max hold, at the close
                    fill = px * (1.0 - side * s)
                    pnl_gross = sq * (fill - entry_fill)
                    fee_exit = f * qty * fill
                    cash += pnl_gross - fee_exit
                    pnl = pnl_gross - fee_entry - fee_exit
                    n_trades += 1
                    held += t - entry_bar
                    fees += fee_entry + fee_exit
                    n_win += pnl > 0.0
                    n_loss += pnl < 0.0
                    sum_win += max(pnl, 0.0)
                    sum_loss += min(pnl, 0.0)
                    tmp = pnl_sum + pnl  # TwoSum
                    bv = tmp - pnl_sum
                    pnl_comp += (pnl_sum - (tmp - bv)) + (pnl - bv)
                    pnl_sum = tmp
                    side = 0
                    sq = 0.0
                    first = t  # a kept signal on the exit bar re-enters at once
                elif trailing:
                    sst = max(sst, sgn * c - am * atr_r[v])
        elif nxt < 0:
            first = 0

        # 2. signals (independent of the position): the kept ones from scan_from on; those
        # before `first` only move the spacing clock, the first one at or after it is `nxt`
        if first >= 0:
            nxt = n
            u = scan_from
            while u <= last:
                # the first crossing at or after u: the lowest set bit of the rest of u's word
                word = cross_bits[row, _u(u) >> _u(6)] >> (_u(u) & _u(63))
                if word == _u(0):
                    u = (u | 63) + 1  # the next word
                    continue
                low = word & ~(word - _u(1))  # the lowest set bit alone; its index, branch-free
                w = u + np.int64(
                    _u(32) * _u((low & _u(0xFFFFFFFF00000000)) != _u(0))
                    + _u(16) * _u((low & _u(0xFFFF0000FFFF0000)) != _u(0))
                    + _u(8) * _u((low & _u(0xFF00FF00FF00FF00)) != _u(0))
                    + _u(4) * _u((low & _u(0xF0F0F0F0F0F0F0F0)) != _u(0))
                    + _u(2) * _u((low & _u(0xCCCCCCCCCCCCCCCC)) != _u(0))
                    + _u((low & _u(0xAAAAAAAAAAAAAAAA)) != _u(0))
                )
                x = _u(w)
                c = cl[x]
                bl = c < mid_r[x] - k * sd_r[x]  # a long signal, else a short one
                if tr >= 0 and not ((c > trd[x]) if bl else (c < trd[x])):
                    u = w + 1  # removed by the trend filter
                    continue
                u = w + gap  # a kept signal at w: the next one at w + gap at the earliest
                if w >= first:
                    nxt = w
                    nxt_side = 2 * np.int64(bl) - 1  # branch-free: the side is unpredictable
                    break
            scan_from = u
        if side == 0:
            if top:
                if nxt >= n:
                    done = True  # no kept signal left: flat, equity = cash, to the end
                    continue
                t = nxt
            if nxt == t:
                sig = nxt_side
                nxt = -1
        # entry when flat
        if sig != 0 and cash > 0.0:
            fill = cl[t] * (1.0 + sig * s)
            d = am * atr_r[t]
            if d > 0.0 and fill > 0.0:  # a short slipped by >= 100 % cannot be filled
                side = sig
                sgn = 1.0 * sig
                entry_fill = fill
                qty = min(cash * risk / d, cash * lev / entry_fill)
                sq = side * qty
                sst = sgn * (entry_fill - side * d)
                fee_entry = f * qty * entry_fill
                cash -= fee_entry
                entry_bar = t
                s0 = t  # the fast path's statistics loop takes the entry bar's return

        # 3. mark to market; 4. ruin; end of data
        eq = cash + sq * (cl[t] - entry_fill)
        if eq <= 0.0 or t == last:
            if eq <= 0.0:
                ruined = True
            if side != 0:
                fill = cl[t] * (1.0 - side * s)
                pnl_gross = sq * (fill - entry_fill)
                fee_exit = f * qty * fill
                cash += pnl_gross - fee_exit
                pnl = pnl_gross - fee_entry - fee_exit
                n_trades += 1
                held += t - entry_bar
                fees += fee_entry + fee_exit
                n_win += pnl > 0.0
                n_loss += pnl < 0.0
                sum_win += max(pnl, 0.0)
                sum_loss += min(pnl, 0.0)
                tmp = pnl_sum + pnl
                bv = tmp - pnl_sum
                pnl_comp += (pnl_sum - (tmp - bv)) + (pnl - bv)
                pnl_sum = tmp
                side = 0
                sq = 0.0
                eq = cash
                if eq <= 0.0:
                    ruined = True

        if side != 0:
            continue  # r[t] goes to the fast path's statistics loop (s0 = t)
        # statistics of r[t] (the same as in the fast path); the bars skipped while flat have
        # exact zero returns and are counted at the end
        r = eq / eq_prev - 1.0
        while t >= blk_next:
            out[i, col0 + blk] = (r_sum - bs_hi) + (r_comp - bs_lo)
            bs_hi = r_sum
            bs_lo = r_comp
            blk += 1
            blk_next = 1 + ((blk + 1) * n_ret + nb - 1) // nb
        if seg_n == 0:
            seg_pivot = r
        dr = r - seg_pivot
        seg_s1 += dr
        seg_s2 += dr * dr
        seg_n += 1
        tmp = r_sum + r
        bv = tmp - r_sum
        r_comp += (r_sum - (tmp - bv)) + (r - bv)
        r_sum = tmp
        neg = min(r, 0.0)
        down2 += neg * neg
        r2 = r * r
        r3 = r2 * r
        tmp = s3 + r3
        bv = tmp - s3
        s3_comp += (s3 - (tmp - bv)) + (r3 - bv)
        s3 = tmp
        s4 += r2 * r2
        if eq > peak:
            if trough < dd_below:
                max_dd = max(max_dd, 1.0 - trough / peak)
                dd_factor = (1.0 - max_dd) * (1.0 + DD_MARGIN)
            peak = eq
            trough = eq
            dd_below = peak * dd_factor
        else:
            trough = min(trough, eq)
        eq_prev = eq
        done = ruined or t == last

    # the drawdown in progress; eq >= peak * (1 - max_dd) * (1 + DD_MARGIN) (computed) implies
    # 1 - eq / peak (computed) <= max_dd, so the troughs above dd_below were rightly skipped
    if trough < dd_below:
        max_dd = max(max_dd, 1.0 - trough / peak)
    # the last block holds the rest of sum(r); the blocks after it (none with n_ret >= nb) are 0
    while blk < nb:
        out[i, col0 + blk] = (r_sum - bs_hi) + (r_comp - bs_lo)
        bs_hi = r_sum
        bs_lo = r_comp
        blk += 1
    # every other return (flat bars, after a ruin) is an exact zero
    zeros = n_ret - w_n
    if zeros > 0 and w_n > 0:
        w_m2 += w_mean * w_mean * w_n * zeros / n_ret

    # finalisation (STRATEGY.md metric table and edge cases)
    final = eq
    mean = 0.0
    std = 0.0
    vol = 0.0
    sharpe = 0.0
    sortino = 0.0
    if n_ret >= 2:
        mean = (r_sum + r_comp) / n_ret
        if w_m2 > 0.0:
            std = math.sqrt(w_m2 / (n_ret - 1))
        vol = std * sqrt_ppy
        if std >= SHARPE_STD_FLOOR:
            sharpe = mean / std * sqrt_ppy
        downside = math.sqrt(down2 / n_ret)
        if downside > 0.0:
            sortino = mean / downside * sqrt_ppy
        elif mean > 0.0:
            sortino = math.inf
    if ruined:
        cagr = -1.0
    else:
        cagr = (final / init) ** cagr_exp - 1.0
    if max_dd > 1.0:
        max_dd = 1.0
    if max_dd > 0.0:
        calmar = cagr / max_dd
    elif cagr > 0.0:
        calmar = math.inf
    else:
        calmar = 0.0
    pnl_total = pnl_sum + pnl_comp
    # skewness and kurtosis: population moments about the mean (STAT_NAMES); 0 and 3 when the
    # returns are constant (the same floor as the Sharpe ratio's)
    skew = 0.0
    kurt = 3.0
    if n_ret >= 1:
        m1 = (r_sum + r_comp) / n_ret
        m2 = w_m2 / n_ret
        if math.sqrt(m2) >= SHARPE_STD_FLOOR:
            e3 = (s3 + s3_comp) / n_ret
            m3 = e3 - 3.0 * m1 * m2 - m1 * m1 * m1
            m4 = s4 / n_ret - 4.0 * m1 * e3 + 6.0 * m1 * m1 * m2 + 3.0 * m1 * m1 * m1 * m1
            skew = m3 / (m2 * math.sqrt(m2))
            kurt = m4 / (m2 * m2)
    out[i, N_OUT] = skew
    out[i, N_OUT + 1] = kurt

    out[i, O_FINAL_EQUITY] = final
    out[i, O_TOTAL_RETURN] = final / init - 1.0
    out[i, O_CAGR] = cagr
    out[i, O_ANNUAL_VOLATILITY] = vol
    out[i, O_SHARPE] = sharpe
    out[i, O_SORTINO] = sortino
    out[i, O_MAX_DRAWDOWN] = max_dd
    out[i, O_CALMAR] = calmar
    out[i, O_N_TRADES] = n_trades
    out[i, O_WIN_RATE] = n_win / n_trades if n_trades > 0 else 0.0
    if sum_loss < 0.0:
        out[i, O_PROFIT_FACTOR] = sum_win / -sum_loss
    elif sum_win > 0.0:
        out[i, O_PROFIT_FACTOR] = math.inf
    else:
        out[i, O_PROFIT_FACTOR] = 0.0
    out[i, O_EXPECTANCY] = pnl_total / n_trades if n_trades > 0 else 0.0
    out[i, O_AVG_WIN] = sum_win / n_win if n_win > 0 else 0.0
    out[i, O_AVG_LOSS] = sum_loss / n_loss if n_loss > 0 else 0.0
    out[i, O_EXPOSURE] = held / n
    out[i, O_AVG_BARS_HELD] = held / n_trades if n_trades > 0 else 0.0
    out[i, O_TOTAL_FEES] = fees
    out[i, O_RUINED] = 1.0 if ruined else 0.0


_simulate_one_cpu = numba.njit(cache=True, nogil=True)(simulate_one)


@numba.njit(parallel=True, cache=True, nogil=True)
def _sweep_cpu(
    op, hi, lo, cl, middle, sd, atr, trend, cross_bits, cross_row, P, out, cagr_exp, sqrt_ppy
):
    for i in numba.prange(P.shape[0]):
        _simulate_one_cpu(
            i,
            op,
            hi,
            lo,
            cl,
            middle,
            sd,
            atr,
            trend,
            cross_bits,
            cross_row,
            P,
            out,
            cagr_exp,
            sqrt_ppy,
        )


def run_sweep_cpu(
    packed: PackedSweep,
    times_first_ns: int,
    times_last_ns: int,
    bar_minutes: float,
    blocks: int = DEFAULT_BLOCKS,
    cross: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Metrics, statistics and block sums of every combination of ``packed``:
    ``out[n_combos, N_OUT + N_STATS + blocks]`` (float64, columns ``out_names(blocks)``).

    ``times_first_ns``/``times_last_ns`` are the first and last bar timestamps (cagr span);
    ``bar_minutes`` is the timeframe's bar length (annualisation). ``cross`` is the
    :func:`crossing_bank` of these combinations when the caller has it already (a sweep builds
    it once for a dataset's whole grid and hands each chunk its rows).
    """
    cagr_exp, sqrt_ppy = finalisation_constants(times_first_ns, times_last_ns, bar_minutes)
    out = np.empty((packed.n_combos, out_width(blocks)), dtype=np.float64)
    if packed.n_combos:
        # combinations differ in cost (trades, bars in a position): hand them out one at a
        # time rather than in one equal block per thread (the setting is per calling thread)
        previous = numba.set_parallel_chunksize(1)
        try:
            arrays = packed.kernel_arrays(crossing_bank(packed) if cross is None else cross)
            _sweep_cpu(*arrays, out, cagr_exp, sqrt_ppy)
        finally:
            numba.set_parallel_chunksize(previous)
    return out
