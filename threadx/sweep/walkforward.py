"""Walk-forward analysis: sweep each fold's train window, trade the winner on the next test window.

Folds are windows in time (UTC), applied to each dataset's bars; ``t0`` is the dataset's first bar
and the data end is its last bar's close (open time + bar length). Fold ``i``:

* rolling:  train ``[t0 + i·step, t0 + i·step + train)``;
* anchored: train ``[t0, t0 + train + i·step)``;
* test ``[train_end, train_end + test)``; folds are made while the test window fits in the data.

A bar belongs to a window when it lies wholly inside it (open time >= start, open time + bar
length <= end), so a train bar never reaches into its test window. ``step >= test`` (checked by
the spec): test windows never overlap.

Planning (:func:`threadx.sweep.plan.plan_sweep`) turns every fold's train window into a dataset
of its own (:meth:`Dataset.window`, own fingerprint, tagged with its fold), so the train sweeps
are ordinary tasks of (dataset x fold x chunk of the grid) that run through the same machinery:
:func:`~threadx.sweep.run.run_local`, or the SweepDriver's controller and BacktestWorkers
(a fold slice is put into the object store once and passed by reference like any dataset).
Results parts carry a ``fold`` column. With a sampling ``[search]`` each train window is searched
on its own (``trials`` rows per fold, combo ids ``slot x trials + ordinal`` where ``slot`` is the
fold's train slice in the plan; tpe / nsga2: one Optuna study per fold, ``symbol/timeframe/foldN``)
and the report states the search (``search``: method, trials, batch, seed, space; per fold
``trials``: the rows its search evaluated).

When every task is done (:func:`write_walk_forward`), per dataset and fold the rank-1 row of the
fold's own train results (its grid sweep or its search) by ``[rank] by`` is chosen and evaluated
with the reference simulation on the test window ONLY: indicators warm up inside the test window,
no train bar is read. Its initial capital is the previous fold's out-of-sample final equity
(compounding; the first fold starts with the spec's ``initial_capital``), so the stitched
out-of-sample equity is continuous. Stored in the
run folder, atomically: ``walk_forward.json`` (folds, chosen parameters, in-sample vs
out-of-sample metrics, stitched metrics, degradation), ``oos_equity.parquet`` and
``oos_trades.csv``.

Degradation: ``sharpe_ratio`` = OOS Sharpe / IS Sharpe (per fold; overall of the fold means) and
the walk-forward efficiency = OOS annualised return / IS annualised return, both annualised
linearly (``total_return · 365.25 d / window length``; compounding 2-day returns to a year would
explode). A ratio is ``null`` when its denominator is 0.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from threadx.core.errors import ConfigError, StoreError
from threadx.core.io import atomic_write, atomic_write_json
from threadx.core.units import MINUTES_PER_YEAR
from threadx.core.utc import iso_utc, utc_index
from threadx.strategy.metrics import METRIC_NAMES, compute_metrics, drawdown
from threadx.strategy.params import PARAM_NAMES, StrategyParams, params_from_mapping
from threadx.strategy.reference import TRADE_COLUMNS, simulate
from threadx.sweep.dataset import Dataset
from threadx.sweep.folds import Fold
from threadx.sweep.results import RunStore, rank, trials_started
from threadx.sweep.states import RunState

if TYPE_CHECKING:
    from threadx.data.store import OHLCVStore
    from threadx.sweep.plan import SweepPlan
    from threadx.sweep.spec import SweepSpec

REPORT_FILE = "walk_forward.json"
EQUITY_FILE = "oos_equity.parquet"
TRADES_FILE = "oos_trades.csv"


# -- out-of-sample evaluation -----------------------------------------------------------------
@dataclass(frozen=True)
class OOSResult:
    """One fold's out-of-sample run: bar times (ns), equity, trades, metrics."""

    times: np.ndarray
    equity: np.ndarray
    trades: pd.DataFrame
    metrics: dict[str, Any]
    ruined: bool


def chosen_params(row: pd.Series, capital: float) -> StrategyParams:
    """The strategy parameters of a results row, with ``initial_capital = capital``."""
    values = {k: _plain(row[k]) for k in PARAM_NAMES if k != "initial_capital"}
    return params_from_mapping({**values, "initial_capital": capital})


