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

Streaming metrics (bar returns ``r[t] = equity[t] / equity[t-1] - 1``, ``r = 0`` when
``equity[t-1] <= 0``):

* ``mean(r)`` from a Neumaier-compensated ``sum(r)``;
* ``std(r, ddof=1)`` from Welford's ``M2``; runs of exact zero returns (flat bars) are merged in
  O(1) with Chan's pairwise formula, so flat stretches cost no division;
* ``sum(min(r, 0)^2)``, the running peak and the maximum drawdown ``1 - equity / peak``;
* trade counts, sums of positive / negative net pnl (and a compensated sum of all), bars held, fees.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from threadx.kernels.layout import (
    C_ATR_IDX,
    C_ATR_MULTIPLIER,
    C_BB_IDX,
    C_BB_STD,
    C_DIRECTION,
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
    N_OUT,
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
)
from threadx.metrics import SHARPE_STD_FLOOR


def simulate_one(  # noqa: C901 -- one fused pass (signals + simulation + metrics) by design
    i, op, hi, lo, cl, middle, sd, atr, trend, P, out, cagr_exp, sqrt_ppy
):
    """Simulate combination ``P[i]`` over all bars and write its metrics into ``out[i]``.

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
    direction = int(P[i, C_DIRECTION])
    risk = P[i, C_RISK]
    lev = P[i, C_LEVERAGE]
    f = P[i, C_FEE_BPS] / 1e4
    s = P[i, C_SLIPPAGE_BPS] / 1e4
    init = P[i, C_INITIAL_CAPITAL]
    b = int(P[i, C_BB_IDX])
    a = int(P[i, C_ATR_IDX])
    tr = int(P[i, C_TREND_IDX])
    ready = int(P[i, C_READY_FROM])

    # simulation state
    cash = init
    side = 0
    qty = 0.0
    entry_fill = 0.0
    entry_bar = 0
    stop = 0.0
    fee_entry = 0.0
    ruined = False
    # signal state
    prev_below = False
    prev_above = False
    have_kept = False
    last_kept = 0
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
    max_dd = 0.0
    r_sum = 0.0
    r_comp = 0.0
    down2 = 0.0
    w_n = 0
    w_mean = 0.0
    w_m2 = 0.0
    zeros = 0
    last = n - 1
    t_stop = last

    for t in range(n):
        # 1. exits of an open position (it was opened on an earlier bar: entries come after)
        if side != 0:
            fired = False
            px = 0.0
            if side > 0:
                if lo[t] <= stop:
                    fired = True
                    px = min(op[t], stop)
                elif cl[t] >= middle[b, t] or t - entry_bar >= max_hold:
                    fired = True
                    px = cl[t]
            else:
                if hi[t] >= stop:
                    fired = True
                    px = max(op[t], stop)
                elif cl[t] <= middle[b, t] or t - entry_bar >= max_hold:
                    fired = True
                    px = cl[t]
            if fired:
                fill = px * (1.0 - side * s)
                pnl_gross = side * qty * (fill - entry_fill)
                fee_exit = f * qty * fill
                cash += pnl_gross - fee_exit
                pnl = pnl_gross - fee_entry - fee_exit
                n_trades += 1
                held += t - entry_bar
                fees += fee_entry + fee_exit
                if pnl > 0.0:
                    n_win += 1
                    sum_win += pnl
                elif pnl < 0.0:
                    n_loss += 1
                    sum_loss += pnl
                tmp = pnl_sum + pnl  # Neumaier compensated sum
                if abs(pnl_sum) >= abs(pnl):
                    pnl_comp += (pnl_sum - tmp) + pnl
                else:
                    pnl_comp += (pnl - tmp) + pnl_sum
                pnl_sum = tmp
                side = 0
            elif trailing:
                if side > 0:
                    stop = max(stop, cl[t] - am * atr[a, t])
                else:
                    stop = min(stop, cl[t] + am * atr[a, t])

        # 2. signals (independent of the position) and entry when flat
        sig = 0
        if t >= ready - 1:
            mid = middle[b, t]
            dev = k * sd[b, t]
            below = cl[t] < mid - dev
            above = cl[t] > mid + dev
            if t >= ready:
                if below and not prev_below and direction >= 0:
                    if tr < 0 or cl[t] > trend[tr, t]:
                        sig = 1
                elif above and not prev_above and direction <= 0:
                    if tr < 0 or cl[t] < trend[tr, t]:
                        sig = -1
                if sig != 0:
                    if have_kept and t - last_kept < spacing:
                        sig = 0
                    else:
                        have_kept = True
                        last_kept = t
            prev_below = below
            prev_above = above
        if sig != 0 and side == 0 and cash > 0.0:
            fill = cl[t] * (1.0 + sig * s)
            d = am * atr[a, t]
            if d > 0.0 and fill > 0.0:  # a short slipped by >= 100 % cannot be filled
                side = sig
                entry_fill = fill
                qty = min(cash * risk / d, cash * lev / entry_fill)
                stop = entry_fill - side * d
                fee_entry = f * qty * entry_fill
                cash -= fee_entry
                entry_bar = t

        # 3. mark to market; 4. ruin; end of data
        if side != 0:
            eq = cash + side * qty * (cl[t] - entry_fill)
        else:
            eq = cash
        if eq <= 0.0:
            ruined = True
        if side != 0 and (ruined or t == last):
            fill = cl[t] * (1.0 - side * s)
            pnl_gross = side * qty * (fill - entry_fill)
            fee_exit = f * qty * fill
            cash += pnl_gross - fee_exit
            pnl = pnl_gross - fee_entry - fee_exit
            n_trades += 1
            held += t - entry_bar
            fees += fee_entry + fee_exit
            if pnl > 0.0:
                n_win += 1
                sum_win += pnl
            elif pnl < 0.0:
                n_loss += 1
                sum_loss += pnl
            tmp = pnl_sum + pnl
            if abs(pnl_sum) >= abs(pnl):
                pnl_comp += (pnl_sum - tmp) + pnl
            else:
                pnl_comp += (pnl - tmp) + pnl_sum
            pnl_sum = tmp
            side = 0
            eq = cash
            if eq <= 0.0:
                ruined = True

        # streaming return / drawdown statistics of equity[t]; an unchanged equity (flat bars)
        # is a zero return and leaves peak and drawdown as they are: no division
        if eq != eq_prev:
            peak = max(peak, eq)
            max_dd = max(max_dd, 1.0 - eq / peak)
            r = 0.0
            if eq_prev > 0.0:
                r = eq / eq_prev - 1.0
            if t == 0:
                pass
            elif r == 0.0:
                zeros += 1
            else:
                if zeros > 0:  # merge a run of zero returns (Chan et al.)
                    if w_n == 0:
                        w_n = zeros
                    else:
                        tot = w_n + zeros
                        delta = -w_mean
                        w_mean += delta * zeros / tot
                        w_m2 += delta * delta * w_n * zeros / tot
                        w_n = tot
                    zeros = 0
                w_n += 1
                delta = r - w_mean
                w_mean += delta / w_n
                w_m2 += delta * (r - w_mean)
                tmp = r_sum + r  # Neumaier compensated sum
                if abs(r_sum) >= abs(r):
                    r_comp += (r_sum - tmp) + r
                else:
                    r_comp += (r - tmp) + r_sum
                r_sum = tmp
                neg = min(r, 0.0)  # branch-free: the sign of r is unpredictable
                down2 += neg * neg
        elif t > 0:
            zeros += 1
        eq_prev = eq
        if ruined:
            # nothing trades any more: equity stays at the cash, every later return is 0
            t_stop = t
            break

    zeros += last - t_stop
    if zeros > 0 and w_n > 0:
        tot = w_n + zeros
        delta = -w_mean
        w_m2 += delta * delta * w_n * zeros / tot

    # finalisation (STRATEGY.md metric table and edge cases)
    final = eq
    n_ret = n - 1
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
def _sweep_cpu(op, hi, lo, cl, middle, sd, atr, trend, P, out, cagr_exp, sqrt_ppy):
    for i in numba.prange(P.shape[0]):
        _simulate_one_cpu(i, op, hi, lo, cl, middle, sd, atr, trend, P, out, cagr_exp, sqrt_ppy)


def run_sweep_cpu(
    packed: PackedSweep, times_first_ns: int, times_last_ns: int, bar_minutes: float
) -> np.ndarray:
    """Metrics of every combination of ``packed``: ``out[n_combos, N_OUT]`` (float64).

    ``times_first_ns``/``times_last_ns`` are the first and last bar timestamps (cagr span);
    ``bar_minutes`` is the timeframe's bar length (annualisation).
    """
    cagr_exp, sqrt_ppy = finalisation_constants(times_first_ns, times_last_ns, bar_minutes)
    out = np.empty((packed.n_combos, N_OUT), dtype=np.float64)
    if packed.n_combos:
        _sweep_cpu(*packed.bar_arrays(), out, cagr_exp, sqrt_ppy)
    return out
