"""Time units: the one home of every conversion constant between nanoseconds, minutes and years.

Bar times are int64 UTC nanoseconds (``times_ns``); bar lengths and windows are whole minutes; a
year is 365.25 days (crypto trades every day). The module imports nothing, so every layer may use
it, the kernels included (``tests/test_import_graph.py`` allows it there).
"""

from __future__ import annotations

NS_PER_SECOND = 1_000_000_000
NS_PER_MILLISECOND = 1_000_000
NS_PER_MICROSECOND = 1_000
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3_600
MINUTES_PER_HOUR = 60
MINUTES_PER_DAY = 1_440
MINUTES_PER_WEEK = 10_080
NS_PER_MINUTE = SECONDS_PER_MINUTE * NS_PER_SECOND  # 60_000_000_000
NS_PER_DAY = MINUTES_PER_DAY * NS_PER_MINUTE
MINUTES_PER_YEAR = 365.25 * MINUTES_PER_DAY  # 525_960.0 (a float: annualisation factors)
NS_PER_YEAR = MINUTES_PER_YEAR * NS_PER_MINUTE  # 3.15576e16, exactly 365.25 * 86_400 * 1e9