def evaluate_fold(
    ds: Dataset, fold: Fold, row: pd.Series, capital: float, blocks: int = 16
) -> OOSResult:
    """Run ``row``'s parameters on ``fold``'s test window only (a slice that starts at the
    window: indicators warm up inside it), starting with ``capital``. An account already ruined
    (``capital <= 0``) stays flat."""
    test = ds.window(fold.test_start, fold.test_end)
    if capital <= 0:
        eq = np.full(test.n_bars, float(capital))
        none = np.zeros(0)
        m = compute_metrics(
            eq,
            none,
            none,
            none,
            int(test.times_ns[0]),
            int(test.times_ns[-1]),
            capital or 1.0,
            ds.bar_minutes,
            True,
            test.n_bars,
        )
        return OOSResult(test.times_ns, eq, pd.DataFrame(columns=list(TRADE_COLUMNS)), m, True)
    res = simulate(
        test.open,
        test.high,
        test.low,
        test.close,
        test.times_ns,
        chosen_params(row, capital),
        ds.bar_minutes,
        blocks,
    )
    return OOSResult(test.times_ns, res.equity, res.trades, res.metrics, res.ruined)


def _annual_return(total_return: float, n_bars: int, bar_minutes: float) -> float:
    """Linear annualisation: ``total_return · minutes per year / (n_bars · bar_minutes)``."""
    return float(total_return) * MINUTES_PER_YEAR / (n_bars * bar_minutes) if n_bars else 0.0


def _ratio(a: float, b: float) -> float | None:
    return float(a) / float(b) if b and math.isfinite(a) and math.isfinite(b) else None


def _fold_record(
    spec: SweepSpec, ds: Dataset, f: Fold, best: pd.Series, oos: OOSResult, capital: float
) -> dict[str, Any]:
    is_m = {k: _plain(best[k]) for k in METRIC_NAMES}
    is_ann = _annual_return(is_m["total_return"], f.train_bars, ds.bar_minutes)
    oos_ann = _annual_return(oos.metrics["total_return"], f.test_bars, ds.bar_minutes)
    return {
        **f.describe(),
        "combo_id": int(best["combo_id"]),
        "params": {k: _plain(best[k]) for k in spec.grid_values()},
        "in_sample": is_m,
        "out_of_sample": dict(oos.metrics),
        "start_equity": float(capital),
        "end_equity": float(oos.equity[-1]),
        "oos_first_bar": iso_utc(int(oos.times[0])),
        "oos_last_bar": iso_utc(int(oos.times[-1])),
        "is_annual_return": is_ann,
        "oos_annual_return": oos_ann,
        "sharpe_ratio": _ratio(oos.metrics["sharpe"], is_m["sharpe"]),
        "efficiency": _ratio(oos_ann, is_ann),
    }


def degradation(
    folds: list[dict[str, Any]], stitched: dict[str, Any], n_bars: int, bar_minutes: float
) -> dict[str, Any]:
    """In-sample vs out-of-sample summary over the folds of one dataset."""
    mean = lambda key, sub=None: float(np.mean([f[sub][key] if sub else f[key] for f in folds]))  # noqa: E731
    is_sh, oos_sh = mean("sharpe", "in_sample"), mean("sharpe", "out_of_sample")
    is_ann, oos_ann = mean("is_annual_return"), mean("oos_annual_return")
    return {
        "n_folds": len(folds),
        "mean_is_sharpe": is_sh,
        "mean_oos_sharpe": oos_sh,
        "sharpe_ratio": _ratio(oos_sh, is_sh),
        "stitched_oos_sharpe": stitched["sharpe"],
        "mean_is_annual_return": is_ann,
        "mean_oos_annual_return": oos_ann,
        "walk_forward_efficiency": _ratio(oos_ann, is_ann),
        "stitched_oos_annual_return": _annual_return(stitched["total_return"], n_bars, bar_minutes),
        "profitable_folds": sum(f["out_of_sample"]["total_return"] > 0 for f in folds),
    }


def _train_rows(
    spec: SweepSpec, ds: Dataset, f: Fold, slot: int, rows: pd.DataFrame
) -> pd.DataFrame:
    """Fold ``f``'s train results: the rows of its own grid sweep or search (the plan's dataset
    ``slot``: combo ids ``slot x per ..``), every one of them. A search by Optuna may hold
    fewer than ``trials`` rows (a short batch when the sampler repeats itself), never more; under
    successive halving the rows are the full-length ones, a share of the trials."""
    per = spec.rows_per_dataset()
    train = rows[rows["fold"] == f.fold]
    ids = train["combo_id"].to_numpy()
    if len(ids) and not ((ids >= slot * per) & (ids < (slot + 1) * per)).all():
        raise StoreError(
            f"{ds.key} fold {f.fold}: train results with combo ids outside the fold's "
            f"{slot * per}..{(slot + 1) * per - 1}; the run's results are mixed up"
        )
    short = spec.search.learns or spec.search.halving is not None
    if len(train) > per or not len(train) or (len(train) < per and not short):
        what = f"{spec.search.method} trials" if spec.search.sampling else "train results"
        raise StoreError(
            f"{ds.key} fold {f.fold}: {len(train)} of {per} {what}; "
            "the run is not complete (resume it)"
        )
    return train


