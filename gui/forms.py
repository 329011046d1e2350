"""The sweep form as pure data: fields <-> :class:`~threadx.sweep.spec.SweepSpec`, count, memory.

Every strategy parameter has a row with a mode: ``default`` (its STRATEGY.md default), ``fixed``
(one value), ``list`` (``"10, 20, 30"``) or ``range`` (``"start:stop:step"``, inclusive). Values
are typed by :func:`threadx.strategy.params.parse_param_assignments` and the whole form is
validated by :func:`threadx.sweep.spec.spec_from_dict`, so the form accepts exactly what a TOML
spec accepts, and its errors name the field and the rule. The ``[search]`` fields (method, budget,
batch, seed) become the spec's ``[search]`` table for a sampling method; ``grid`` writes none. The
estimate counts the run's result rows (``SweepSpec.total_rows``: a search's budget, not its grid).
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gui.viewmodels import NO_DATA, fmt_bytes
from threadx.core.errors import ConfigError, ThreadXError
from threadx.strategy.params import PARAM_NAMES, StrategyParams, parse_param_assignments
from threadx.sweep.spec import RangeSpec, SearchSpec, SweepSpec, spec_from_dict

MODES = ("default", "fixed", "list", "range")
#: ``[search] method`` choices, as :class:`~threadx.sweep.spec.SearchSpec` declares them
SEARCH_METHODS: tuple[str, ...] = typing.get_args(SearchSpec.model_fields["method"].annotation)
_SEARCH_DEFAULTS = SearchSpec()
_SPLIT = re.compile(r"[,\s]+")


@dataclass(frozen=True)
class ParamField:
    """One strategy parameter's row of the form."""

    name: str
    mode: str = "default"
    text: str = ""


def default_params() -> tuple[ParamField, ...]:
    """Every parameter at its default, except a small Bollinger grid to start from."""
    start = {"bb_period": ("range", "10:40:10"), "bb_std": ("range", "1.5:3.0:0.5")}
    out = []
    for name, f in StrategyParams.model_fields.items():
        mode, text = start.get(name, ("default", value_text(f.default)))
        out.append(ParamField(name, mode, text))
    return tuple(out)


@dataclass(frozen=True)
class SweepForm:
    """All fields of the sweep form (text as typed; parsed by :func:`form_to_spec_dict`)."""

    name: str = "gui"
    symbols: str = "BTCUSDT"
    timeframes: str = "1h"
    exchange: str = ""
    start: str = ""
    end: str = ""
    allow_gaps: bool = False
    backend: str = "auto"
    rank_by: str = "sharpe, -max_drawdown"
    top_k: int = 20
    aggregate: str = "none"  # [rank] aggregate: none | median | worst across datasets
    chunk_size: int = 0
    # [search]: method grid (every combination: the fields below unused) or a sampler
    search: str = _SEARCH_DEFAULTS.method
    trials: int = 1000  # the budget: distinct combinations per dataset
    batch: int = 0  # 0: automatic ([search] batch left out: SearchSpec.batch_size)
    seed: int = _SEARCH_DEFAULTS.seed
    params: tuple[ParamField, ...] = dataclasses.field(default_factory=default_params)

    def param(self, name: str) -> ParamField:
        return next(p for p in self.params if p.name == name)

    def with_param(self, name: str, mode: str | None = None, text: str | None = None) -> SweepForm:
        """A copy with parameter ``name``'s mode and/or text changed."""
        if name not in PARAM_NAMES:
            raise ConfigError(f"unknown parameter {name!r}")
        new = tuple(
            dataclasses.replace(
                p,
                mode=mode if mode is not None else p.mode,
                text=text if text is not None else p.text,
            )
            if p.name == name
            else p
            for p in self.params
        )
        return dataclasses.replace(self, params=new)


