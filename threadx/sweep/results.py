"""The run store, append-only: ``{data_root}/runs/{run_id}/``.

* ``spec.toml`` — the sweep spec as submitted;
* ``manifest.json`` — status, data fingerprints, timings, throughput, device shares, versions;
* ``results/part-{task:06d}.parquet`` — one part per finished chunk (task), written atomically.

Nothing is rewritten except a retried task's own part (same name, atomic replace), so a crash loses
at most the chunks in flight and a resumed run skips the tasks already present. Ranking, top-K,
the Pareto front and exports read the parts.

A search with successive halving (:mod:`threadx.sweep.halving`) stores one row per (trial,
stage) with a ``stage`` column; :func:`results_frame` (so :meth:`RunStore.load`) keeps the
full-length rows only (:func:`full_length`), the one place where they are chosen, and notes the
trials evaluated at any stage in ``frame.attrs["trials"]`` (the overfitting report's number of
tried strategies) and per (symbol, timeframe, fold) in ``frame.attrs["group_trials"]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from threadx.core.errors import StoreError
from threadx.core.io import (
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    fsync_folder,
    remove_stray_temps,
)
from threadx.core.utc import now_iso
from threadx.strategy.metrics import METRIC_NAMES
from threadx.strategy.params import PARAM_NAMES
from threadx.sweep.halving import STAGE_COLUMN as STAGE
from threadx.sweep.states import RunState

ID_COLUMNS = ("combo_id", "task_id", "symbol", "timeframe", "device")
# columns with few distinct values in a part: dictionary-encoded in Parquet
_FEW_VALUED = frozenset(("task_id", "symbol", "timeframe", "device", "fold", STAGE, *PARAM_NAMES))


class RunStore:
    """One run folder. All methods are safe to call from a restarted process."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.results_dir = self.dir / "results"

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    @property
    def spec_path(self) -> Path:
        return self.dir / "spec.toml"

    def create(self, spec_toml: str, manifest: dict[str, Any]) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        remove_stray_temps(self.dir)
        if not self.spec_path.exists():
            atomic_write_text(self.spec_path, spec_toml)
        self.write_manifest(manifest)

    def exists(self) -> bool:
        return self.manifest_path.exists()

    def read_manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{self.dir}: not a run folder (no manifest.json)") from None
        except json.JSONDecodeError as err:
            raise StoreError(f"{self.manifest_path}: corrupt manifest ({err})") from None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        if manifest.get("status") == RunState.COMPLETED and self.results_dir.exists():
            fsync_folder(self.results_dir)  # the parts' names, before the run says completed
        manifest = {**manifest, "updated": now_iso()}
        atomic_write_json(self.manifest_path, manifest)  # the JSON policy: threadx.core.jsonio

    def update_manifest(self, **changes: Any) -> dict[str, Any]:
        m = self.read_manifest()
        m.update(changes)
        self.write_manifest(m)
        return m

    # -- parts -------------------------------------------------------------------------------
    def part_path(self, task_id: int) -> Path:
        return self.results_dir / f"part-{int(task_id):06d}.parquet"

    def write_part(self, task_id: int, part: pa.Table | pd.DataFrame) -> Path:
        """Write one task's part atomically (an Arrow table; a frame is converted). Dictionary
        encoding only for the few-valued columns (ids, parameters): tried on every float
        metric it costs more than the rest of the write and saves nothing. No column
        statistics (min/max per column: nothing reads them; 17 % of the write)."""
        table = (
            part if isinstance(part, pa.Table) else pa.Table.from_pandas(part, preserve_index=False)
        )
        dictionary = [c for c in table.column_names if c in _FEW_VALUED]

        def _validate(tmp: Path) -> None:
            if pq.read_metadata(tmp).num_rows != table.num_rows:
                raise StoreError(f"part {task_id}: row count mismatch after write")

        return atomic_write(
            self.part_path(task_id),
            lambda tmp: pq.write_table(
                table,
                tmp,
                compression="snappy",
                use_dictionary=dictionary,
                write_statistics=False,
            ),
            _validate,
            # each part's bytes are fsynced before its rename; the folder is fsynced once,
            # before the manifest says "completed". A power loss in between can lose a part's
            # name (the task runs again on resume), never leave a torn part.
            sync_folder=False,
        )

    def done_tasks(self) -> set[int]:
        """Task ids with a complete, readable part on disk (a corrupt part counts as not done)."""
        done = set()
        if not self.results_dir.exists():
            return done
        for p in self.results_dir.glob("part-*.parquet"):
            try:
                pq.read_metadata(p)
            except (pa.ArrowInvalid, OSError):
                continue
            done.add(int(p.stem.split("-")[1]))
        return done

    def clear_results(self) -> None:
        if self.results_dir.exists():
            for p in self.results_dir.glob("part-*.parquet"):
                p.unlink()

    def load(
        self, tasks: Iterable[int] | None = None, *, every_stage: bool = False
    ) -> pd.DataFrame:
        """All result rows (one per combination; a halving search's full-length rows, or with
        ``every_stage`` its row of every stage), sorted by combo_id: the parts read as one
        Arrow table (threads over the files) and converted to pandas once."""
        ids = sorted(self.done_tasks() if tasks is None else tasks)
        if not ids:
            return _empty_results()
        parts = [pq.read_table(self.part_path(t)) for t in ids]
        return results_frame(parts, every_stage=every_stage)