def _walk_dataset(
    spec: SweepSpec, ds: Dataset, folds: list[tuple[int, Fold]], rows: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    start = capital = params_from_mapping(spec.fixed).initial_capital
    records, curves, trades, ruined = [], [], [], False
    for slot, f in folds:
        train = _train_rows(spec, ds, f, slot, rows)
        best = rank(train, spec.rank.by).iloc[0]
        oos = evaluate_fold(ds, f, best, capital, spec.report.blocks)
        trials = trials_started(rows, (ds.symbol, ds.timeframe, f.fold), len(train))
        records.append({**_fold_record(spec, ds, f, best, oos, capital), "trials": trials})
        idx = utc_index(oos.times, name="time")
        curves.append(pd.DataFrame({"fold": f.fold, "equity": oos.equity}, index=idx))
        trades.append(oos.trades.assign(fold=f.fold))
        ruined, capital = ruined or oos.ruined, float(oos.equity[-1])
    eq = pd.concat(curves)
    tr = pd.concat(trades, ignore_index=True)
    e = eq["equity"].to_numpy(dtype=np.float64)
    t = eq.index.asi8
    stitched = compute_metrics(
        e,
        tr["pnl"].to_numpy(np.float64),
        (tr["exit_bar"] - tr["entry_bar"]).to_numpy(np.float64),
        tr["fees"].to_numpy(np.float64),
        int(t[0]),
        int(t[-1]),
        start,
        ds.bar_minutes,
        ruined,
        len(e),
    )
    eq["drawdown"] = drawdown(e)
    head = {"symbol": ds.symbol, "timeframe": ds.timeframe}
    report = {
        **head,
        "exchange": ds.exchange,
        "fingerprint": ds.fingerprint(),
        "initial_capital": start,
        "oos_start": iso_utc(int(t[0])),
        "oos_end": iso_utc(int(t[-1])),
        "oos_bars": len(e),
        "folds": records,
        "stitched": stitched,
        "degradation": degradation(records, stitched, len(e), ds.bar_minutes),
    }
    return report, eq.assign(**head), tr.assign(**head)


def walk_forward_report(
    plan: SweepPlan, results: pd.DataFrame
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """The report, the stitched out-of-sample equity (index ``time``; columns fold, equity,
    drawdown, symbol, timeframe) and trades of a finished walk-forward plan's ``results``."""
    spec = plan.spec
    wf = spec.walk_forward
    if wf is None or not plan.folds:
        raise ConfigError(f"sweep '{spec.name}' is not a walk-forward sweep")
    reports, curves, trades = [], [], []
    for di, ds in enumerate(plan.sources):
        rows = results[(results["symbol"] == ds.symbol) & (results["timeframe"] == ds.timeframe)]
        mine = [(slot, f) for slot, f in enumerate(plan.folds) if f.dataset == di]
        rep, eq, tr = _walk_dataset(spec, ds, mine, rows)
        reports.append(rep)
        curves.append(eq)
        trades.append(tr)
    report = {
        "mode": wf.mode,
        "train": wf.train,
        "test": wf.test,
        "step": wf.step,
        "rank_by": list(spec.rank.by),
        **({"search": plan.search_info()} if spec.search.sampling else {}),
        "datasets": reports,
    }
    lead = ["symbol", "timeframe", "fold"]
    tr = pd.concat(trades, ignore_index=True)
    tr = tr[lead + [c for c in tr.columns if c not in lead]]
    return report, pd.concat(curves), tr


def write_walk_forward(plan: SweepPlan, store: RunStore) -> dict[str, Any]:
    """Evaluate a finished walk-forward run and store its report, equity and trades (atomic;
    the JSON is written last, so its presence means the three files are complete)."""
    missing = sorted({t.task_id for t in plan.tasks} - set(store.done_tasks()))
    if missing:  # a search's fold may hold fewer rows than trials: count tasks, not rows
        raise StoreError(
            f"run {store.run_id}: {len(missing)} of {len(plan.tasks)} task(s) not done "
            f"(first {missing[0]}); the run is not complete (resume it)"
        )
    report, eq, trades = walk_forward_report(plan, store.load())
    report = {"run_id": store.run_id, **report}
    atomic_write(store.dir / EQUITY_FILE, lambda tmp: eq.to_parquet(tmp, compression="zstd"))
    atomic_write(store.dir / TRADES_FILE, lambda tmp: trades.to_csv(tmp, index=False))
    atomic_write_json(store.dir / REPORT_FILE, report)  # the JSON policy: threadx.core.jsonio
    return load_walk_forward(store.dir) or {}


def load_walk_forward(run_dir: Path) -> dict[str, Any] | None:
    """The stored ``walk_forward.json`` of a run folder, or None."""
    path = Path(run_dir) / REPORT_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def walk_forward_for_run(run_dir: Path, ohlcv: OHLCVStore) -> dict[str, Any]:
    """The run's walk-forward report; computed here (from its parts and the data) when a
    completed run lacks it, e.g. after a driver died between the last part and the report."""
    from threadx.sweep.plan import load_datasets, plan_sweep
    from threadx.sweep.spec import load_spec

    run = RunStore(run_dir)
    found = load_walk_forward(run.dir)
    if found is not None:
        return found
    spec = load_spec(run.spec_path)
    if spec.walk_forward is None:
        raise ConfigError(f"run {run.run_id} is not a walk-forward run (no [walk_forward])")
    man = run.read_manifest()
    if man.get("status") != RunState.COMPLETED:
        raise StoreError(
            f"run {run.run_id} is {man.get('status')}: its walk-forward report is "
            "written when it completes (resume it)"
        )
    datasets = load_datasets(spec, ohlcv)
    stored = [d.get("fingerprint") for d in man.get("datasets", [])]
    if stored != [d.fingerprint() for d in datasets]:
        raise StoreError(f"run {run.run_id}: its data changed since it ran; run it again")
    return write_walk_forward(plan_sweep(spec, datasets), run)


# -- text ---------------------------------------------------------------------------------------
def _short(ts: str) -> str:
    return pd.Timestamp(ts).strftime("%m-%d %H:%M")


def _num(v: Any, fmt: str = ".3g") -> str:
    return "n/a" if v is None else v if isinstance(v, str) else format(float(v), fmt)


def fold_table(rep: dict[str, Any], searched: bool = False) -> pd.DataFrame:
    """One row per fold: windows, (``searched``: the trials its search evaluated,) chosen
    parameters, IS/OOS Sharpe, OOS return, equity."""
    rows = []
    for f in rep["folds"]:
        o = f["out_of_sample"]
        rows.append(
            {
                "fold": f["fold"],
                "train": f"{_short(f['train_start'])}..{_short(f['train_end'])}",
                "test": f"{_short(f['test_start'])}..{_short(f['test_end'])}",
                **({"trials": f["trials"]} if searched else {}),
                **{k: f["params"][k] for k in PARAM_NAMES if k in f["params"]},
                "IS_sharpe": _num(f["in_sample"]["sharpe"]),
                "OOS_sharpe": _num(o["sharpe"]),
                "OOS_return": f"{o['total_return']:+.2%}",
                "OOS_trades": o["n_trades"],
                "equity": f"{f['end_equity']:,.2f}",
            }
        )
    return pd.DataFrame(rows)


def format_walk_forward(report: dict[str, Any]) -> str:
    """The report as text: per dataset the fold table, stitched metrics and degradation."""
    se = report.get("search")
    lines = [
        f"walk-forward ({report['mode']}: train {report['train']}, test {report['test']}, "
        f"step {report['step']}), best by {', '.join(report['rank_by'])} per train "
        "window"
        + (
            f" among its own search: {se['method']} (seed {se['seed']}), {se['trials']:,} "
            f"trials per train window of the grid's {se['space']:,} combinations"
            if se
            else ""
        )
    ]
    for rep in report["datasets"]:
        s, d = rep["stitched"], rep["degradation"]
        lines += [
            f"\n{rep['symbol']} {rep['timeframe']}: {d['n_folds']} folds "
            "(times UTC; the OOS equity starts each fold at the previous fold's final equity)",
            fold_table(rep, bool(se)).to_string(index=False),
            f"stitched out-of-sample {_short(rep['oos_start'])} .. {_short(rep['oos_end'])} "
            f"({rep['oos_bars']:,} bars): equity {rep['initial_capital']:,.2f} -> "
            f"{s['final_equity']:,.2f} ({s['total_return']:+.2%}), sharpe {_num(s['sharpe'])}, "
            f"sortino {_num(s['sortino'])}, max drawdown {s['max_drawdown']:.2%}, "
            f"{s['n_trades']} trades, win rate {s['win_rate']:.1%}, "
            f"profit factor {_num(s['profit_factor'])}",
            f"degradation: mean IS sharpe {_num(d['mean_is_sharpe'])} -> mean OOS sharpe "
            f"{_num(d['mean_oos_sharpe'])} (OOS/IS {_num(d['sharpe_ratio'])}); stitched OOS "
            f"sharpe {_num(d['stitched_oos_sharpe'])}; walk-forward efficiency "
            f"{_num(d['walk_forward_efficiency'])} (OOS/IS annualised return "
            f"{_num(d['mean_oos_annual_return'], '+.1%')} / "
            f"{_num(d['mean_is_annual_return'], '+.1%')}); "
            f"{d['profitable_folds']}/{d['n_folds']} folds profitable out of sample",
        ]
    return "\n".join(lines)


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
