"""What every verb module of the ``threadx`` command shares: the :class:`Context` handed to a
verb, and the argument helpers (times, JSON reports)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from threadx.core.config import ThreadXConfig
from threadx.core.errors import DataError

Handler = Callable[["Context", argparse.Namespace], int]
M = TypeVar("M")


@dataclass
class Context:
    cfg: ThreadXConfig

    @property
    def store(self):  # noqa: ANN201 - lazy import keeps `threadx --help` fast
        from threadx.data.store import OHLCVStore

        return OHLCVStore(self.cfg.data_root)


def parse_time(text: str | None, flag: str) -> pd.Timestamp | None:
    """``--start`` / ``--end`` style value as a UTC timestamp (naive = UTC); None stays None."""
    if text is None:
        return None
    from threadx.core.utc import as_utc

    try:
        return as_utc(text)
    except ValueError:
        raise DataError(f"{flag} {text!r}: not a date/time") from None


def model_from_flags(model: type[M], prefix: str, flags: dict[str, tuple[str, Any]]) -> M:
    """``model`` built from command-line flags (``flags``: field -> (flag, value)); a broken
    rule is one ConfigError line, ``PREFIX.field: message (--flag value)`` per problem joined by
    ``"; "``, as the spec's keys are named (e.g. ``monte_carlo.paths: Input should be greater than
    or equal to 10 (--paths 5)``)."""
    from pydantic import ValidationError

    from threadx.core.errors import ConfigError

    try:
        return model(**{field: value for field, (_, value) in flags.items()})
    except ValidationError as err:
        parts = []
        for e in err.errors(include_url=False):
            field = ".".join(str(x) for x in e["loc"])
            flag = flags.get(field)
            given = f" ({flag[0]} {flag[1]})" if flag else ""
            msg = e["msg"].removeprefix("Value error, ")
            parts.append(f"{prefix}.{field}: {msg}{given}" if field else f"{prefix}: {msg}")
        raise ConfigError("; ".join(parts)) from None


def write_json(path: Path | None, doc: dict[str, Any]) -> None:
    """Write a report atomically when ``--json``/``--out`` named a file, and say where."""
    if path is not None:
        from threadx.core.io import atomic_write_json

        atomic_write_json(path, doc)
        print(f"report written to {path}")