def full_length(part: pa.Table | pd.DataFrame) -> pa.Table | pd.DataFrame:
    """The rows of a part evaluated on all of their dataset's bars: a halving search's last
    stage (a batch runs all its stages in one task, so its part holds them all); every row of a
    part without a ``stage`` column."""
    if STAGE not in _names(part):
        return part
    if isinstance(part, pd.DataFrame):
        stage = part[STAGE].to_numpy()
        return part[stage == stage.max()] if len(stage) else part
    stage = part.column(STAGE).to_numpy()
    return part.filter(pa.array(stage == stage.max())) if len(stage) else part


def trial_count(part: pa.Table | pd.DataFrame) -> int:
    """Trials a part evaluated (at any stage): its distinct combo ids, or its rows."""
    if STAGE not in _names(part):
        return len(part)
    ids = part["combo_id"] if isinstance(part, pd.DataFrame) else part.column("combo_id")
    return len(np.unique(np.asarray(ids)))


def _names(part: pa.Table | pd.DataFrame) -> list[str]:
    return list(part.columns) if isinstance(part, pd.DataFrame) else part.schema.names


def results_frame(parts: Sequence[pa.Table], *, every_stage: bool = False) -> pd.DataFrame:
    """Parts (Arrow tables, as written or as computed) as one frame sorted by combo_id (a
    halving search's full-length rows only, unless ``every_stage``): one concatenation, one
    conversion to pandas; a sort only when the parts were out of order. A halving search's
    frame notes its trials evaluated at any stage in ``attrs["trials"]``."""
    staged = any(STAGE in _names(p) for p in parts)
    tables = parts if every_stage or not staged else [full_length(p) for p in parts]
    frame = pa.concat_tables(tables, promote_options="default").to_pandas()
    keys = ["combo_id", STAGE] if every_stage and staged else ["combo_id"]
    if not _ascending(frame, keys):
        frame = frame.sort_values(keys, kind="mergesort", ignore_index=True)
    if staged:
        frame.attrs["trials"] = sum(trial_count(p) for p in parts)
        frame.attrs["group_trials"] = group_trials(parts)
    return frame


def group_trials(parts: Iterable[pa.Table]) -> dict[tuple[str, str, int | None], int]:
    """Trials evaluated (at any stage) per (symbol, timeframe, walk-forward fold or None) of
    the parts: the overfitting report's key of a group."""
    out: dict[tuple[str, str, int | None], int] = {}
    for p in parts:
        if not p.num_rows or not {"symbol", "timeframe"} <= set(p.schema.names):
            continue
        cols = ["symbol", "timeframe", *(["fold"] if "fold" in p.schema.names else [])]
        ids = (
            p.select([*cols, "combo_id"]).group_by(cols).aggregate([("combo_id", "count_distinct")])
        )
        for row in ids.to_pylist():
            fold = row.get("fold")
            key = (str(row["symbol"]), str(row["timeframe"]), None if fold is None else int(fold))
            out[key] = out.get(key, 0) + int(row["combo_id_count_distinct"])
    return out


