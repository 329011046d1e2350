"""Walk-forward folds: windows in time over each dataset, each fold's train window a dataset.

Planning (:func:`threadx.sweep.plan.plan_sweep`) turns every fold's train window into a dataset of
its own (:meth:`Dataset.window`, own fingerprint, tagged with its fold), so the train sweeps are
ordinary tasks. The window rules are in :mod:`threadx.sweep.walkforward`'s docstring; the
out-of-sample evaluation and the report live there too (analysis), this module is planning only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from threadx.core.errors import ConfigError, DataError
from threadx.core.units import MINUTES_PER_DAY, NS_PER_DAY, NS_PER_MINUTE
from threadx.core.utc import iso_utc
from threadx.sweep.dataset import Dataset

if TYPE_CHECKING:
    from threadx.sweep.spec import SweepSpec, WalkForwardSpec


@dataclass(frozen=True)
class Fold:
    """One fold of one dataset: train ``[train_start, train_end)``, test ``[train_end,
    test_end)`` (int64 ns, UTC) and the bars each holds."""

    dataset: int  # index into the spec's datasets (plan.sources)
    fold: int
    train_start: int
    train_end: int
    test_end: int
    train_bars: int
    test_bars: int

    @property
    def test_start(self) -> int:
        return self.train_end

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "fold": self.fold,
            "train_start": iso_utc(self.train_start),
            "train_end": iso_utc(self.train_end),
            "test_start": iso_utc(self.test_start),
            "test_end": iso_utc(self.test_end),
            "train_bars": self.train_bars,
            "test_bars": self.test_bars,
        }


def fold_windows(first_ns: int, end_ns: int, wf: WalkForwardSpec) -> list[tuple[int, int, int]]:
    """``(train_start, train_end, test_end)`` of every fold whose test window ends by
    ``end_ns`` (see the module docstring)."""
    train, test, step = (
        m * NS_PER_MINUTE for m in (wf.train_minutes, wf.test_minutes, wf.step_minutes)
    )
    out = []
    i = 0
    while first_ns + train + i * step + test <= end_ns:
        train_end = first_ns + train + i * step
        start = first_ns if wf.mode == "anchored" else train_end - train
        out.append((start, train_end, train_end + test))
        i += 1
    return out


def _data_end_ns(ds: Dataset) -> int:
    """End of the data: the last bar's open time + the bar length."""
    return int(ds.times_ns[-1]) + ds.bar_minutes * NS_PER_MINUTE


def _too_short(ds: Dataset, wf: WalkForwardSpec) -> str:
    span = (_data_end_ns(ds) - int(ds.times_ns[0])) / NS_PER_DAY
    need = (wf.train_minutes + wf.test_minutes) / MINUTES_PER_DAY
    return (
        f"{ds.key}: the data spans {span:.2f} days ({iso_utc(int(ds.times_ns[0]))} .. "
        f"{iso_utc(_data_end_ns(ds))}); walk-forward needs at least train {wf.train} + test "
        f"{wf.test} = {need:.2f} days for one fold"
    )


def fold_datasets(spec: SweepSpec, datasets: list[Dataset]) -> tuple[tuple[Fold, ...], list]:
    """The folds of every dataset and their train slices (one dataset per fold, in the same
    order: dataset-major, then fold). Clear errors for data too short for one fold and for a
    window with fewer than 2 bars (a gap in the data)."""
    wf = spec.walk_forward
    if wf is None:
        raise ConfigError(f"sweep '{spec.name}' has no [walk_forward] table")
    folds, slices = [], []
    for di, ds in enumerate(datasets):
        windows = fold_windows(int(ds.times_ns[0]), _data_end_ns(ds), wf)
        if not windows:
            raise DataError(_too_short(ds, wf))
        for k, (start, train_end, test_end) in enumerate(windows):
            train = ds.window(start, train_end, fold=k)
            n_test = ds.window(train_end, test_end).n_bars
            if min(train.n_bars, n_test) < 2:
                raise DataError(
                    f"{ds.key} fold {k}: {train.n_bars} train and {n_test} test "
                    f"bar(s) in {iso_utc(start)} .. {iso_utc(test_end)}; at least 2 each "
                    "are needed (a gap in the data?)"
                )
            folds.append(Fold(di, k, start, train_end, test_end, train.n_bars, n_test))
            slices.append(train)
    return tuple(folds), slices


def align_handles(
    plan_datasets: Sequence[Dataset], datasets: list[Dataset], handles: list[Any]
) -> list[Any]:
    """Executor handles per plan dataset (``SweepPlan.datasets``): the loader's handle where the
    plan dataset is a loaded one, ``None`` for a derived fold slice (the executor ships it)."""
    by_id = {id(d): h for d, h in zip(datasets, handles, strict=True)}
    return [by_id.get(id(d)) for d in plan_datasets]


def fold_train_dataset(spec: SweepSpec, ds: Dataset, fold: int) -> Dataset:
    """Fold ``fold``'s train slice of the loaded dataset ``ds`` (drill-down of a train row)."""
    return fold_datasets(spec, [ds])[1][fold]
