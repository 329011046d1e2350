"""Parameters of the BB+ATR strategy: names, defaults and rules exactly as in STRATEGY.md.

``StrategyParams`` is a frozen pydantic model. Input rules (STRATEGY.md "Precise points"):

* integer parameters accept integers and integral floats (``20.0``); not booleans, not ``20.5``;
  every integer parameter is a number of bars (a period, a holding time, a spacing) and is at most
  :data:`MAX_BARS` (10,000,000 bars: 19 years of 1-minute bars; it keeps every bar index and
  ``entry + max_hold_bars`` far inside int64 and exact in the kernels' float64 parameter matrix);
* float parameters accept finite real numbers (not booleans, not strings, not NaN/inf);
* booleans accept ``true``/``false`` and the strings ``"true"``/``"false"`` (any case);
* unknown names are an error that lists the known parameter names;
* every rule violation is an error naming the parameter.

Strings from a command line go through :func:`parse_param_assignments` first.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from threadx.core.errors import ConfigError
from threadx.core.models import StrictModel

__all__ = [
    "MAX_BARS",
    "PARAM_NAMES",
    "StrategyParams",
    "params_from_mapping",
    "parse_param_assignments",
]

#: Upper bound of every integer (bars) parameter: bb_period, atr_period, max_hold_bars,
#: spacing_bars, trend_period. 10,000,000 bars = 19 years of 1-minute bars, more than any data set;
#: far below 2**53, so the value is exact in the kernels' float64 parameter matrix and bar
#: arithmetic (``entry + max_hold_bars``) cannot overflow int64.
MAX_BARS = 10_000_000


def _name(info: ValidationInfo) -> str:
    return info.field_name or "parameter"


def _strict_int(value: Any, info: ValidationInfo) -> int:
    """An integer or an integral float (20.0) of at most :data:`MAX_BARS`; the message names the
    parameter and the rule."""
    if isinstance(value, bool):
        raise ValueError(f"{_name(info)} must be an integer, got the boolean {value!r}")
    if isinstance(value, numbers.Integral):
        number = int(value)
    elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
        number = int(value)
    else:
        raise ValueError(f"{_name(info)} must be an integer (20 or 20.0), got {value!r}")
    if number > MAX_BARS:
        raise ValueError(
            f"{_name(info)} must be at most {MAX_BARS:,} bars (the upper bound of "
            "every integer parameter)"
        )
    return number


def _strict_float(value: Any, info: ValidationInfo) -> float:
    """A finite real number; the message names the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{_name(info)} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{_name(info)} must be finite, got {value!r}")
    return float(value)