def trials_started(frame: pd.DataFrame, key: tuple[str, str, int | None], rows: int) -> int:
    """The trials evaluated for group ``key`` (symbol, timeframe, fold or None) of a results
    ``frame`` whose group holds ``rows`` rows: under successive halving every trial started at
    any stage (``attrs["group_trials"]``), else its rows (one per trial)."""
    return int((frame.attrs.get("group_trials") or {}).get(key, rows))


def _ascending(frame: pd.DataFrame, keys: list[str]) -> bool:
    """Rows strictly ascending by ``keys`` (combo_id, then stage)."""
    if len(frame) < 2:
        return True
    a = frame[keys[0]].to_numpy()
    if len(keys) == 1:
        return bool((a[1:] > a[:-1]).all())
    b = frame[keys[1]].to_numpy()
    return bool(((a[1:] > a[:-1]) | ((a[1:] == a[:-1]) & (b[1:] > b[:-1]))).all())


def _empty_results() -> pd.DataFrame:
    return pd.DataFrame({c: [] for c in (*ID_COLUMNS, *PARAM_NAMES, *METRIC_NAMES)})


# -- ranking ----------------------------------------------------------------------------------
def rank(frame: pd.DataFrame, by: list[str], limit: int | None = None) -> pd.DataFrame:
    """Sort best first by several metrics ('-name' = lower is better); ties are broken by symbol,
    timeframe, then the parameters in STRATEGY.md order, then combo_id — deterministic.

    ``limit`` keeps the best ``limit`` rows only, without sorting the rest: the candidates are
    the rows whose first metric is at least as good as the ``limit``-th best value (ties and NaN
    included as the full sort would order them), and only they are sorted."""
    keys, asc = _sort_keys(by)
    if limit is not None and len(frame) > 4 * max(limit, 1):
        frame = frame.iloc[_top_candidates(frame[keys[0]].to_numpy(), limit, asc[0])]
    out = _sort_with_ties(frame, keys, asc, ("symbol", "timeframe", *PARAM_NAMES, "combo_id"))
    if limit is not None:
        out = out.head(limit)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _sort_keys(by: Iterable[str]) -> tuple[list[str], list[bool]]:
    """The column names of sort keys and whether each sorts ascending ('-name' = lower is
    better)."""
    by = list(by)
    return [key.lstrip("+-") for key in by], [key.startswith("-") for key in by]


def _sort_with_ties(
    frame: pd.DataFrame, keys: list[str], ascending: list[bool], ties: Iterable[str]
) -> pd.DataFrame:
    """``frame`` sorted by ``keys``, then by the ``ties`` columns it has (ascending): stable, NaN
    last, a fresh index."""
    ties = [c for c in ties if c in frame.columns]
    return frame.sort_values(
        keys + ties,
        ascending=ascending + [True] * len(ties),
        kind="mergesort",
        na_position="last",
        ignore_index=True,
    )


def _top_candidates(values: np.ndarray, limit: int, ascending: bool) -> np.ndarray:
    """Positions (in order) of the rows that can be among the best ``limit`` by ``values``: all
    rows at least as good as the ``limit``-th best (NaN sorts last: when fewer than ``limit``
    values are defined, every NaN row is a candidate too)."""
    v = np.asarray(values, dtype=np.float64)
    key = v if ascending else -v
    defined = ~np.isnan(key)
    n_def = int(defined.sum())
    if n_def <= limit:
        return np.arange(len(v))  # NaN rows are needed to fill the top
    kth = np.partition(key[defined], limit - 1)[limit - 1]
    return np.flatnonzero(defined & (key <= kth))


AGGREGATES = ("median", "worst")


