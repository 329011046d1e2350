"""Optuna studies of a search run: ask a batch, evaluate it, tell it (``tpe``, ``nsga2``).

One study per dataset (``symbol/timeframe``; a walk-forward fold's train window is a dataset of
its own, ``symbol/timeframe/foldN``, so each fold is searched on its own) in one journal file in
the run folder (``study.journal``, Optuna's ``JournalStorage`` with a file backend), so a resumed
run continues the same studies. The objectives are ``[rank] by``: ``tpe`` optimises the first
metric, ``nsga2`` all of them (``'-name'``: minimised); a non-finite value is told as a failed
trial.

The samplers suggest on the grid's steps (categorical lists, ``suggest_int`` / ``suggest_float``
with the range's step); each suggestion is mapped to its point (the nearest step, so float
rounding never leaves the grid). A point already evaluated, stored or earlier in the batch, is not
evaluated again: the trial is told the stored values (at once, or when its batch is stored). At
most ``2 x batch + 64`` asks are spent on one batch; a sampler that keeps repeating itself gets a
smaller batch (its rows are still numbered from the batch's first combo id).

Resume: the parts are the truth. On opening, the values of every stored row are read back; a
trial left running by an interrupted run is told its stored values when its point was evaluated,
else it is marked failed (its batch is asked again).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from threadx.core.log import get_logger
from threadx.sweep.plan import SweepPlan, Task
from threadx.sweep.results import RunStore
from threadx.sweep.space import Dimension, SearchSpace, point_keys

log = get_logger(__name__)
JOURNAL = "study.journal"


def objectives(spec: Any) -> list[str]:
    """The ranked metrics a study optimises (``'-name'`` kept: minimised)."""
    by = list(spec.rank.by)
    return by if spec.search.method == "nsga2" else by[:1]


def make_sampler(method: str, seed: int, batch: int) -> Any:
    import optuna

    if method == "tpe":
        # constant_liar: trials asked but not told yet (the rest of the batch) count as bad
        # results, so one batch's asks spread out instead of repeating the same proposal
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, batch))
    raise ValueError(f"method {method!r} is not an Optuna sampler (tpe | nsga2)")


class BatchJournal:
    """Optuna's journal backend for one writer: the journal file's lines (JSON logs, the format
    of Optuna's ``JournalFileBackend``), with appended logs held in memory until
    :meth:`flush` writes them with one fsync (once per batch instead of once per log: Optuna's
    file backend fsyncs every ask, parameter and tell). What a kill loses is the unflushed tail;
    :meth:`BatchStudy.study` restores it from the parts. A torn last line (a kill during a
    write) is cut off on opening. A run folder has one writer (its run), so no lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.logs: list[dict[str, Any]] = []
        self.base = 0  # log number of self.logs[0] (older logs were read and flushed)
        self.flushed = 0  # log number up to which the file holds the logs
        self.read_upto = 0
        if self.path.exists():
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                with self.path.open("r+b") as fh:
                    fh.truncate(end)
                log.warning("%s: dropped a torn last line (%d bytes)", path, len(data) - end)
            self.logs = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
            self.flushed = len(self.logs)

    def read_logs(self, log_number_from: int) -> list[dict[str, Any]]:
        self.read_upto = max(self.read_upto, log_number_from)
        return self.logs[log_number_from - self.base :]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        self.logs.extend(logs)

    def flush(self) -> None:
        """Append the new logs to the file (one write, one fsync); drop the logs the storage
        has read and the file holds."""
        end = self.base + len(self.logs)
        if end > self.flushed:
            text = "".join(
                json.dumps(entry, separators=(",", ":")) + "\n"
                for entry in self.logs[self.flushed - self.base :]
            )
            with self.path.open("ab") as fh:
                fh.write(text.encode("utf-8"))
                fh.flush()
                os.fsync(fh.fileno())
            self.flushed = end
        drop = min(self.flushed, self.read_upto) - self.base
        if drop > 0:
            del self.logs[:drop]
            self.base += drop


class BatchStudy:
    """The studies of one run (one per dataset), opened lazily."""

    def __init__(self, plan: SweepPlan, store: RunStore, space: SearchSpace) -> None:
        import optuna
        from optuna.storages import JournalStorage

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
        self.plan, self.store, self.space = plan, store, space
        se = plan.spec.search
        self.method, self.seed, self.batch = se.method, se.seed, se.batch
        self.objectives = objectives(plan.spec)
        self.metrics = [k.lstrip("+-") for k in self.objectives]
        self.directions = ["minimize" if k.startswith("-") else "maximize" for k in self.objectives]
        self.journal = BatchJournal(store.dir / JOURNAL)
        self.storage = JournalStorage(self.journal)
        self.studies: dict[int, Any] = {}
        self.values: dict[int, dict[bytes, tuple[float, ...] | None]] = {}
        self.pending: dict[int, list[tuple[Any, bytes]]] = {}
        self.asks = 0
        self.duplicates = 0

    def study_name(self, di: int) -> str:
        d = self.plan.datasets[di]
        return f"{d.symbol}/{d.timeframe}" + (f"/fold{d.fold}" if d.fold is not None else "")

    def study(self, di: int) -> Any:
        if di not in self.studies:
            import optuna

            self.studies[di] = optuna.create_study(
                storage=self.storage,
                study_name=self.study_name(di),
                sampler=make_sampler(self.method, self.seed, self.batch),
                directions=self.directions,
                load_if_exists=True,
            )
            self.values[di] = self._stored_values(di)
            self._settle_running(di)
        return self.studies[di]

    # -- resume ----------------------------------------------------------------------------
    def _stored_values(self, di: int) -> dict[bytes, tuple[float, ...] | None]:
        out: dict[bytes, tuple[float, ...] | None] = {}
        done = self.store.done_tasks()
        cols = list(dict.fromkeys([*self.space.names, *self.metrics]))
        for task in self.plan.tasks:
            if task.dataset_index == di and task.task_id in done:
                part = pq.read_table(self.store.part_path(task.task_id), columns=cols)
                out.update(self._part_values(part))
        return out

    def _part_values(self, part: pa.Table) -> dict[bytes, tuple[float, ...] | None]:
        keys = point_keys(self.space.codes_of(part))
        vals = np.column_stack(
            [part.column(m).to_numpy(zero_copy_only=False).astype(np.float64) for m in self.metrics]
        ).reshape(len(keys), len(self.metrics))
        return {
            k: tuple(map(float, v)) if np.isfinite(v).all() else None
            for k, v in zip(keys, vals, strict=True)
        }

    def _settle_running(self, di: int) -> None:
        """After an interruption: trials left running are told their stored values, or failed;
        stored points the journal lost (killed before its flush) are added as finished trials."""
        import optuna
        from optuna.trial import TrialState

        study, stored = self.studies[di], self.values[di]
        known: set[bytes] = set()
        settled = 0
        for frozen in study.get_trials(deepcopy=False):
            key = self._key_of_params(frozen.params)
            if frozen.state == TrialState.RUNNING:
                settled += 1
                if key is not None and key in stored:
                    self._tell(study, frozen.number, stored[key])
                else:
                    study.tell(frozen.number, state=TrialState.FAIL)
                    continue
            if key is not None and frozen.state in (TrialState.COMPLETE, TrialState.RUNNING):
                known.add(key)
        lost = [k for k, v in stored.items() if k not in known and v is not None]
        dists = self._distributions()
        for key in lost:
            code = np.frombuffer(key, dtype=np.int32)
            params = {
                d.name: d.values[int(c)]
                for d, c in zip(self.space.dims, code, strict=True)
                if d.name in dists
            }
            values = list(stored[key])
            study.add_trial(
                optuna.trial.create_trial(params=params, distributions=dists, values=values)
            )
        if settled or lost:
            log.info(
                "study %s: %d trial(s) left running settled, %d stored trial(s) added",
                self.study_name(di),
                settled,
                len(lost),
            )
        self.journal.flush()

    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        out: dict[str, Any] = {}
        for d in self.space.dims:
            if d.kind == "categorical":
                out[d.name] = CategoricalDistribution(list(d.values))
            elif d.size > 1 and d.kind == "int":
                out[d.name] = IntDistribution(d.values[0], d.values[-1], step=int(d.step))
            elif d.size > 1:
                out[d.name] = FloatDistribution(d.values[0], d.values[-1], step=float(d.step))
        return out

    # -- ask / tell --------------------------------------------------------------------------
    def ask(self, task: Task) -> np.ndarray:
        """Up to ``task.size`` new points for ``task`` (see the module docstring)."""
        di = task.dataset_index
        study, seen = self.study(di), self.values.setdefault(di, {})
        new: dict[bytes, np.ndarray] = {}
        trials: list[tuple[Any, bytes]] = []
        cap = 2 * task.size + 64
        asks = 0
        while len(new) < task.size and asks < cap:
            trial = study.ask()
            asks += 1
            code = np.array([_suggest(trial, d) for d in self.space.dims], dtype=np.int32)
            key = code.tobytes()
            if key in seen:  # evaluated before: its stored values, no kernel work
                self.duplicates += 1
                self._tell(study, trial, seen[key])
                continue
            if key in new:
                self.duplicates += 1
            new.setdefault(key, code)
            trials.append((trial, key))
        self.asks += asks
        if len(new) < task.size:
            log.info(
                "study %s: %d new point(s) in %d asks for a batch of %d",
                self.study_name(di),
                len(new),
                asks,
                task.size,
            )
        self.pending[task.task_id] = trials
        if not new:
            return np.zeros((0, len(self.space.dims)), dtype=np.int32)
        return np.stack(list(new.values()))

    def tell(self, task: Task, part: pa.Table) -> None:
        """Tell the trials of ``task`` the values of its stored part."""
        di = task.dataset_index
        study, seen = self.study(di), self.values[di]
        if part.num_rows:
            cols = list(dict.fromkeys([*self.space.names, *self.metrics]))
            seen.update(self._part_values(part.select(cols)))
        for trial, key in self.pending.pop(task.task_id, []):
            self._tell(study, trial, seen[key])
        self.journal.flush()  # after the part: the journal never runs ahead of the results

    def _tell(self, study: Any, trial: Any, values: tuple[float, ...] | None) -> None:
        from optuna.trial import TrialState

        if values is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, list(values) if len(values) > 1 else values[0])

    def _key_of_params(self, params: dict[str, Any]) -> bytes | None:
        try:
            code = [
                d.code_of(params[d.name] if d.size > 1 else d.values[0]) for d in self.space.dims
            ]
        except (KeyError, ValueError):
            return None
        return np.array(code, dtype=np.int32).tobytes()


def _suggest(trial: Any, d: Dimension) -> int:
    """Ask ``trial`` for dimension ``d`` on its steps; the code of the suggested value."""
    if d.kind == "categorical":
        return d.values.index(trial.suggest_categorical(d.name, list(d.values)))
    lo, hi = d.values[0], d.values[-1]
    if d.kind == "int":
        v = trial.suggest_int(d.name, lo, hi, step=int(d.step)) if d.size > 1 else lo
    else:
        v = trial.suggest_float(d.name, lo, hi, step=float(d.step)) if d.size > 1 else lo
    return d.code_of(v)
