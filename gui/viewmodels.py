"""Pure view models of the desktop client: table rows, heatmap matrices, progress text, decimation.

Nothing here imports DearPyGui or Ray; every function takes plain data (the typed answers of the
client: :mod:`threadx.sweep.states`, :mod:`threadx.sweep.shapes`; dicts, small DataFrames) and
returns frozen dataclasses of tuples, so the background thread can build them and hand them to the
render loop as immutable snapshots, and tests can check them without a display. The shaping of
whole result frames (ranking, heatmap matrix, Pareto front) happens in the library, on the
driver's side. Empty inputs give empty models whose text says ``"no data"``: nothing is invented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

import pandas as pd

from threadx.data.resample import timeframe_minutes
from threadx.sweep.progress import eta_text, format_duration
from threadx.sweep.shapes import NO_DATA, Heatmap, Ranking, plain
from threadx.sweep.states import ClusterInfo, RunState, RunStatus

__all__ = ["NO_DATA", "plain"]  # re-exported: every GUI module takes them from here
#: Headline metrics shown in the results table after the ranked ones.
HEADLINE_METRICS = (
    "sharpe",
    "total_return",
    "max_drawdown",
    "n_trades",
    "win_rate",
    "profit_factor",
)


# ------------------------------------------------------------------------------------ values


def fmt_value(value: Any) -> str:
    """Table text of one value: integers in full, floats with 6 significant digits."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.6g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def fmt_bytes(n: float | None) -> str:
    """``1.5 GiB``-style text."""
    if n is None or not math.isfinite(n):
        return NO_DATA
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - loop always returns


def fmt_rate(bar_steps_per_s: float | None) -> str:
    """Throughput text, e.g. ``"12.3 M bar-steps/s"``."""
    if bar_steps_per_s is None or not math.isfinite(bar_steps_per_s) or bar_steps_per_s <= 0:
        return "-- bar-steps/s"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if bar_steps_per_s >= scale:
            return f"{bar_steps_per_s / scale:.3g} {unit} bar-steps/s"
    return f"{bar_steps_per_s:.3g} bar-steps/s"


# ------------------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class TableModel:
    """Rows of a table as raw plain values (``rows``) and their text (``text``).

    ``keys`` identifies each row (the combination id for result tables, else the row number).
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    keys: tuple[Any, ...]

    @property
    def text(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(fmt_value(v) for v in row) for row in self.rows)

    @property
    def empty(self) -> bool:
        return not self.rows

    def column(self, name: str) -> tuple[Any, ...]:
        i = self.columns.index(name)
        return tuple(r[i] for r in self.rows)


EMPTY_TABLE = TableModel((), (), ())


class Keyed(Protocol):
    """One item of a :class:`Detailed` model (a dataset or group), named by ``key``."""

    @property
    def key(self) -> str: ...


D = TypeVar("D", bound=Keyed)


class Detailed(Generic[D]):
    """A model whose ``detail`` holds one item per key (a combo of the view chooses one)."""

    detail: tuple[D, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(d.key for d in self.detail)

    def pick(self, key: str | None) -> D | None:
        """The item named ``key``, else the first one (None when there is none)."""
        for d in self.detail:
            if d.key == key:
                return d
        return self.detail[0] if self.detail else None


def table_model(
    frame: pd.DataFrame | None, columns: Sequence[str], key: str | None = None
) -> TableModel:
    """The ``columns`` of ``frame`` present in it, in order; ``key`` column names the rows."""
    if frame is None or frame.empty:
        return TableModel(tuple(columns), (), ())
    cols = tuple(c for c in columns if c in frame.columns)
    rows = tuple(tuple(plain(v) for v in rec) for rec in frame[list(cols)].itertuples(index=False))
    keys = (
        tuple(plain(v) for v in frame[key])
        if key and key in frame.columns
        else tuple(range(len(rows)))
    )
    return TableModel(cols, rows, keys)


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before text, NaN/None last, so mixed columns sort without errors."""
    value = plain(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, 0)
    if isinstance(value, bool | int | float):
        return (0, float(value))
    return (1, str(value))


def sort_table(model: TableModel, column: str, ascending: bool = True) -> TableModel:
    """Rows ordered by ``column`` (stable: ties keep their order; NaN last either way)."""
    if model.empty or column not in model.columns:
        return model
    i = model.columns.index(column)
    order = list(range(len(model.rows)))
    present = [j for j in order if _sort_key(model.rows[j][i])[0] < 2]
    missing = [j for j in order if _sort_key(model.rows[j][i])[0] == 2]
    # reverse=True keeps equal keys in their original order (Python's sort is stable both ways)
    present.sort(key=lambda j: _sort_key(model.rows[j][i]), reverse=not ascending)
    order = present + missing
    return TableModel(
        model.columns, tuple(model.rows[j] for j in order), tuple(model.keys[j] for j in order)
    )