def rank_results(
    frame: pd.DataFrame,
    by: list[str],
    aggregate: str = "none",
    datasets: list[tuple[str, str]] | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """:func:`rank` for ``aggregate == "none"``, else :func:`rank_aggregate` (what ``[rank]``
    asks for); ``limit``: the best rows only."""
    if aggregate == "none":
        return rank(frame, by, limit)
    out = rank_aggregate(frame, by, aggregate, datasets=datasets)
    return out if limit is None else out.head(limit)


def rank_aggregate(
    frame: pd.DataFrame,
    by: list[str],
    how: str,
    *,
    datasets: list[tuple[str, str]] | None = None,
    partial: str = "exclude",
) -> pd.DataFrame:
    """Rank parameter combinations by an aggregate of their metrics across datasets.

    Rows are grouped by the strategy parameters (:data:`PARAM_NAMES`) across (symbol, timeframe).
    Each metric of ``by`` becomes, under its own name, its median (``how="median"``) or its worst
    case (``how="worst"``: the minimum, or the maximum for ``'-name'``) over the datasets; a NaN on
    any dataset makes the aggregate NaN (ranked last). Ranking is by those columns in order, ties
    broken by the parameters in STRATEGY.md order, then ``combo_id`` — deterministic.

    Columns: ``rank, aggregate, combo_id`` (the combination's smallest id, i.e. its row on the
    first dataset it has), every parameter, ``n_datasets`` (datasets the combination has a row
    on), the aggregated metrics, then ``<first metric>@<symbol>/<timeframe>`` per dataset.

    ``datasets`` (the spec's (symbol, timeframe) pairs) fixes the column order and makes a dataset
    with no row at all count as missing; default: the datasets in ``frame``, in order. A
    combination missing on some dataset (a partial run) is left out (``partial="exclude"``, the
    number left out is in ``out.attrs["partial_excluded"]``), or kept with ``complete = False``,
    aggregated over the datasets it has and ranked after every complete one
    (``partial="flag"``). A combination twice on one dataset is an error.
    """
    if how not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(AGGREGATES)}, got {how!r}")
    if partial not in ("exclude", "flag"):
        raise ValueError(f"partial must be 'exclude' or 'flag', got {partial!r}")
    names = list(dict.fromkeys(k.lstrip("+-") for k in by))
    labels, gid, did = _aggregate_ids(frame, datasets)
    n_groups = int(gid.max()) + 1 if len(gid) else 0
    present = np.zeros((n_groups, len(labels)), dtype=bool)
    present[gid, did] = True
    cols: dict[str, Any] = {"rank": 0, "aggregate": how}
    combo = frame["combo_id"].to_numpy() if "combo_id" in frame.columns else np.arange(len(frame))
    cols["combo_id"] = pd.Series(combo).groupby(gid).min().to_numpy()
    first = np.unique(gid, return_index=True)[1]
    for c in PARAM_NAMES:
        if c in frame.columns:
            cols[c] = frame[c].to_numpy()[first]
    cols["n_datasets"] = present.sum(axis=1)
    cols["complete"] = cols["n_datasets"] == len(labels)
    per_dataset: dict[str, np.ndarray] = {}
    for key in dict.fromkeys(by):
        name = key.lstrip("+-")
        if name in cols:
            continue
        wide = np.full((n_groups, len(labels)), np.nan)
        wide[gid, did] = frame[name].to_numpy(dtype=np.float64)
        cols[name] = _aggregate_rows(wide, present, how, lower=key.startswith("-"))
        if name == names[0]:
            per_dataset = {f"{name}@{lab}": wide[:, j] for j, lab in enumerate(labels)}
    out = pd.DataFrame({**cols, **per_dataset}, index=pd.RangeIndex(n_groups))
    excluded = int((~out["complete"]).sum())
    if partial == "exclude":
        out = out[out["complete"]].drop(columns="complete")
    out = _sort_aggregate(out, by)
    out.attrs["partial_excluded"] = excluded if partial == "exclude" else 0
    return out


