"""The array contract of the CPU and GPU sweep kernels (pure numpy, no numba): what goes in, what
comes out, and what it weighs. Nothing here validates parameters or computes indicators; that is
:mod:`threadx.strategy.pack`, one layer up.

A sweep is handed to a kernel as plain float64 arrays:

* the bars ``open, high, low, close`` (``n_bars`` each);
* indicator *banks*, one row per **distinct** indicator parameter, never one per combination::

      middle[n_bb, n_bars], sd[n_bb, n_bars]   Bollinger middle and population sd, per bb_period
      atr[n_atr, n_bars]                       ATR, per distinct (atr_period, atr_method)
      trend[n_trend, n_bars]                   trend EMA of close, per distinct trend_period > 0

  so memory grows with bars x distinct indicator parameters, never with bars x combinations
  (the bands ``middle +- bb_std * sd`` are formed inside the kernel, per combination);
* the parameter matrix ``P[n_combos, N_PARAMS]`` (float64; integers and codes stored as floats),
  whose columns are the ``C_*`` indices below.

From the banks and ``P`` the kernels' runners derive one more array, the band crossings as bits
per distinct ``(bb_period, bb_std, direction)`` (:func:`threadx.kernels.crossing.crossing_bank`).

The kernels write ``out[n_combos, N_OUT]`` (float64) whose columns are :data:`OUT_NAMES`, the
metrics of STRATEGY.md in table order (= ``threadx.strategy.metrics.METRIC_NAMES``); ``n_trades``
is an integral float and ``ruined`` is 0.0 / 1.0.

Column codes of ``P``:

* ``C_TRAILING``: 1.0 trailing stop on, 0.0 off;
* ``C_DIRECTION``: :data:`DIRECTION_CODES` -- 0 = both sides, +1 = long only, -1 = short only;
* ``C_BB_IDX`` / ``C_ATR_IDX``: row of the combination in ``middle``/``sd`` and ``atr``;
* ``C_TREND_IDX``: row in ``trend``, or -1 when the trend filter is off (``trend_period = 0``);
* ``C_READY_FROM``: first bar ``t`` that is *ready* (Bollinger, ATR and trend EMA defined at
  ``t`` and ``t - 1``), derived from the leading-NaN counts of the combination's bank rows (banks
  are NaN only at their head; :func:`threadx.strategy.pack.pack` checks it). Always >= 1.

The kernels' argument order is :meth:`PackedSweep.kernel_arrays` (defined once, here), and
:func:`prepared_bytes` is what a prepared grid in this layout weighs (the memory estimate of a
sweep, ``SweepSpec.estimate_memory_bytes``, adds it to the rest of the pipeline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from threadx.core.units import NS_PER_YEAR
from threadx.strategy.metrics import DEFAULT_BLOCKS, METRIC_NAMES, STAT_NAMES

# --- parameter matrix columns: the strategy parameters of the same names (before C_BB_IDX), then
# each combination's bank rows and first ready bar ------------------------------------------------
PARAM_COLUMNS: tuple[str, ...] = (
    "bb_std",
    "atr_multiplier",
    "trailing_stop",
    "max_hold_bars",
    "spacing_bars",
    "direction",
    "risk_per_trade",
    "leverage",
    "fee_bps",
    "slippage_bps",
    "initial_capital",
    "bb_idx",
    "atr_idx",
    "trend_idx",
    "ready_from",
)
(
    C_BB_STD,
    C_ATR_MULTIPLIER,
    C_TRAILING,
    C_MAX_HOLD,
    C_SPACING,
    C_DIRECTION,
    C_RISK,
    C_LEVERAGE,
    C_FEE_BPS,
    C_SLIPPAGE_BPS,
    C_INITIAL_CAPITAL,
    C_BB_IDX,
    C_ATR_IDX,
    C_TREND_IDX,
    C_READY_FROM,
) = range(len(PARAM_COLUMNS))
N_PARAMS = len(PARAM_COLUMNS)

DIRECTION_CODES: dict[str, int] = {"both": 0, "long": 1, "short": -1}
ATR_METHODS: tuple[str, ...] = ("ema", "sma", "wilder")

# --- output columns: the metrics, in STRATEGY.md's table order (their one list: METRIC_NAMES) --
OUT_NAMES: tuple[str, ...] = METRIC_NAMES
(
    O_FINAL_EQUITY,
    O_TOTAL_RETURN,
    O_CAGR,
    O_ANNUAL_VOLATILITY,
    O_SHARPE,
    O_SORTINO,
    O_MAX_DRAWDOWN,
    O_CALMAR,
    O_N_TRADES,
    O_WIN_RATE,
    O_PROFIT_FACTOR,
    O_EXPECTANCY,
    O_AVG_WIN,
    O_AVG_LOSS,
    O_EXPOSURE,
    O_AVG_BARS_HELD,
    O_TOTAL_FEES,
    O_RUINED,
) = range(len(OUT_NAMES))
N_OUT = len(OUT_NAMES)

# --- statistics after the metrics (overfitting report; STAT_NAMES, DEFAULT_BLOCKS:
# threadx.strategy.metrics) out[:, N_OUT:N_OUT + N_STATS] = skewness and kurtosis (Pearson, 3 for a
# normal) of the bar returns r[1..n-1] (population moments from the streaming sums of r, r^2, r^3,
# r^4; 0 and 3 when the variance is 0); out[:, N_OUT + N_STATS + b] = sum of the returns of block b
# (b < S), block b holding the returns r[t] with floor((t - 1) * S / (n - 1)) == b.
N_STATS = len(STAT_NAMES)


def block_columns(blocks: int) -> tuple[str, ...]:
    """Result column names of the S block return sums: ``block_00`` ..."""
    return tuple(f"block_{b:02d}" for b in range(blocks))


def out_width(blocks: int = DEFAULT_BLOCKS) -> int:
    """Columns of a kernel's ``out`` with ``blocks`` block sums."""
    if isinstance(blocks, bool) or not isinstance(blocks, int | np.integer) or blocks < 0:
        raise ValueError(f"blocks must be an int >= 0, got {blocks!r}")
    return N_OUT + N_STATS + int(blocks)


