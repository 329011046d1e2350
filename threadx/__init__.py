"""ThreadX: parameter-sweep backtester for crypto OHLCV data.

The library is pure computation and storage; it imports neither Ray nor DearPyGui. The public API
is small and imported lazily::

    from threadx import OHLCVStore, StrategyParams, backtest_frame, load_spec, run_local
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_config": "threadx.core.config",
    "OHLCVStore": "threadx.data.store",
    "StrategyParams": "threadx.strategy.params",
    "backtest_frame": "threadx.strategy.reference",
    "simulate": "threadx.strategy.reference",
    "METRIC_NAMES": "threadx.strategy.metrics",
    "load_spec": "threadx.sweep",
    "run_local": "threadx.sweep",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'threadx' has no attribute {name!r}")
