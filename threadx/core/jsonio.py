"""JSON: the one policy for every JSON file ThreadX writes (run folders, exports, reports, backtest
outputs, catalogs).

JSON has no infinity and no NaN, and numpy scalars are not JSON types. :func:`to_jsonable` maps a
value onto plain JSON once, the same way everywhere (STRATEGY.md, "Metrics"):

* finite floats (numpy ones too) -> JSON numbers; ``+inf`` -> ``"inf"``, ``-inf`` -> ``"-inf"``
  (a profit factor without a loss is ``"inf"``, not unknown); NaN -> ``null``;
* numpy integers and booleans -> Python ``int`` / ``bool``; numpy arrays and tuples -> lists;
  an enum member -> its value;
* mapping keys -> ``str``;
* anything else that is not a JSON type (``Path``, ``Timestamp``, ``datetime``, ...) -> ``str``.

:func:`dumps` writes the result (``allow_nan=False``: nothing non-finite can slip through);
:func:`threadx.core.io.atomic_write_json` writes files with it. Readers turn ``"inf"`` / ``"-inf"``
back into floats with :func:`json_float` (``null`` stays ``None``); reports written before this
policy hold ``null`` for infinities in ``report.json`` and read back as missing.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["dumps", "json_float", "to_jsonable"]

_INF = {"inf": math.inf, "-inf": -math.inf}


def _float(f: float) -> float | str | None:
    if math.isfinite(f):
        return f
    return None if math.isnan(f) else ("inf" if f > 0 else "-inf")


def to_jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values under the policy of the module docstring (a new object;
    ``obj`` is not changed)."""
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return _float(float(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    return str(obj)


def dumps(obj: Any, *, indent: int | None = 2, sort_keys: bool = True) -> str:
    """``obj`` as JSON text under the policy (:func:`to_jsonable`), ending in a newline."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False) + "\n"


def json_float(value: Any) -> float | None:
    """A number read back from JSON written under the policy: ``"inf"`` / ``"-inf"`` -> ±inf,
    ``None`` -> ``None``, a number -> ``float``; ValueError for anything else."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return _INF[value]
        except KeyError:
            raise ValueError(f"not a JSON number under ThreadX's policy: {value!r}") from None
    if isinstance(value, bool):
        raise ValueError(f"not a JSON number under ThreadX's policy: {value!r}")
    return float(value)