def filter_table(model: TableModel, text: str) -> TableModel:
    """The rows whose shown text contains ``text`` in some column (case-insensitive; blank
    ``text`` keeps every row), in their order, with their keys."""
    needle = text.strip().casefold()
    if not needle or model.empty:
        return model
    keep = [i for i, row in enumerate(model.text) if any(needle in c.casefold() for c in row)]
    return TableModel(
        model.columns, tuple(model.rows[i] for i in keep), tuple(model.keys[i] for i in keep)
    )


def result_columns(swept: Sequence[str], rank_by: Sequence[str]) -> list[str]:
    """Results-table columns: rank, ids, swept parameters, ranked then headline metrics."""
    ranked = [k.lstrip("+-") for k in rank_by]
    metrics = list(dict.fromkeys([*ranked, *HEADLINE_METRICS]))
    return ["rank", "combo_id", "symbol", "timeframe", *swept, *metrics]


#: The Results view's "rank by" choices: (label, ``[rank] aggregate`` value).
RANK_MODES = (
    ("per dataset", "none"),
    ("median across datasets", "median"),
    ("worst across datasets", "worst"),
)


def rank_mode_label(mode: str) -> str:
    return dict((m, lab) for lab, m in RANK_MODES).get(mode, RANK_MODES[0][0])


def rank_mode_of(label: str) -> str:
    return dict(RANK_MODES).get(label, "none")


@dataclass(frozen=True)
class RankingModel:
    """The ranked top-K table of a run in one "rank by" mode, and a line saying what it is."""

    mode: str
    table: TableModel
    note: str


def ranking_model(r: Ranking, swept: Sequence[str]) -> RankingModel:
    """The table and note of the driver's :class:`~threadx.sweep.shapes.Ranking` (per dataset
    row for ``mode="none"``, else per parameter combination across datasets)."""
    by = list(r.by)
    if r.empty:
        return RankingModel(r.mode, table_model(None, result_columns(swept, by)), NO_DATA)
    ranked = r.rows
    if r.mode == "none":
        cols = result_columns(swept, by)
        if "fold" in ranked.columns:  # walk-forward: each row belongs to one fold's train window
            cols.insert(cols.index("timeframe") + 1, "fold")
        return RankingModel(
            r.mode,
            table_model(ranked, cols, key="combo_id"),
            f"top {len(ranked)} by {', '.join(by)}, each dataset's rows on their own",
        )
    word = "median" if r.mode == "median" else "worst case"
    note = (
        f"top {len(ranked)} of {r.n_ranked:,} combinations by the {word} of "
        f"{', '.join(by)} across {r.n_datasets} dataset(s)"
    )
    if r.partial_excluded:
        note += f"; {r.partial_excluded:,} not on every dataset yet, left out"
    ranked_names = list(dict.fromkeys(k.lstrip("+-") for k in by))
    per = [c for c in ranked.columns if "@" in str(c)]
    cols = ["rank", "combo_id", *swept, "n_datasets", *ranked_names, *per]
    return RankingModel(r.mode, table_model(ranked, cols, key="combo_id"), note)


# ------------------------------------------------------------------------------------ heatmap


@dataclass(frozen=True)
class HeatmapModel(Heatmap):
    """The driver's :class:`~threadx.sweep.shapes.Heatmap` (a metric over one or two swept
    dimensions, the others held at the best row's values; cells without a result yet are NaN)
    and the ``note`` that states on the chart what it holds."""

    note: str = ""

    @property
    def x_labels(self) -> tuple[str, ...]:
        return tuple(fmt_value(v) for v in self.x_values)

    @property
    def y_labels(self) -> tuple[str, ...]:
        return tuple(fmt_value(v) for v in self.y_values)

    def flat(self) -> list[float]:
        """Row-major values, first row first (DearPyGui's heat series order)."""
        return [v for row in self.values for v in row]

    def finite_range(self) -> tuple[float, float] | None:
        vals = [v for v in self.flat() if math.isfinite(v)]
        return (min(vals), max(vals)) if vals else None


def heatmap_model(h: Heatmap) -> HeatmapModel:
    """The chart model of the driver's :class:`~threadx.sweep.shapes.Heatmap`, with the note
    that says what the chart holds (the other dimensions at the best row's values)."""
    if h.kind == "empty":
        note = h.reason
    else:
        word = "min" if h.lower else "max"
        held = ", ".join(f"{d}={fmt_value(v)}" for d, v in h.fixed) or "none"
        note = (
            f"{h.metric} ({word} is best) over {h.x_param}"
            + (f" x {h.y_param}" if h.y_param else "")
            + f"; others at the best {h.metric}: {held}"
        )
    return HeatmapModel(**{f.name: getattr(h, f.name) for f in fields(h)}, note=note)


