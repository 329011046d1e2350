"""Optuna studies of a search run: ask a batch, evaluate it, tell it (``tpe``, ``nsga2``).

Two studies per dataset (``symbol/timeframe``; a walk-forward fold's train window is a dataset of
its own, ``symbol/timeframe/foldN``, so each fold is searched on its own). The objectives are
``[rank] by``: ``tpe`` optimises the first metric, ``nsga2`` all of them (``'-name'``:
minimised); a non-finite value is told as a failed trial.

* the **record**: every trial the sampler asked for, in one journal file in the run folder
  (``study.journal``, Optuna's ``JournalStorage``; :class:`BatchJournal` writes it once per
  batch asked and once per batch told), so a resumed run continues where it stopped. A trial
  is recorded running when its batch is asked and told its stored values once its part is
  stored (a non-finite value: failed; a point the evaluation dropped, e.g. by successive
  halving: pruned). A repeated suggestion is a trial too, told the stored values: the sampler
  learns that its proposal was spent (without them TPE proposes the same points over and
  over: 723 repeats in 908 asks for 200 trials of a 1,134-point space, against 173 in 373).
* the **window**: an in-memory study built for each batch from a bounded selection of the
  record, which the sampler asks. Optuna's samplers walk every trial of their study on every
  ask (measured on this machine, 12 parameters: TPE 14.5 ms per ask at 1,000 trials, 32 ms at
  3,000, 95 ms at 10,000; NSGA-II with a population of 1,000 from 1 ms at 1,000 trials to
  10 ms at 20,000), so a study of everything gets slower with every batch. The window keeps
  the cost per ask flat:

  - ``tpe``: the best :data:`TPE_BEST` trials and the latest :data:`TPE_RECENT`. TPE splits
    its trials into the best ``min(ceil(0.1 n), 25)`` and the rest; the best ones are always
    in the window, only the model of "the rest" is fitted on a sample. An ask costs in
    proportion to the window plus the batch's trials asked so far (``constant_liar``: they count
    as bad results): the union holds 750-1,000 trials (fewer while the best are recent), so the
    cost per ask rises by about a third over a long run (17.5 -> 22.5 ms measured, 9,000
    trials of a 12-parameter space, then flat) and within a batch (15 -> 20 ms over 512 asks).
  - ``nsga2``: what NSGA-II's next generation depends on, exactly: the last generation and
    its parents. The record's trials carry their generation, the record's study attributes
    each generation's parents; in the window the parents are generation 0 and the last
    generation 1, so Optuna selects the next parents from both (elitist NSGA-II) as it would
    on the whole study.

  Each batch's sampler is seeded by ``(seed, task)``: a batch asked again after an
  interruption, or by another process (the Ray driver), gets the same points.

The samplers suggest on the grid's steps (categorical lists, ``suggest_int`` / ``suggest_float``
with the range's step); each suggestion is mapped to its point (the nearest step, so float
rounding never leaves the grid). A point already evaluated is not evaluated again: its trial
is told the stored values. At most :data:`ASKS_PER_TRIAL` ``x batch + 64`` asks are spent on
one batch (tpe 2, its asks are costly; nsga2 8: a converged population repeats itself, and its
asks are cheap); a sampler that keeps repeating itself gets a smaller batch (its rows are still
numbered from the batch's first combo id).

Resume: the parts are the truth. On opening, the values of every stored row are read back; a
trial left running by an interrupted run is told its stored values when its point was stored,
else it is marked failed (its batch is asked again, the same way); stored points the record
lacks are added to it.
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
from threadx.sweep.halving import STAGE_COLUMN
from threadx.sweep.plan import SweepPlan, Task
from threadx.sweep.results import RunStore, full_length
from threadx.sweep.space import Dimension, SearchSpace, point_keys

log = get_logger(__name__)
JOURNAL = "study.journal"


def objectives(spec: Any) -> list[str]:
    """The ranked metrics a study optimises (``'-name'`` kept: minimised)."""
    by = list(spec.rank.by)
    return by if spec.search.method == "nsga2" else by[:1]


# the window of a tpe batch: the best trials and the latest ones (module docstring)
TPE_BEST = 250
TPE_RECENT = 750
# asks a batch may spend per trial it should fill (module docstring)
ASKS_PER_TRIAL = {"tpe": 2, "nsga2": 8}
# system attributes of the record's trials and study
TASK_ATTR = "threadx:task"
GEN_ATTR = "threadx:generation"
NUMBER_ATTR = "threadx:number"  # a window trial's record number
PARENTS_ATTR = "threadx:parents:"  # + generation: the record numbers of its parents


def make_sampler(method: str, seed: int, batch: int) -> Any:
    import optuna

    if method == "tpe":
        # constant_liar: trials asked but not told yet (the rest of the batch) count as bad
        # results, so one batch's asks spread out instead of repeating the same proposal
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if method == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=max(2, batch))
    raise ValueError(f"method {method!r} is not an Optuna sampler (tpe | nsga2)")


def batch_seed(seed: int, task_id: int) -> int:
    """The seed of one batch's sampler: fixed by the run's seed and the task."""
    return int(np.random.SeedSequence([seed, task_id]).generate_state(1)[0])


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
    """The studies of one run (a record per dataset, opened lazily; a window per batch)."""

    def __init__(self, plan: SweepPlan, store: RunStore, space: SearchSpace) -> None:
        import optuna
        from optuna.storages import JournalStorage

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
        self.plan, self.store, self.space = plan, store, space
        se = plan.spec.search
        self.method, self.seed, self.batch = se.method, se.seed, plan.chunk_size
        self.objectives = objectives(plan.spec)
        self.metrics = [k.lstrip("+-") for k in self.objectives]
        self.cols = list(dict.fromkeys([*space.names, *self.metrics]))  # a part's columns read
        if se.halving is not None:  # the stage picks the full-length rows
            self.read_cols = [*self.cols, STAGE_COLUMN]
        else:
            self.read_cols = self.cols
        self.directions = ["minimize" if k.startswith("-") else "maximize" for k in self.objectives]
        self.journal = BatchJournal(store.dir / JOURNAL)
        self.storage = JournalStorage(self.journal)
        self.dists = self._distributions()
        self.records: dict[int, Any] = {}
        self.values: dict[int, dict[bytes, tuple[float, ...] | None]] = {}
        self.pending: dict[int, list[tuple[int, bytes]]] = {}  # task -> (record trial id, point)
        self.parents: dict[int, set[int]] = {}  # dataset -> generations whose parents are recorded
        self.asks = 0
        self.duplicates = 0
        self.window_trials = 0  # largest window a batch was asked from

    def study_name(self, di: int) -> str:
        d = self.plan.datasets[di]
        return f"{d.symbol}/{d.timeframe}" + (f"/fold{d.fold}" if d.fold is not None else "")

    def study(self, di: int) -> Any:
        """The record of dataset ``di``."""
        if di not in self.records:
            import optuna

            self.records[di] = optuna.create_study(
                storage=self.storage,
                study_name=self.study_name(di),
                # the record is never asked: a sampler that costs nothing on tell
                sampler=optuna.samplers.RandomSampler(seed=self.seed),
                directions=self.directions,
                load_if_exists=True,
            )
            self.values[di] = self._stored_values(di)
            attrs = self.storage.get_study_system_attrs(self.records[di]._study_id)
            self.parents[di] = {
                int(k.removeprefix(PARENTS_ATTR)) for k in attrs if k.startswith(PARENTS_ATTR)
            }
            self._settle_running(di)
        return self.records[di]

    # -- resume ----------------------------------------------------------------------------
    def _stored_values(self, di: int) -> dict[bytes, tuple[float, ...] | None]:
        out: dict[bytes, tuple[float, ...] | None] = {}
        done = self.store.done_tasks()
        for task in self.plan.tasks:
            if task.dataset_index == di and task.task_id in done:
                part = pq.read_table(self.store.part_path(task.task_id), columns=self.read_cols)
                out.update(self._part_values(full_length(part).select(self.cols)))
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
        stored points the record lacks (killed before its flush) are added as finished."""
        from optuna.trial import TrialState

        record, stored = self.records[di], self.values[di]
        known: set[bytes] = set()
        settled = 0
        for frozen in record.get_trials(deepcopy=False):
            key = self._key_of_params(frozen.params)
            if frozen.state == TrialState.RUNNING:
                settled += 1
                if key is not None and key in stored:
                    self._finish(frozen._trial_id, stored[key])
                else:
                    self.storage.set_trial_state_values(frozen._trial_id, TrialState.FAIL)
                    continue
            if key is None:
                continue
            known.add(key)
            if frozen.state == TrialState.PRUNED and key not in stored:
                stored[key] = None  # dropped by its evaluation: not evaluated again
        lost = [k for k in stored if k not in known]
        for key in lost:
            self._finish(self._create(di, key, {}), stored[key])
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

    # -- the record --------------------------------------------------------------------------
    def _create(self, di: int, point: bytes, attrs: dict[str, Any]) -> int:
        """A running trial of dataset ``di``'s record at ``point``; its trial id."""
        from optuna.trial import TrialState, create_trial

        code = np.frombuffer(point, dtype=np.int32)
        params = {
            d.name: d.values[int(c)]
            for d, c in zip(self.space.dims, code, strict=True)
            if d.name in self.dists
        }
        template = create_trial(
            state=TrialState.RUNNING,
            params=params,
            distributions={k: self.dists[k] for k in params},
            system_attrs=attrs,
        )
        return self.storage.create_new_trial(self.records[di]._study_id, template)

    def _finish(self, trial_id: int, values: tuple[float, ...] | None) -> None:
        """Tell a record trial its stored values (``None``: failed)."""
        from optuna.trial import TrialState

        if values is None:
            self.storage.set_trial_state_values(trial_id, TrialState.FAIL)
        else:
            self.storage.set_trial_state_values(trial_id, TrialState.COMPLETE, list(values))

    # -- the window --------------------------------------------------------------------------
    def _window(self, record: Any, task: Task) -> tuple[Any, int]:
        """The in-memory study a batch is asked from, and the record generation of its
        generation 0 (nsga2)."""
        import optuna
        from optuna.trial import TrialState

        done = record.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if self.method == "tpe":
            chosen, offset = self._tpe_window(done), 0
        else:
            chosen, offset = self._nsga2_window(record, done)
        window = optuna.create_study(
            sampler=make_sampler(self.method, batch_seed(self.seed, task.task_id), self.batch),
            directions=self.directions,
        )
        window.add_trials(chosen)
        self.window_trials = max(self.window_trials, len(chosen))
        return window, offset

    def _tpe_window(self, done: list[Any]) -> list[Any]:
        if len(done) <= TPE_BEST + TPE_RECENT:
            return [self._copy(t, {}) for t in done]
        v = np.array([t.values[0] for t in done])
        order = np.argsort(-v if self.directions[0] == "maximize" else v, kind="stable")
        keep = set(order[:TPE_BEST].tolist()) | set(range(len(done) - TPE_RECENT, len(done)))
        return [self._copy(done[i], {}) for i in sorted(keep)]

    def _nsga2_window(self, record: Any, done: list[Any]) -> tuple[list[Any], int]:
        gens = [t.system_attrs.get(GEN_ATTR) for t in done]
        known = [g for g in gens if g is not None]
        if not known:
            return [], 0
        last = max(known)
        parents = set(
            self.storage.get_study_system_attrs(record._study_id).get(f"{PARENTS_ATTR}{last}", ())
        )
        key = optuna_generation_key()
        chosen = [self._copy(t, {key: 0}) for t in done if t.number in parents]
        chosen += [self._copy(t, {key: 1}) for t, g in zip(done, gens, strict=True) if g == last]
        return chosen, last - 1

    def _copy(self, trial: Any, attrs: dict[str, Any]) -> Any:
        from optuna.trial import create_trial

        return create_trial(
            params=trial.params,
            distributions=trial.distributions,
            values=trial.values,
            system_attrs={NUMBER_ATTR: trial.number, **attrs},
        )

    # -- ask / tell --------------------------------------------------------------------------
    def ask(self, task: Task) -> np.ndarray:
        """Up to ``task.size`` new points for ``task`` (see the module docstring)."""
        di = task.dataset_index
        record, seen = self.study(di), self.values.setdefault(di, {})
        window, offset = self._window(record, task)
        new: dict[bytes, np.ndarray] = {}
        pending: list[tuple[int, bytes]] = []
        cap = ASKS_PER_TRIAL[self.method] * task.size + 64
        asks = 0
        while len(new) < task.size and asks < cap:
            trial = window.ask()
            asks += 1
            code = np.array([_suggest(trial, d) for d in self.space.dims], dtype=np.int32)
            key = code.tobytes()
            trial_id = self._record_ask(record, window, trial, key, offset, task)
            if key in seen:  # evaluated before: its stored values, no kernel work
                self.duplicates += 1
                self._finish(trial_id, seen[key])  # (the window's trial stays running, as the
                continue  # batch's: a generation is not advanced by repeats mid-batch)
            if key in new:  # asked twice in this batch: evaluated once, told twice
                self.duplicates += 1
            new.setdefault(key, code)
            pending.append((trial_id, key))
        self.asks += asks
        if len(new) < task.size:
            log.info(
                "study %s: %d new point(s) in %d asks for a batch of %d",
                self.study_name(di),
                len(new),
                asks,
                task.size,
            )
        self.pending[task.task_id] = pending
        self.journal.flush()  # the asked trials and parents, before their evaluation
        if not new:
            return np.zeros((0, len(self.space.dims)), dtype=np.int32)
        return np.stack(list(new.values()))

    def _record_ask(
        self, record: Any, window: Any, trial: Any, point: bytes, offset: int, task: Task
    ) -> int:
        """A window's ask as a running record trial (with its generation and, the first time a
        generation is asked, its parents: nsga2); the window's trial names it."""
        attrs: dict[str, Any] = {TASK_ATTR: task.task_id}
        if self.method == "nsga2":
            wgen = window._storage.get_trial_system_attrs(trial._trial_id)[optuna_generation_key()]
            attrs[GEN_ATTR] = gen = offset + wgen
            recorded = self.parents[task.dataset_index]
            if wgen > 1 and gen not in recorded:
                parents = window.sampler.get_parent_population(window, wgen)
                numbers = [p.system_attrs[NUMBER_ATTR] for p in parents]
                name = f"{PARENTS_ATTR}{gen}"
                self.storage.set_study_system_attr(record._study_id, name, numbers)
                recorded.add(gen)
        trial_id = self._create(task.dataset_index, point, attrs)
        number = self.storage.get_trial_number_from_id(trial_id)
        window._storage.set_trial_system_attr(trial._trial_id, NUMBER_ATTR, number)
        return trial_id

    def tell(self, task: Task, part: pa.Table) -> None:
        """Tell the record trials of ``task`` the values of its stored part; an asked point
        absent from the part (dropped by the evaluation) is pruned, not evaluated again."""
        from optuna.trial import TrialState

        di = task.dataset_index
        seen = self.values[di]
        if part.num_rows:
            seen.update(self._part_values(part.select(self.cols)))
        for trial_id, key in self.pending.pop(task.task_id, []):
            if key in seen:
                self._finish(trial_id, seen[key])
            else:
                seen[key] = None
                self.storage.set_trial_state_values(trial_id, TrialState.PRUNED)
        self.journal.flush()  # after the part: the journal never runs ahead of the results

    def _key_of_params(self, params: dict[str, Any]) -> bytes | None:
        try:
            code = [
                d.code_of(params[d.name] if d.size > 1 else d.values[0]) for d in self.space.dims
            ]
        except (KeyError, ValueError):
            return None
        return np.array(code, dtype=np.int32).tobytes()


def optuna_generation_key() -> str:
    """The system attribute in which Optuna's NSGA-II keeps a trial's generation."""
    import optuna

    return optuna.samplers.NSGAIISampler._get_generation_key()


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