def value_text(value: Any) -> str:
    """Form text of a parameter value (``true``/``false`` for booleans)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_list(text: str) -> list[str]:
    """The words of a comma- or space-separated list (``"BTCUSDT, ETHUSDT"``)."""
    return [t for t in _SPLIT.split(text.strip()) if t]


def parse_value(name: str, text: str) -> Any:
    """One typed value of parameter ``name`` (errors name the parameter)."""
    if not text.strip():
        raise ConfigError(f"parameter {name}: empty value")
    return parse_param_assignments([f"{name}={text.strip()}"])[name]


def parse_range(name: str, text: str) -> dict[str, Any]:
    """``"start:stop:step"`` (step defaults to 1) of a numeric parameter."""
    ann = StrategyParams.model_fields[name].annotation
    if ann not in (int, float):
        raise ConfigError(f"parameter {name}: a range needs a numeric parameter; use a list")
    parts = [p.strip() for p in text.split(":")]
    if len(parts) not in (2, 3) or not all(parts):
        raise ConfigError(f"parameter {name}: range must be start:stop[:step], got {text!r}")
    vals = [parse_value(name, p) for p in parts]
    if ann is float:
        vals = [float(v) for v in vals]
    return dict(zip(("start", "stop", "step"), vals, strict=False))


def _param_sections(params: tuple[ParamField, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    grid: dict[str, Any] = {}
    fixed: dict[str, Any] = {}
    for p in params:
        if p.mode not in MODES:
            raise ConfigError(f"parameter {p.name}: mode must be one of {', '.join(MODES)}")
        if p.mode == "fixed":
            fixed[p.name] = parse_value(p.name, p.text)
        elif p.mode == "list":
            items = [t.strip() for t in p.text.split(",") if t.strip()]
            if not items:
                raise ConfigError(f"parameter {p.name}: empty list")
            grid[p.name] = [parse_value(p.name, t) for t in items]
        elif p.mode == "range":
            grid[p.name] = parse_range(p.name, p.text)
    return grid, fixed


def form_to_spec_dict(form: SweepForm) -> dict[str, Any]:
    """The spec dict of the form (as in a sweep TOML); raises ConfigError naming the field."""
    grid, fixed = _param_sections(form.params)
    data: dict[str, Any] = {
        "symbols": [s.upper() for s in split_list(form.symbols)],
        "timeframes": split_list(form.timeframes),
        "allow_gaps": bool(form.allow_gaps),
    }
    for key in ("exchange", "start", "end"):
        value = getattr(form, key).strip()
        if value:
            data[key] = value
    out = {
        "name": form.name.strip() or "gui",
        "backend": form.backend,
        "data": data,
        "grid": grid,
        "fixed": fixed,
        "rank": {
            "by": split_list(form.rank_by),
            "top_k": int(form.top_k),
            "aggregate": form.aggregate,
        },
    }
    if form.chunk_size:
        out["chunk_size"] = int(form.chunk_size)
    if form.search != "grid":  # a grid writes no [search] table (its run ids stay as they were)
        out["search"] = {
            "method": form.search,
            "trials": int(form.trials),
            "seed": int(form.seed),
            **({"batch": int(form.batch)} if form.batch else {}),
        }
    return out


def form_to_spec(form: SweepForm) -> SweepSpec:
    """The validated spec of the form (errors name the form field / key and the rule)."""
    return spec_from_dict(form_to_spec_dict(form), "sweep form")


def _grid_text(raw: Any) -> tuple[str, str]:
    if isinstance(raw, RangeSpec):
        return "range", f"{raw.start}:{raw.stop}:{raw.step}"
    return "list", ", ".join(value_text(v) for v in raw)


def spec_to_form(spec: SweepSpec) -> SweepForm:
    """The form showing ``spec`` (e.g. loaded from TOML); ranges stay ranges."""
    defaults = StrategyParams().model_dump()
    params = []
    for name in PARAM_NAMES:
        if name in spec.grid:
            params.append(ParamField(name, *_grid_text(spec.grid[name])))
        elif name in spec.fixed:
            params.append(ParamField(name, "fixed", value_text(spec.fixed[name])))
        else:
            params.append(ParamField(name, "default", value_text(defaults[name])))
    d, se = spec.data, spec.search
    return SweepForm(
        name=spec.name,
        symbols=", ".join(d.symbols),
        timeframes=", ".join(d.timeframes),
        exchange=d.exchange or "",
        start=d.start or "",
        end=d.end or "",
        allow_gaps=d.allow_gaps,
        backend=spec.backend,
        rank_by=", ".join(spec.rank.by),
        top_k=spec.rank.top_k,
        aggregate=spec.rank.aggregate,
        chunk_size=spec.chunk_size,
        search=se.method,
        trials=se.trials if se.trials is not None else SweepForm.trials,
        batch=se.batch or 0,
        seed=se.seed,
        params=tuple(params),
    )


# ------------------------------------------------------------------------------------ estimate


@dataclass(frozen=True)
class FormEstimate:
    """Result rows (combinations, or a search's trials: ``SweepSpec.total_rows``) and the
    peak-memory estimate of the form, or why there is none."""

    ok: bool
    count: int
    memory_bytes: int
    text: str
    error: str = ""
    noun: str = "combinations"  # what ``count`` counts: "combinations" or "<method> trials"


def count_text(spec: SweepSpec) -> tuple[int, str, str]:
    """(result rows, what they are, the words for them): the grid's ``2,000 combinations``, or
    a search's ``300 tpe trials of a 2,000-combination grid``."""
    rows = spec.total_rows()
    if not spec.search.sampling:
        return rows, "combinations", f"{rows:,} combinations"
    noun = f"{spec.search.method} trials"
    return rows, noun, f"{rows:,} {noun} of a {spec.count():,}-combination grid"


def _clip(ts: str | None, default: pd.Timestamp, pick: Any) -> pd.Timestamp:
    return default if ts is None else pick(pd.Timestamp(ts), default)


def _sources(rows: pd.DataFrame, symbol: str, timeframe: str) -> pd.DataFrame:
    """The catalog rows of ``symbol`` that can serve ``timeframe`` bars: with a ``timeframe``
    column (``list_frame(timeframes=True)``), the 1m truth and the stored coarser timeframes that
    divide it (:mod:`threadx.data.timeframes`); without one, every row (1m spans)."""
    from threadx.data.resample import timeframe_minutes

    if "timeframe" not in rows.columns:
        return rows
    width = timeframe_minutes(timeframe)
    able = rows[[width % timeframe_minutes(tf) == 0 for tf in rows["timeframe"]]]
    if able.empty:
        stored = ", ".join(sorted(set(rows["timeframe"]), key=timeframe_minutes))
        raise ConfigError(
            f"symbol {symbol} is stored only at {stored}: timeframe {timeframe} needs 1m bars "
            "or a stored timeframe that divides it"
        )
    return able


def bars_per_dataset(spec: SweepSpec, catalog: pd.DataFrame | None) -> dict[tuple[str, str], int]:
    """Bars of every (symbol, timeframe) of ``spec`` from the catalog's spans (an upper bound:
    gaps are not subtracted), 1m data or data stored at a coarser timeframe that divides the
    requested one (a row's ``last`` is its last bar's start). Raises ConfigError for a symbol
    the catalog does not hold, or holds only at timeframes that cannot serve the request."""
    from threadx.data.resample import timeframe_minutes

    out: dict[tuple[str, str], int] = {}
    for symbol, tf in spec.datasets():
        rows = catalog[catalog["symbol"] == symbol] if catalog is not None else None
        if rows is not None and spec.data.exchange:
            rows = rows[rows["exchange"] == spec.data.exchange]
        if rows is None or rows.empty:
            raise ConfigError(f"symbol {symbol} is not in the data catalog; import it first")
        rows = _sources(rows, symbol, tf)
        widths = rows["timeframe"].map(timeframe_minutes) if "timeframe" in rows else 1
        ends = pd.to_datetime(rows["last"]) + pd.to_timedelta(widths, unit="min")
        first, end = pd.Timestamp(rows["first"].min()), pd.Timestamp(ends.max())
        lo, hi = _clip(spec.data.start, first, max), _clip(spec.data.end, end, min)
        minutes = max(0.0, (hi - lo).total_seconds() / 60)
        out[(symbol, tf)] = math.ceil(minutes / timeframe_minutes(tf))
    return out


def estimate_form(form: SweepForm, catalog: pd.DataFrame | None, budget_gb: float) -> FormEstimate:
    """Count and memory estimate shown before launch (``SweepSpec.total_rows``: the grid, or a
    search's budget; ``SweepSpec.estimate_memory_bytes`` over the catalog's bar counts)."""
    try:
        spec = form_to_spec(form)
    except (ConfigError, ThreadXError) as err:
        return FormEstimate(False, 0, 0, "invalid form", str(err))
    count, noun, counted = count_text(spec)
    if catalog is None:
        return FormEstimate(
            False,
            count,
            0,
            f"{counted}; memory: {NO_DATA} (catalog not loaded)",
            "catalog not loaded yet",
            noun,
        )
    try:
        bars = bars_per_dataset(spec, catalog)
    except (ConfigError, ThreadXError) as err:
        return FormEstimate(False, count, 0, counted, str(err), noun)
    mem = spec.estimate_memory_bytes(bars)
    over = mem > budget_gb * 2**30
    text = (
        f"{counted} x up to {max(bars.values(), default=0):,} bars; "
        f"est. peak memory {fmt_bytes(mem)} (budget {budget_gb:g} GiB)"
    )
    if over:
        return FormEstimate(False, count, mem, text, "estimated memory is above the budget", noun)
    return FormEstimate(True, count, mem, text, noun=noun)
