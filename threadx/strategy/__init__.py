"""The BB+ATR strategy: parameters (``params``), indicators, signals, the reference simulation
(``reference``, the oracle), metrics, one backtest's outputs (``backtest``) and ``pack`` (the
parameters as the kernels' arrays). Import the modules themselves: this ``__init__`` imports
nothing, so that the kernels' use of ``threadx.strategy.metrics`` stays light."""
