"""ThreadX: parameter-sweep backtester for crypto OHLCV data.

The library is pure computation and storage; it imports neither Ray nor DearPyGui.
"""

__version__ = "0.1.0"