def out_names(blocks: int = DEFAULT_BLOCKS) -> tuple[str, ...]:
    """All columns of a kernel's ``out``: metrics, statistics, block return sums."""
    return (*OUT_NAMES, *STAT_NAMES, *block_columns(blocks))


@dataclass(frozen=True)
class PackedSweep:
    """Everything a sweep kernel reads: bars, indicator banks and the parameter matrix.

    All arrays are C-contiguous float64. ``bb_periods[j]`` is the Bollinger period of bank row
    ``j``; ``atr_keys[j] = (atr_period, atr_method)`` and ``trend_periods[j]`` likewise.
    """

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    middle: np.ndarray
    sd: np.ndarray
    atr: np.ndarray
    trend: np.ndarray
    params: np.ndarray
    bb_periods: tuple[int, ...] = field(default=())
    atr_keys: tuple[tuple[int, str], ...] = field(default=())
    trend_periods: tuple[int, ...] = field(default=())

    @property
    def n_bars(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_combos(self) -> int:
        return int(self.params.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (bars + banks + parameter matrix)."""
        return int(sum(a.nbytes for a in self.bar_arrays()))

    def bar_arrays(self) -> tuple[np.ndarray, ...]:
        """``(open, high, low, close, middle, sd, atr, trend, params)``: every array held."""
        return (
            self.open,
            self.high,
            self.low,
            self.close,
            self.middle,
            self.sd,
            self.atr,
            self.trend,
            self.params,
        )

    def kernel_arrays(self, cross: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
        """The array arguments of the kernels, in order: :meth:`bar_arrays` with ``cross``, the
        crossing bank of these combinations ``(cross_bits, cross_row)``, before ``P``."""
        *bars, params = self.bar_arrays()
        return (*bars, *cross, params)

    def take(self, rows: np.ndarray | slice) -> PackedSweep:
        """The same bars and banks with a subset of the combinations (a chunk of the sweep)."""
        return replace(self, params=np.ascontiguousarray(self.params[rows]))


def finalisation_constants(
    times_first_ns: int, times_last_ns: int, bar_minutes: float
) -> tuple[float, float]:
    """``(cagr_exponent, sqrt_periods_per_year)`` passed to the kernels.

    ``cagr = (final / initial) ** cagr_exponent - 1`` with ``cagr_exponent = 1 year / span``;
    a span of 0 gives exponent 0, hence cagr 0 (STRATEGY.md edge case).
    """
    from threadx.strategy.metrics import periods_per_year

    span = int(times_last_ns) - int(times_first_ns)
    exponent = NS_PER_YEAR / span if span > 0 else 0.0
    return float(exponent), math.sqrt(periods_per_year(bar_minutes))


# columns of a prepared grid's parameter matrix P plus its per-combination index rows
# (crossing row, codes of the grid's own columns are added by the caller)
PACKED_ROW_COLUMNS = N_PARAMS + 1


def prepared_bytes(
    n_bars: int, bank_rows: int, crossing_rows: int, n_combos: int, grid_columns: int
) -> int:
    """Bytes of one dataset's prepared grid in this layout: the indicator banks (``bank_rows``
    rows of ``n_bars`` float64: 2 per Bollinger period, 1 per ATR key and trend period), the
    crossing bits (``n_bars / 8`` bytes per distinct ``(bb_period, bb_std, direction)``, in
    64-bit words), ``P`` with the crossing-row index (:data:`PACKED_ROW_COLUMNS` float64 per
    combination) and the int64 codes of the ``grid_columns`` swept columns."""
    banks = 8 * n_bars * bank_rows
    bits = crossing_rows * 8 * ((n_bars + 63) // 64 + 1)
    return int(banks + bits + 8 * n_combos * (PACKED_ROW_COLUMNS + grid_columns))