# ------------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class ProgressModel:
    """Everything the progress panel shows for one status of a run."""

    run_id: str
    state: str
    fraction: float
    done_text: str
    rate_text: str
    eta_text: str
    shares: tuple[tuple[str, int, float], ...]
    errors: tuple[str, ...]
    retries: int
    search_text: str = ""  # a search's method and best so far ("" for a grid)

    @property
    def active(self) -> bool:
        return self.state in (RunState.QUEUED, RunState.RUNNING, RunState.PAUSED)


def run_eta_text(
    state: str, elapsed_s: float | None, fraction: float, eta_s: float | None = None
) -> str:
    """ETA text for a run in ``state`` (reuses :func:`threadx.sweep.progress.eta_text`)."""
    elapsed = elapsed_s if elapsed_s is not None and math.isfinite(elapsed_s) else 0.0
    if state == RunState.QUEUED:
        return "queued: waiting for the run ahead"
    if state == RunState.PAUSED:
        return f"paused at {fraction:.1%}"
    if state in (RunState.CANCELLED, RunState.FAILED, RunState.INTERRUPTED):
        return f"{state} at {fraction:.1%} after {format_duration(elapsed)}"
    if state == RunState.COMPLETED:
        return eta_text(elapsed, 1.0)
    if eta_s is not None and math.isfinite(eta_s) and 0 < fraction < 1:
        return f"ETA {format_duration(eta_s)}"
    return eta_text(elapsed, fraction)


def progress_model(status: RunStatus) -> ProgressModel:
    """A :class:`ProgressModel` of one run status; a search's (``status.search``) counts trials
    evaluated / budget and says its best so far."""
    st = status
    state = str(st.state)
    frac = st.fraction
    tasks = f" ({st.done_tasks}/{st.total_tasks} tasks)"
    done, search = f"{st.done:,} / {st.total:,} combinations", ""
    if st.search:
        evaluated = st.done if st.evaluated is None else st.evaluated
        done = f"{evaluated:,} / {st.budget or st.total:,} trials evaluated"
        b = st.best
        best = f"{b['metric']} {fmt_value(b['value'])}" if b and b.get("value") is not None else ""
        search = f"search: {st.search}; best so far: {best or NO_DATA}"
    rows = tuple(
        (str(d), int(st.per_device.get(d, 0)), float(st.shares.get(d, 0.0)))
        for d in sorted(st.per_device)
    )
    return ProgressModel(
        run_id=st.run_id,
        state=state,
        fraction=min(max(frac, 0.0), 1.0),
        done_text=done + tasks,
        rate_text=fmt_rate(st.bar_steps_per_s),
        eta_text=run_eta_text(state, st.elapsed_s, frac, st.eta_s),
        shares=rows,
        errors=tuple(str(e) for e in st.errors),
        retries=st.retries,
        search_text=search,
    )


# ------------------------------------------------------------------------------------ cluster


def _short(node_id: Any) -> str:
    return str(node_id or "")[:8]


def node_rows(info: ClusterInfo) -> TableModel:
    """One row per Ray node: id, address, alive, CPUs, GPUs, ThreadX GPU devices, memory."""
    rows = []
    for n in info.nodes:
        rows.append(
            (
                _short(n.node_id),
                n.address or "",
                n.alive,
                n.resources.get("CPU", 0.0),
                n.resources.get("GPU", 0.0),
                ", ".join(n.gpu_devices) or "none",
                fmt_bytes(n.resources.get("memory")),
            )
        )
    cols = ("node", "address", "alive", "CPUs", "GPUs", "GPU devices", "memory")
    return TableModel(cols, tuple(rows), tuple(range(len(rows))))


def gpu_rows(gpus: Sequence[Any]) -> TableModel:
    """Rows of ``threadx.devices.GpuInfo`` objects: index, name, memory used/total, utilisation."""
    rows = tuple(
        (
            g.index,
            g.name,
            f"{fmt_bytes(g.memory_used)} / {fmt_bytes(g.memory_total)}",
            "n/a" if g.utilization is None else f"{g.utilization:.0f} %",
        )
        for g in gpus
    )
    return TableModel(
        ("index", "name", "memory used / total", "utilisation"), rows, tuple(range(len(rows)))
    )


