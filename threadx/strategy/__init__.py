"""The BB+ATR strategy: parameters, signals and the reference simulation (the oracle)."""

from threadx.strategy.params import PARAM_NAMES, StrategyParams
from threadx.strategy.reference import BacktestResult, backtest_frame, simulate

__all__ = ["PARAM_NAMES", "BacktestResult", "StrategyParams", "backtest_frame", "simulate"]
