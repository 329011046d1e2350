"""The one base of ThreadX's pydantic models, their error messages and their TOML files.

The configuration (:mod:`threadx.core.config`), sweep specs (:mod:`threadx.sweep.spec`), strategy
parameters (:mod:`threadx.strategy.params`) and the universe's category maps are read from
TOML files a person writes, so every error names the file, the key and the rule on one line::

    configs/sweeps/demo.toml: key 'grid.bb_std': unknown key

* :class:`StrictModel` -- the base model: unknown keys are errors (a typo is never ignored);
* :func:`format_validation_error` -- a pydantic ``ValidationError`` as that line (several
  problems joined by ``"; "``); a model validator names its key by raising :class:`KeyedError`;
* :func:`load_toml` / :func:`parse_toml` -- a TOML file or text as a dict; a syntax error names
  the file and tomllib's line and column.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from threadx.core.errors import ConfigError

__all__ = ["KeyedError", "StrictModel", "format_validation_error", "load_toml", "parse_toml"]


class StrictModel(BaseModel):
    """Base of every ThreadX model: unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")


class KeyedError(ValueError):
    """A rule broken by a model as a whole (a model validator), naming the key it is about: a
    model validator's error has no location of its own."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def format_validation_error(
    err: ValidationError, source: str, *, unknown: str = "unknown key"
) -> str:
    """``SOURCE: key 'a.b': message`` per problem, joined by ``"; "``. The key is the error's
    location, extended by a :class:`KeyedError`'s key (``<root>`` when there is none); pydantic's
    ``"Value error, "`` prefix is dropped; ``unknown`` is the message of a forbidden extra key."""
    parts = []
    for e in err.errors(include_url=False):
        cause = (e.get("ctx") or {}).get("error")
        keyed = cause.key if isinstance(cause, KeyedError) else None
        loc = ".".join(str(x) for x in e["loc"])
        key = ".".join(k for k in (loc, keyed) if k) or "<root>"
        msg = unknown if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        parts.append(f"{source}: key '{key}': {msg}")
    return "; ".join(parts)


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """TOML ``text`` as a dict; ConfigError ``SOURCE: invalid TOML: ... (at line L, column C)``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None


def load_toml(path: str | Path, what: str = "file") -> dict[str, Any]:
    """The TOML file ``path`` as a dict. ConfigError naming the file: ``PATH: WHAT not found``,
    ``PATH: cannot read the WHAT (...)`` or ``PATH: invalid TOML: ... (at line L, column C)``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: {what} not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{p}: cannot read the {what} ({err})") from None
    return parse_toml(text, str(p))