def worker_rows(
    workers: Sequence[Mapping[str, Any]],
    previous: Mapping[str, int],
    weights: Mapping[str, float | None],
) -> TableModel:
    """Worker slots: id, device, CPUs, GPU share, threads, node, tasks done, device weight, and
    busy/idle (busy = finished a task since the previous poll)."""
    rows = []
    for w in workers:
        wid = str(w.get("worker_id"))
        done = int(w.get("tasks_done") or 0)
        busy = wid in previous and done > previous[wid]
        weight = weights.get(str(w.get("device")))
        rows.append(
            (
                wid,
                str(w.get("device")),
                w.get("num_cpus"),
                w.get("num_gpus"),
                w.get("threads"),
                _short(w.get("node")),
                done,
                "n/a" if weight is None else f"{weight:.2f}",
                "error: " + w["error"] if w.get("error") else ("busy" if busy else "idle"),
            )
        )
    cols = (
        "worker",
        "device",
        "CPUs",
        "GPU share",
        "threads",
        "node",
        "tasks done",
        "weight",
        "state",
    )
    return TableModel(cols, tuple(rows), tuple(r[0] for r in rows))


class _NeedsCalibration(Exception):
    pass


def device_weights(
    labels: Sequence[str], configured: Mapping[str, float]
) -> tuple[dict[str, float | None], str]:
    """Weights the driver will use for ``labels`` (``threadx.devices.resolve_weights``), or None
    per device when they come from a calibration at run start (not knowable beforehand)."""
    from threadx.core.errors import ThreadXError
    from threadx.devices import resolve_weights

    labels = sorted(set(labels))
    if not labels:
        return {}, NO_DATA
    if labels == ["cpu"]:
        return {"cpu": 1.0}, "CPU workers share the work equally"

    def refuse(_label: str) -> float:
        raise _NeedsCalibration

    try:
        w = resolve_weights(labels, dict(configured), refuse)
    except _NeedsCalibration:
        return dict.fromkeys(labels), "weights are calibrated at the start of each run"
    except ThreadXError as err:
        return dict.fromkeys(labels), f"weights: {err}"
    source = "configured (devices.weights)" if configured else "rule (5090/2060 or equal)"
    return dict(w), f"weights {source}"


# ------------------------------------------------------------------------------------ data


def catalog_rows(frame: pd.DataFrame | None) -> TableModel:
    """Catalog: exchange, symbol, first and last bar, span, rows, missing minutes and share,
    files; with the ``timeframe`` and ``source`` columns of ``list_frame(timeframes=True)`` also
    the timeframe of each row (1m, or data imported at a coarser one) and where it came from."""
    if frame is None or frame.empty:
        return TableModel(("exchange", "symbol"), (), ())
    coarse = "timeframe" in frame.columns
    rows = []
    for r, width in zip(frame.itertuples(index=False), _widths(frame), strict=True):
        first, last = pd.Timestamp(r.first), pd.Timestamp(r.last)
        span = format_span((last - first).total_seconds() + 60 * width)
        rows.append(
            (
                r.exchange,
                r.symbol,
                *((r.timeframe,) if coarse else ()),
                fmt_value(first),
                fmt_value(last),
                span,
                int(r.rows),
                int(r.missing_minutes),
                f"{float(r.missing_ratio):.2%}",
                int(r.files),
                *((r.source,) if coarse else ()),
            )
        )
    cols = (
        "exchange",
        "symbol",
        *(("timeframe",) if coarse else ()),
        "first",
        "last",
        "span",
        "rows",
        "missing min",
        "missing",
        "files",
        *(("source",) if coarse else ()),
    )
    return TableModel(cols, tuple(rows), tuple(f"{r[0]}/{r[1]}" for r in rows))


def _widths(frame: pd.DataFrame) -> list[int]:
    """Minutes per bar of each catalog row (1 without a ``timeframe`` column)."""
    if "timeframe" not in frame.columns:
        return [1] * len(frame)
    return [timeframe_minutes(tf) for tf in frame["timeframe"]]


def catalog_spans(frame: pd.DataFrame | None) -> tuple[tuple[str, str, str, str, str], ...]:
    """(exchange, symbol, timeframe, first, last bar start) ISO of every catalog row, as the
    sweep form's estimate reads them (1m rows: timeframe ``1m``; a catalog without a timeframe
    column holds 1m rows only)."""
    if frame is None or frame.empty:
        return ()
    tfs = frame["timeframe"] if "timeframe" in frame.columns else ["1m"] * len(frame)
    return tuple(
        (
            str(r.exchange),
            str(r.symbol),
            str(tf),
            pd.Timestamp(r.first).isoformat(),
            pd.Timestamp(r.last).isoformat(),
        )
        for r, tf in zip(frame.itertuples(index=False), tfs, strict=True)
    )


def format_span(seconds: float) -> str:
    """``"20 d 23 h"`` / ``"5 h 10 min"`` of a duration in seconds."""
    minutes = int(seconds // 60)
    d, rem = divmod(minutes, 1440)
    h, m = divmod(rem, 60)
    if d:
        return f"{d} d {h} h"
    return f"{h} h {m} min" if h else f"{m} min"


def tail_lines(text: str, n: int) -> tuple[str, ...]:
    """The last ``n`` lines of ``text``."""
    lines = text.splitlines()
    return tuple(lines[-n:]) if n > 0 else ()