def _aggregate_ids(
    frame: pd.DataFrame, datasets: list[tuple[str, str]] | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Dataset labels ``symbol/timeframe``, and per row its combination's group and dataset."""
    if not {"symbol", "timeframe"} <= set(frame.columns):
        raise ValueError("rank_aggregate needs the 'symbol' and 'timeframe' columns")
    row_labels = frame["symbol"].astype(str) + "/" + frame["timeframe"].astype(str)
    labels = (
        [f"{s}/{t}" for s, t in datasets]
        if datasets is not None
        else [str(v) for v in pd.unique(row_labels)]
    )
    known = row_labels.isin(labels).to_numpy()
    if not known.all():
        extra = sorted(set(row_labels[~known]))
        raise ValueError(f"rows of dataset(s) {extra} not among the datasets {labels}")
    did = pd.Categorical(row_labels, categories=labels).codes.astype(np.int64)
    keys = [c for c in PARAM_NAMES if c in frame.columns and frame[c].nunique(dropna=False) > 1]
    if keys:
        gid = frame.groupby(keys, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)
    else:
        gid = np.zeros(len(frame), dtype=np.int64)
    pair = gid * max(len(labels), 1) + did
    if len(np.unique(pair)) != len(pair):
        dup = pd.Series(pair).duplicated().to_numpy().argmax()
        raise ValueError(
            f"combination of row {dup} (combo_id "
            f"{frame['combo_id'].iloc[dup] if 'combo_id' in frame else dup}) appears "
            f"more than once on dataset {row_labels.iloc[dup]}"
        )
    return labels, gid, did


def _aggregate_rows(wide: np.ndarray, present: np.ndarray, how: str, lower: bool) -> np.ndarray:
    """Median or worst value of each row over its present cells; NaN if one of them is NaN."""
    import warnings

    out = np.full(len(wide), np.nan)
    has_nan = (present & np.isnan(wide)).any(axis=1)
    ok = ~has_nan & present.any(axis=1)
    if not ok.any():
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how == "median":
            out[ok] = np.nanmedian(wide[ok], axis=1)
        else:
            out[ok] = np.nanmax(wide[ok], axis=1) if lower else np.nanmin(wide[ok], axis=1)
    return out


def _sort_aggregate(out: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    keys, asc = _sort_keys(dict.fromkeys(by))
    if "complete" in out.columns:  # the complete combinations first
        keys, asc = ["complete", *keys], [False, *asc]
    out = _sort_with_ties(out, keys, asc, (*PARAM_NAMES, "combo_id"))
    out["rank"] = np.arange(1, len(out) + 1)
    return out


def pareto_front(
    frame: pd.DataFrame, maximize: str = "sharpe", minimize: str = "max_drawdown"
) -> pd.DataFrame:
    """Rows not dominated in (max ``maximize``, min ``minimize``), best ``maximize`` first.
    Among identical points the first by combo_id is kept."""
    if frame.empty:
        return frame.copy()
    order = frame.sort_values(
        [maximize, minimize, "combo_id"], ascending=[False, True, True], kind="mergesort"
    )
    keep, best = [], np.inf
    for idx, v in zip(order.index, order[minimize].to_numpy(), strict=True):
        if v < best:
            keep.append(idx)
            best = v
    return order.loc[keep].reset_index(drop=True)


def hypervolume(
    frame: pd.DataFrame,
    reference: tuple[float, float],
    maximize: str = "sharpe",
    minimize: str = "max_drawdown",
) -> float:
    """The area dominated by ``frame``'s rows in (max ``maximize``, min ``minimize``) and bounded
    by ``reference`` = (worst ``maximize``, worst ``minimize``): the quality of a Pareto front in
    one number (two fronts compare on the same reference). Rows not better than the reference
    in both count nothing."""
    front = pareto_front(frame, maximize, minimize)
    a = front[maximize].to_numpy(dtype=np.float64)
    b = front[minimize].to_numpy(dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a > reference[0]) & (b < reference[1])
    a, b = a[ok], b[ok]  # best `maximize` first, `minimize` falling
    upper = np.r_[reference[1], b[:-1]]
    return float(np.sum((a - reference[0]) * (upper - b)))


def export(
    frame: pd.DataFrame, path: Path, spec_toml: str, report: dict[str, Any] | None = None
) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), the spec beside it (``<name>.spec.toml``)
    and, when given, the run's overfitting report (``<name>.report.json``)."""
    path = Path(path)
    if path.suffix == ".csv":
        atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    elif path.suffix == ".parquet":
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd"))
    else:
        raise StoreError(f"export {path}: use a .csv or .parquet file name")
    atomic_write_text(path.with_suffix(".spec.toml"), spec_toml)
    if report is not None:
        atomic_write_json(path.with_suffix(".report.json"), report)
    return path
