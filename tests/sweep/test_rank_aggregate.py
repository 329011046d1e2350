"""Cross-asset / cross-timeframe robustness ranking: ``[rank] aggregate`` and
:func:`threadx.sweep.results.rank_aggregate`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.helpers import results_frame
from threadx.core.errors import ConfigError
from threadx.sample import ensure_sample
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.results import rank, rank_aggregate, rank_results
from threadx.sweep.states import RunState

DATASETS = [("AAA", "1h"), ("BBB", "1h"), ("AAA", "4h")]


def _frame(values: dict[str, dict[tuple[int, float], float]], dd=None) -> pd.DataFrame:
    """Rows per dataset label ``SYM/tf``: ``{(bb_period, bb_std): sharpe}``; ``dd`` likewise for
    max_drawdown (default 0.1). combo_ids run dataset-major like a real run."""

    def rows():
        for label, cells in values.items():
            sym, tf = label.split("/")
            for (p, s), sharpe in cells.items():
                mdd = 0.1 if dd is None else dd[label][(p, s)]
                params = {"bb_period": p, "bb_std": s, "direction": "both"}
                yield sym, tf, {**params, "sharpe": sharpe, "max_drawdown": mdd}

    return results_frame(rows())


GRID = [(10, 1.5), (10, 2.5), (20, 1.5), (20, 2.5)]
SHARPE = {
    "AAA/1h": dict(zip(GRID, [1.0, 3.0, 0.5, 2.0], strict=True)),
    "BBB/1h": dict(zip(GRID, [2.0, -1.0, 0.6, 2.0], strict=True)),
    "AAA/4h": dict(zip(GRID, [1.5, 2.0, 0.7, 0.0], strict=True)),
}


def _by_params(out: pd.DataFrame) -> dict[tuple[int, float], pd.Series]:
    return {(int(r.bb_period), float(r.bb_std)): r for _, r in out.iterrows()}


def test_median_and_worst_known_values():
    f = _frame(SHARPE)
    med = rank_aggregate(f, ["sharpe"], "median")
    worst = rank_aggregate(f, ["sharpe"], "worst")
    want_med = {(10, 1.5): 1.5, (10, 2.5): 2.0, (20, 1.5): 0.6, (20, 2.5): 2.0}
    want_worst = {(10, 1.5): 1.0, (10, 2.5): -1.0, (20, 1.5): 0.5, (20, 2.5): 0.0}
    assert {k: r["sharpe"] for k, r in _by_params(med).items()} == want_med
    assert {k: r["sharpe"] for k, r in _by_params(worst).items()} == want_worst
    # median 2.0 tie between (10, 2.5) and (20, 2.5): broken by bb_period
    assert [(r.bb_period, r.bb_std) for r in med.itertuples()] == [
        (10, 2.5),
        (20, 2.5),
        (10, 1.5),
        (20, 1.5),
    ]
    assert [(r.bb_period, r.bb_std) for r in worst.itertuples()] == [
        (10, 1.5),
        (20, 1.5),
        (20, 2.5),
        (10, 2.5),
    ]
    assert list(worst["rank"]) == [1, 2, 3, 4] and set(worst["aggregate"]) == {"worst"}
    assert set(worst["n_datasets"]) == {3}
    # per-dataset values of the first metric, one column per dataset in order of appearance
    per = [c for c in worst.columns if "@" in c]
    assert per == ["sharpe@AAA/1h", "sharpe@BBB/1h", "sharpe@AAA/4h"]
    row = _by_params(worst)[(10, 2.5)]
    assert [row[c] for c in per] == [3.0, -1.0, 2.0]
    # combo_id is the combination's row on the first dataset
    assert row["combo_id"] == 1
    assert {"symbol", "timeframe", "complete"}.isdisjoint(worst.columns)


def test_lower_is_better_metric_worst_is_max():
    dd = {
        label: {k: 0.1 * (i + 1) + j for i, k in enumerate(GRID)} for j, label in enumerate(SHARPE)
    }
    f = _frame(SHARPE, dd)
    worst = rank_aggregate(f, ["-max_drawdown"], "worst")
    # worst drawdown is the largest: from AAA/4h (+2) for every combination
    assert list(worst["max_drawdown"]) == pytest.approx([2.1, 2.2, 2.3, 2.4])
    assert [(r.bb_period, r.bb_std) for r in worst.itertuples()] == GRID
    med = rank_aggregate(f, ["-max_drawdown"], "median")
    assert list(med["max_drawdown"]) == pytest.approx([1.1, 1.2, 1.3, 1.4])
    # two keys: worst sharpe first, then the worst (largest) drawdown breaks its ties
    sharpe = {lab: {k: 1.0 for k in GRID} for lab in SHARPE}
    two = rank_aggregate(_frame(sharpe, dd), ["sharpe", "-max_drawdown"], "worst")
    assert list(two["max_drawdown"]) == pytest.approx([2.1, 2.2, 2.3, 2.4])
    assert [c for c in two.columns if "@" in c] == [f"sharpe@{lab}" for lab in SHARPE]


def test_ties_are_broken_by_parameters_then_combo_id_not_row_order():
    same = {lab: {k: 1.0 for k in GRID} for lab in SHARPE}
    f = _frame(same)
    shuffled = f.sample(frac=1.0, random_state=3).reset_index(drop=True)
    a = rank_aggregate(f, ["sharpe"], "worst")
    b = rank_aggregate(shuffled, ["sharpe"], "worst", datasets=DATASETS)
    assert [(r.bb_period, r.bb_std) for r in a.itertuples()] == GRID
    cols = [c for c in a.columns if "@" not in c]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    # given datasets fix the per-dataset column order
    assert [c for c in b.columns if "@" in c] == ["sharpe@AAA/1h", "sharpe@BBB/1h", "sharpe@AAA/4h"]


def test_nan_on_one_dataset_ranks_last():
    vals = {lab: dict(cells) for lab, cells in SHARPE.items()}
    vals["BBB/1h"][(10, 1.5)] = np.nan
    worst = rank_aggregate(_frame(vals), ["sharpe"], "worst")
    assert (worst.iloc[-1]["bb_period"], worst.iloc[-1]["bb_std"]) == (10, 1.5)
    assert np.isnan(worst.iloc[-1]["sharpe"])
    med = rank_aggregate(_frame(vals), ["sharpe"], "median")
    assert np.isnan(med.iloc[-1]["sharpe"]) and med.iloc[-1]["bb_period"] == 10


def test_partial_run_excluded_or_flagged():
    vals = {lab: dict(cells) for lab, cells in SHARPE.items()}
    del vals["AAA/4h"][(20, 2.5)]
    del vals["AAA/4h"][(10, 1.5)]
    f = _frame(vals)
    out = rank_aggregate(f, ["sharpe"], "worst")
    assert [(r.bb_period, r.bb_std) for r in out.itertuples()] == [(20, 1.5), (10, 2.5)]
    assert out.attrs["partial_excluded"] == 2
    flagged = rank_aggregate(f, ["sharpe"], "worst", partial="flag")
    assert list(flagged["complete"]) == [True, True, False, False]
    assert list(flagged["n_datasets"]) == [3, 3, 2, 2]
    # incomplete ones come after every complete one, aggregated over what they have
    assert [(r.bb_period, r.bb_std) for r in flagged.itertuples()][2:] == [(20, 2.5), (10, 1.5)]
    assert list(flagged["sharpe"]) == [0.5, -1.0, 2.0, 1.0]
    assert np.isnan(_by_params(flagged)[(20, 2.5)]["sharpe@AAA/4h"])


def test_partial_flagged_aggregate_uses_present_datasets_only():
    vals = {lab: dict(cells) for lab, cells in SHARPE.items()}
    del vals["AAA/4h"][(20, 2.5)]
    flagged = rank_aggregate(_frame(vals), ["sharpe"], "worst", partial="flag")
    row = _by_params(flagged)[(20, 2.5)]
    assert row["sharpe"] == 2.0 and not row["complete"] and row["n_datasets"] == 2
    assert flagged.iloc[-1]["bb_period"] == 20 and flagged.iloc[-1]["bb_std"] == 2.5


def test_dataset_without_any_row_makes_everything_partial():
    f = _frame({k: v for k, v in SHARPE.items() if k != "AAA/4h"})
    assert rank_aggregate(f, ["sharpe"], "median", datasets=DATASETS).empty
    assert len(rank_aggregate(f, ["sharpe"], "median")) == 4  # the frame's own datasets


def test_single_dataset_equals_plain_rank():
    f = _frame({"AAA/1h": SHARPE["AAA/1h"]})
    agg = rank_aggregate(f, ["sharpe", "-max_drawdown"], "worst")
    plain = rank(f, ["sharpe", "-max_drawdown"])
    assert list(agg["combo_id"]) == list(plain["combo_id"])
    assert list(agg["sharpe"]) == list(plain["sharpe"])


def test_errors_and_dispatch():
    f = _frame(SHARPE)
    with pytest.raises(ValueError, match="aggregate must be one of median, worst"):
        rank_aggregate(f, ["sharpe"], "mean")
    with pytest.raises(ValueError, match="appears more than once on dataset AAA/1h"):
        rank_aggregate(pd.concat([f, f.head(1)], ignore_index=True), ["sharpe"], "median")
    with pytest.raises(ValueError, match="not among the datasets"):
        rank_aggregate(f, ["sharpe"], "median", datasets=DATASETS[:2])
    assert list(rank_results(f, ["sharpe"])["combo_id"]) == list(rank(f, ["sharpe"])["combo_id"])
    assert rank_results(f, ["sharpe"], "worst").equals(rank_aggregate(f, ["sharpe"], "worst"))
    empty = rank_aggregate(f.head(0), ["sharpe"], "worst")
    assert empty.empty and {"rank", "combo_id", "n_datasets", "sharpe"} <= set(empty.columns)


def _spec(**rank_over):
    return spec_from_dict(
        {
            "name": "agg",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m", "1h"]},
            "grid": {"bb_period": [10, 20, 30], "bb_std": [1.5, 2.5], "atr_multiplier": [1.0, 2.0]},
            "rank": {"by": ["sharpe", "-max_drawdown"], "top_k": 5, **rank_over},
        }
    )


def test_spec_validation():
    assert _spec().rank.aggregate == "none"
    assert _spec(aggregate="worst").rank.aggregate == "worst"
    with pytest.raises(ConfigError, match=r"key 'rank.aggregate'.*'none', 'median' or 'worst'"):
        _spec(aggregate="mean")
    # a single dataset is allowed (the aggregate is that dataset's value)
    one = spec_from_dict(
        {
            "data": {"symbols": ["BTCUSDT"]},
            "grid": {"bb_period": [10, 20]},
            "rank": {"aggregate": "median"},
        }
    )
    assert one.rank.aggregate == "median" and len(one.datasets()) == 1


def test_run_local_two_timeframes_worst(store, capsys):
    from threadx.cli import main

    ensure_sample(store)
    spec = _spec(aggregate="worst")
    res = run_local(spec, data_root=store.data_root, backend="cpu", memory_budget_gb=2)
    frame = res.to_frame()
    assert len(frame) == 24 and set(frame["timeframe"]) == {"15m", "1h"}
    top = res.top()
    assert len(top) == 5 and set(top["n_datasets"]) == {2}
    # independently: per combination, min sharpe and max drawdown over both timeframes
    keys = ["bb_period", "bb_std", "atr_multiplier"]
    g = (
        frame.groupby(keys)
        .agg(
            sharpe=("sharpe", "min"),
            max_drawdown=("max_drawdown", "max"),
            combo_id=("combo_id", "min"),
        )
        .reset_index()
    )
    g = g.sort_values(["sharpe", "max_drawdown", *keys], ascending=[False, True, True, True, True])
    assert list(top["combo_id"]) == list(g["combo_id"].head(5))
    assert list(top["sharpe"]) == pytest.approx(list(g["sharpe"].head(5)), abs=0)
    for tf in ("15m", "1h"):
        on = frame[frame["timeframe"] == tf].set_index(keys)["sharpe"]
        assert list(top[f"sharpe@BTCUSDT/{tf}"]) == [
            on.loc[tuple(r[k] for k in keys)] for _, r in top.iterrows()
        ]
    # the per-dataset ranking is still there on request
    assert len(res.top(aggregate="none")) == 5 and "timeframe" in res.top(aggregate="none")
    assert list(res.top(aggregate="median")["sharpe"]) != list(top["sharpe"])
    # the CLI: spec's aggregate by default, --aggregate overrides, export carries it

    def show(*args: str) -> tuple[int, str]:
        """``threadx sweep show RUN ARGS`` on this store: (exit code, stdout)."""
        rc = main(["--data-root", str(store.data_root), "sweep", "show", res.run_id, *args])
        return rc, capsys.readouterr().out

    rc, out = show()
    assert rc == 0 and "worst case across 2 datasets" in out and "sharpe@BTCUSDT/1h" in out
    export = store.data_root / "median.csv"
    rc, out = show("--aggregate", "median", "--export", str(export))
    assert rc == 0 and "median across 2 datasets" in out
    back = pd.read_csv(export)
    assert len(back) == 12 and set(back["aggregate"]) == {"median"}
    rc, out = show("--aggregate", "none", "--top", "3")
    assert rc == 0 and "across" not in out and "15m" in out


def test_service_top_and_status_use_the_aggregate(store):
    """The driver's logic (no Ray): ``top`` ranks across datasets, the live status has no
    aggregate top until the run ends, ``report`` is None without a stored report."""
    from tests.inline_executor import inline_service

    spec = _spec(aggregate="worst").model_copy(update={"chunk_size": 3})
    svc = inline_service(store)
    rid = svc.submit(spec)
    svc.step(0.01)
    svc.step(0.01)
    st = svc.status(rid)
    assert st.state == RunState.RUNNING and st.done_tasks >= 1 and st.top == []
    svc.run_until_idle(0.01)
    st = svc.status(rid)
    top = svc.top(rid)
    assert st.state == RunState.COMPLETED and len(top) == 5 and set(top["n_datasets"]) == {2}
    assert [r["combo_id"] for r in st.top] == list(top["combo_id"])
    expected = rank_aggregate(svc.results(rid), spec.rank.by, "worst").head(5)
    assert list(top["combo_id"]) == list(expected["combo_id"])
    report = svc.report(rid)  # None without threadx.sweep.overfit, else the run's report
    try:
        import threadx.sweep.overfit  # noqa: F401
    except ImportError:
        assert report is None
    else:
        assert report is not None and [(g["symbol"], g["timeframe"]) for g in report["groups"]] == [
            ("BTCUSDT", "15m"),
            ("BTCUSDT", "1h"),
        ]


def test_service_wait_status_returns_when_the_run_moves(store):
    """``wait_status`` (what the client's wait calls): at once without ``since``; otherwise it
    blocks until a step changes the run (woken by the step, not by its timeout), or times out."""
    import threading
    import time

    from tests.inline_executor import inline_service

    spec = _spec(aggregate="none").model_copy(update={"chunk_size": 3})
    svc = inline_service(store)
    rid = svc.submit(spec)
    first = svc.wait_status(rid, None, timeout=30)  # nothing to compare with: now
    t0 = time.monotonic()
    same = svc.wait_status(rid, first.moved_from(), timeout=0.3)  # nobody steps: the timeout
    assert time.monotonic() - t0 >= 0.29 and same.done_tasks == first.done_tasks
    stepper = threading.Timer(0.2, lambda: svc.run_until_idle(0.01))
    stepper.start()
    t0 = time.monotonic()
    moved = svc.wait_status(rid, same, timeout=30)  # woken by the first step that moves it
    stepper.join()
    assert time.monotonic() - t0 < 10
    assert (moved.state, moved.done_tasks) != (same.state, same.done_tasks)
    end = svc.wait_status(rid, {"state": "running", "done_tasks": -1}, timeout=30)
    while end.state != RunState.COMPLETED:
        end = svc.wait_status(rid, end.moved_from(), timeout=30)
    assert end.done_tasks == end.total_tasks and end.terminal