def _strict_bool(value: Any, info: ValidationInfo) -> bool:
    """``True``/``False`` or the strings ``"true"``/``"false"`` (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError(f"{_name(info)} must be true or false, got {value!r}")


StrictInt = Annotated[int, BeforeValidator(_strict_int)]
StrictFloat = Annotated[float, BeforeValidator(_strict_float)]
StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]


class StrategyParams(StrictModel):
    """All parameters of the BB+ATR strategy (STRATEGY.md "Parameters"), in table order."""

    model_config = ConfigDict(frozen=True, validate_default=True)  # and StrictModel's extra=forbid

    bb_period: StrictInt = Field(
        20, ge=2, description="Bollinger window (bars), int >= 2, <= MAX_BARS."
    )
    bb_std: StrictFloat = Field(
        2.0, gt=0, description="Band multiplier k; also the entry threshold. > 0."
    )
    atr_period: StrictInt = Field(14, ge=1, description="ATR window (bars), int >= 1, <= MAX_BARS.")
    atr_method: Literal["ema", "sma", "wilder"] = Field(
        "ema", description="ATR smoothing: ema (default), sma or wilder (TA-Lib's ATR)."
    )
    atr_multiplier: StrictFloat = Field(
        1.5, gt=0, description="Stop distance = atr_multiplier * ATR at entry. > 0."
    )
    trailing_stop: StrictBool = Field(
        True, description="Trail the stop at bar closes (only in the trader's favour)."
    )
    max_hold_bars: StrictInt = Field(
        72,
        ge=1,
        description="Forced exit after this many bars in a position, 1 <= int <= MAX_BARS.",
    )
    spacing_bars: StrictInt = Field(
        6,
        ge=0,
        description="Minimum bars between two kept signals (either side), 0 <= int <= MAX_BARS.",
    )
    trend_period: StrictInt = Field(
        0, ge=0, description="EMA trend filter period; 0 = off, otherwise 2 <= int <= MAX_BARS."
    )
    direction: Literal["both", "long", "short"] = Field(
        "both", description="Allowed sides: both, long or short."
    )
    risk_per_trade: StrictFloat = Field(
        0.01,
        gt=0,
        le=1,
        description="Equity fraction lost if the initial stop is hit, 0 < r <= 1.",
    )
    leverage: StrictFloat = Field(
        1.0, gt=0, description="Caps the entry notional at leverage * equity. > 0."
    )
    fee_bps: StrictFloat = Field(
        4.5, ge=0, description="Fee per side in basis points of the fill notional. >= 0."
    )
    slippage_bps: StrictFloat = Field(
        0.0, ge=0, description="Adverse price move on every fill, in basis points. >= 0."
    )
    initial_capital: StrictFloat = Field(
        10000.0, gt=0, description="Starting cash in quote currency. > 0."
    )

    @model_validator(mode="before")
    @classmethod
    def _known_names_only(cls, data: Any) -> Any:
        """Unknown parameter names are an error listing the known ones (STRATEGY.md)."""
        if isinstance(data, Mapping):
            unknown = [str(k) for k in data if k not in cls.model_fields]
            if unknown:
                raise ValueError(
                    f"unknown parameter(s) {unknown}; known parameters are: "
                    + ", ".join(cls.model_fields)
                )
        return data

    @field_validator("trend_period")
    @classmethod
    def _trend_period_rule(cls, value: int) -> int:
        """``trend_period`` is 0 (off) or >= 2 (STRATEGY.md "Precise points")."""
        if value == 1:
            raise ValueError("trend_period must be 0 (off) or an integer >= 2, got 1")
        return value


#: Parameter names in the order of the STRATEGY.md table.
PARAM_NAMES: tuple[str, ...] = tuple(StrategyParams.model_fields)

_BOOL_FIELDS = frozenset(n for n, f in StrategyParams.model_fields.items() if f.annotation is bool)
_INT_FIELDS = frozenset(n for n, f in StrategyParams.model_fields.items() if f.annotation is int)
_FLOAT_FIELDS = frozenset(
    n for n, f in StrategyParams.model_fields.items() if f.annotation is float
)


def _coerce(name: str, text: str) -> Any:
    """Convert the string ``text`` to the type of parameter ``name`` (errors name it)."""
    if name in _BOOL_FIELDS:
        if text.lower() not in ("true", "false"):
            raise ConfigError(f"parameter {name}: expected true or false, got {text!r}")
        return text.lower() == "true"
    if name in _INT_FIELDS:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"parameter {name}: expected an integer, got {text!r}") from None
        if not (math.isfinite(number) and number.is_integer()):
            raise ConfigError(f"parameter {name}: expected an integer, got {text!r}")
        return int(text) if text.lstrip("+-").isdigit() else int(number)
    if name in _FLOAT_FIELDS:
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"parameter {name}: expected a number, got {text!r}") from None
        if not math.isfinite(number):
            raise ConfigError(f"parameter {name}: expected a finite number, got {text!r}")
        return number
    return text


def parse_param_assignments(assignments: Iterable[str]) -> dict[str, Any]:
    """Parse ``["bb_period=20", "trailing_stop=false", ...]`` into typed values.

    Values are converted to the parameter's type (int, float, bool, str); rule checks are left to
    :class:`StrategyParams`. Raises :class:`~threadx.core.errors.ConfigError` naming the parameter
    for a malformed item, an unknown name (listing the known ones), a repeated name or a bad value.
    """
    out: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name:
            raise ConfigError(f"expected NAME=VALUE, got {item!r}")
        if name not in PARAM_NAMES:
            raise ConfigError(
                f"unknown parameter {name!r}; known parameters are: " + ", ".join(PARAM_NAMES)
            )
        if name in out:
            raise ConfigError(f"parameter {name} is given more than once")
        out[name] = _coerce(name, text)
    return out


def params_from_mapping(values: Mapping[str, Any]) -> StrategyParams:
    """Validate ``values`` into :class:`StrategyParams`, raising a one-line
    :class:`~threadx.core.errors.ConfigError` that names each offending parameter and its rule."""
    try:
        return StrategyParams(**dict(values))
    except ValidationError as err:
        problems = []
        for e in err.errors(include_url=False):
            msg = e["msg"].removeprefix("Value error, ")
            if e["loc"]:
                where = ".".join(str(part) for part in e["loc"])
                msg = f"{where}: {msg} (got {e['input']!r})"
            problems.append(msg)
        raise ConfigError("invalid strategy parameters: " + "; ".join(problems)) from None
