"""View model of the Logs view's filter (pure Python: no DearPyGui, no Ray).

The log file's lines follow :mod:`threadx.core.log`'s format, ``<date> <time> <LEVEL> <logger>
[<pid>] <message>``; a line that does not (a traceback's continuation) belongs to the record
above it. :func:`filter_log` keeps the records at or above a level and of one logger (with the
loggers below it in the tree: ``threadx.gui`` keeps ``threadx.gui.backend``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

#: The level choices, lowest first (a choice keeps its level and those above it).
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ALL = "all"
_HEAD = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (?P<level>[A-Z]+)\s+(?P<logger>\S+) \[\d+\] "
)


@dataclass(frozen=True)
class LogRecord:
    """One record of the log: its level, logger and lines (the first and its continuations)."""

    level: str
    logger: str
    lines: tuple[str, ...]


def parse_log(lines: Sequence[str]) -> tuple[LogRecord, ...]:
    """The records of ``lines``; lines before the first record's head form one of level and
    logger ``"?"`` (the tail of a file may start inside a record)."""
    out: list[LogRecord] = []
    for line in lines:
        m = _HEAD.match(line)
        if m is not None:
            out.append(LogRecord(m["level"], m["logger"], (line,)))
        elif out:
            last = out[-1]
            out[-1] = LogRecord(last.level, last.logger, (*last.lines, line))
        else:
            out.append(LogRecord("?", "?", (line,)))
    return tuple(out)


def loggers(records: Sequence[LogRecord]) -> tuple[str, ...]:
    """The logger choices: :data:`ALL`, then every logger named in ``records``, sorted."""
    return (ALL, *sorted({r.logger for r in records if r.logger != "?"}))


def _at_least(level: str, least: str) -> bool:
    if least == ALL:
        return True
    return level in LEVELS and LEVELS.index(level) >= LEVELS.index(least)


def _under(logger: str, name: str) -> bool:
    return name == ALL or logger == name or logger.startswith(name + ".")


def filter_log(
    records: Sequence[LogRecord], level: str = ALL, logger: str = ALL
) -> tuple[str, ...]:
    """The lines of the records at ``level`` or above (:data:`LEVELS`; :data:`ALL`: any) of
    ``logger`` or a logger below it (:data:`ALL`: any)."""
    return tuple(
        line
        for r in records
        if _at_least(r.level, level) and _under(r.logger, logger)
        for line in r.lines
    )
