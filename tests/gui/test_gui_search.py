"""Search beyond the grid in the desktop client, without a display: the sweep form's ``[search]``
fields (form -> spec, the spec's own error lines, the estimate counting the budget), a search's
progress text, the best-so-far curve and stats (gui/search.py) from the driver service's
``search(run_id)`` on real runs, the backend's requests, and the Search panel's widgets in a
DearPyGui context without a window."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from gui import forms
from gui import viewmodels as vm
from gui.search import CURVE_COLUMNS, NOT_SEARCH, best_curve, search_model
from threadx.core.errors import ConfigError
from threadx.sweep.spec import spec_from_dict
from threadx.sweep.states import RunStatus

CATALOG = pd.DataFrame(
    [
        {
            "exchange": "binance_us",
            "symbol": "BTCUSDT",
            "first": pd.Timestamp("2023-03-01", tz="UTC"),
            "last": pd.Timestamp("2023-03-21 23:59", tz="UTC"),
        }
    ]
)


# ------------------------------------------------------------------------------------ the form


def test_form_search_fields_become_the_search_table():
    form = forms.SweepForm(search="tpe", trials=8, batch=4, seed=3)  # 16 combinations
    d = forms.form_to_spec_dict(form)
    assert d["search"] == {"method": "tpe", "trials": 8, "batch": 4, "seed": 3}
    spec = forms.form_to_spec(form)
    assert (spec.search.method, spec.search.trials, spec.search.batch, spec.search.seed) == (
        "tpe",
        8,
        4,
        3,
    )
    assert spec.rows_per_dataset() == 8 and spec.count() == 16
    back = forms.spec_to_form(spec)
    assert (back.search, back.trials, back.batch, back.seed) == ("tpe", 8, 4, 3)
    assert forms.form_to_spec(back).normalized() == spec.normalized()
    assert forms.SEARCH_METHODS == ("grid", "random", "sobol", "tpe", "nsga2")


def test_grid_ignores_the_trial_fields():
    """method grid: no [search] table whatever the trial fields hold (even values the spec would
    refuse), so a grid run keeps the run id it had before the fields existed."""
    ignored = forms.SweepForm(search="grid", trials=0, batch=-5, seed=-1)
    assert "search" not in forms.form_to_spec_dict(ignored)
    spec = forms.form_to_spec(ignored)
    assert spec.search.method == "grid" and spec.search.trials is None
    assert spec.fingerprint() == forms.form_to_spec(forms.SweepForm()).fingerprint()
    again = forms.spec_to_form(spec)
    assert again.search == "grid" and again.trials == forms.SweepForm().trials


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"trials": 0}, "search.trials", "greater than or equal to 1"),
        ({"trials": 17}, "search.trials", "trials = 17 exceeds the 16 combinations"),
        ({"batch": -1}, "search.batch", "greater than or equal to 1"),
        ({"seed": -1}, "search.seed", "greater than or equal to 0"),
        ({"search": "nsga2", "rank_by": "sharpe"}, "rank.by", "nsga2 needs two or more"),
        ({"search": "nsga2", "batch": 1}, "search.batch", "needs a population"),
        ({"search": "tpe", "aggregate": "median"}, "rank.aggregate", "searches each dataset"),
    ],
)
def test_search_errors_are_the_specs_one_line_naming_the_key(change, key, words):
    form = forms.SweepForm(**{"search": "random", "trials": 10, **change})
    with pytest.raises(ConfigError) as err:
        forms.form_to_spec(form)
    text = str(err.value)
    assert text.startswith(f"sweep form: key '{key}': ") and words in text, text
    assert "\n" not in text
    est = forms.estimate_form(form, CATALOG, 8.0)  # what the form shows under its fields
    assert not est.ok and est.error == text and est.text == "invalid form"


def test_estimate_counts_the_budget_not_the_grid():
    grid = forms.SweepForm(timeframes="1h, 15m")
    est = forms.estimate_form(grid, CATALOG, 8.0)
    assert est.ok and est.count == 32 and est.noun == "combinations"
    assert est.text.startswith("32 combinations x up to 2,016 bars")
    form = forms.SweepForm(timeframes="1h, 15m", search="random", trials=10, batch=4)
    spec = forms.form_to_spec(form)
    est = forms.estimate_form(form, CATALOG, 8.0)
    assert est.ok and est.count == 20 == spec.total_rows() and est.noun == "random trials"
    assert est.text.startswith("20 random trials of a 32-combination grid x up to 2,016 bars")
    bars = {("BTCUSDT", "1h"): 504, ("BTCUSDT", "15m"): 2016}
    assert est.memory_bytes == spec.estimate_memory_bytes(bars)
    waiting = forms.estimate_form(form, None, 8.0)
    assert waiting.count == 20 and waiting.text.startswith("20 random trials of a 32-")


# ------------------------------------------------------------------------------------ progress


def _status(**kw) -> RunStatus:
    base = {"run_id": "s", "state": "running", "done": 120, "total": 300}
    base.update(done_tasks=4, total_tasks=10, fraction=0.4)
    return RunStatus.from_dict({**base, **kw})


def test_progress_of_a_search_counts_trials_and_says_the_best():
    best = {"metric": "sharpe", "value": 1.23456789}
    pv = vm.progress_model(_status(search="tpe", evaluated=118, budget=300, best=best))
    assert pv.done_text == "118 / 300 trials evaluated (4/10 tasks)"
    assert pv.search_text == "search: tpe; best so far: sharpe 1.23457"
    first = vm.progress_model(_status(search="random", evaluated=None, budget=300, best=None))
    assert first.done_text.startswith("120 / 300 trials evaluated")
    assert first.search_text == "search: random; best so far: no data"
    grid = vm.progress_model(_status())
    assert grid.done_text == "120 / 300 combinations (4/10 tasks)" and grid.search_text == ""


# ------------------------------------------------------------------------------------ the curve


def test_best_curve_is_finite_ascending_and_decimated():
    raw = [[60, 1.5], [20, 0.5], [40, float("nan")], [40, 1.0], [80, float("inf")], [60, 1.75]]
    assert best_curve(raw) == ((20.0, 40.0, 60.0), (0.5, 1.0, 1.75))
    assert best_curve(None) == ((), ()) and best_curve([]) == ((), ())
    rng = np.random.default_rng(1)
    ys = np.maximum.accumulate(rng.normal(size=5000))
    xs, kept = best_curve([[10 * (i + 1), y] for i, y in enumerate(ys)], n_columns=100)
    assert len(xs) <= 2 * 100 + 2 < 5000 and list(xs) == sorted(xs)
    assert (xs[0], kept[0]) == (10.0, ys[0]) and (xs[-1], kept[-1]) == (50_000.0, ys[-1])
    assert list(kept) == sorted(kept)  # a best so far never gets worse
    assert CURVE_COLUMNS >= 1000  # the manifest's 2,000 points: drawn at the panel's width


def _answer(**stats) -> dict:
    curve = [[50, 0.5], [100, 1.25], [150, 1.25]]
    base = {"evaluated": 150, "sample_s": 0.5, "best": 1.25, "best_metric": "sharpe"}
    return {
        "search": {"method": "tpe", "trials": 150, "batch": 50, "seed": 2, "space": 1000},
        "search_stats": {**base, "best_curve": curve, **stats},
        "budget": 150,
        "wall_s": 10.0,
    }


def test_search_model_of_a_search_and_of_a_grid():
    m = search_model("r", _answer(kernel_s=2.0, prepare_s=0.25, asks=160, duplicates=10))
    assert m.is_search and m.metric == "sharpe" and m.best == 1.25
    assert m.curve == ((50.0, 100.0, 150.0), (0.5, 1.25, 1.25))
    assert m.header == (
        "tpe search (seed 2, batches of 50): 150 trials per dataset of the grid's 1000 "
        "combinations (15.00% of it)"
    )
    assert m.stats == (
        "150 / 150 trials evaluated; best sharpe so far: 1.25",
        "sampling (draws or ask/tell) 0.5 s vs kernel 2 s + preparing 0.25 s",
        "160 asks; 10 repeated suggestions told their stored values",
    )
    old = search_model("r", _answer())  # no kernel seconds: against the wall time
    assert (
        old.stats[1]
        == "sampling (draws or ask/tell) 0.5 s of 10 s wall (kernel seconds not recorded)"
    )
    queued = search_model("q", {**_answer(), "search_stats": None})
    assert (
        queued.is_search
        and queued.curve == ((), ())
        and queued.stats == ("no trials evaluated yet",)
    )
    grid = search_model("g", None)
    assert not grid.is_search and grid.header == NOT_SEARCH and grid.curve == ((), ())
    assert grid.best is None and grid.stats == ()


# ------------------------------------------------------------------------------------ service


def _spec(name: str, **search) -> dict:
    d = {
        "name": name,
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["1h"]},
        "grid": {"bb_period": {"start": 10, "stop": 50, "step": 5}, "bb_std": [1.5, 2.0, 2.5]},
        "rank": {"by": ["sharpe"]},
    }
    return spec_from_dict({**d, "search": search} if search else d)


def _expected_curve(frame: pd.DataFrame, batch: int) -> tuple[list[float], list[float]]:
    """(trials evaluated, best sharpe so far) after each batch, in plan order (tpe: one batch in
    flight, told in order), from the stored rows."""
    xs, ys, n, best = [], [], 0, -math.inf
    for _, part in frame.sort_values("combo_id").groupby(frame["combo_id"] // batch):
        n += len(part)
        finite = part["sharpe"][np.isfinite(part["sharpe"])]
        best = max(best, finite.max()) if len(finite) else best
        xs.append(float(n))
        ys.append(best)
    return xs, ys


def test_service_search_is_live_then_the_manifests(store):
    from tests.inline_executor import inline_service
    from threadx.sweep.results import RunStore

    svc = inline_service(store)
    rid = svc.submit(_spec("svc-tpe", method="tpe", trials=27, batch=9, seed=4))
    queued = svc.search(rid)
    assert queued["search_stats"] is None and queued["budget"] == 27
    assert queued["search"] == {"method": "tpe", "trials": 27, "batch": 9, "seed": 4, "space": 27}
    live = []
    while svc.step(0.01):
        got = svc.search(rid)
        if got["search_stats"] is not None:
            live.append(got["search_stats"])
    evaluated = [s["evaluated"] for s in live]  # seen while running: batch after batch
    assert evaluated == sorted(evaluated) and evaluated[0] < evaluated[-1], live
    assert len(live[0]["best_curve"]) == 1 and live[0]["evaluated"] <= 9
    for s in live:
        assert len(s["best_curve"]) * 9 >= s["evaluated"] > 0
    final = svc.search(rid)
    manifest = RunStore(store.data_root / "runs" / rid).read_manifest()
    assert final["search_stats"] == manifest["search_stats"] and final["wall_s"] > 0
    xs, ys = _expected_curve(svc.results(rid), 9)
    assert best_curve(final["search_stats"]["best_curve"]) == (tuple(xs), tuple(ys))
    assert search_model(rid, final).best == max(svc.results(rid)["sharpe"])
    assert inline_service(store).search(rid) == final  # another service: from the manifest
    json.dumps(final)  # plain values: crosses Ray and the GUI queue as it is
    grid = svc.submit(_spec("svc-grid"))
    svc.run_until_idle(0.01)
    assert svc.status(grid).state == "completed" and svc.search(grid) is None


# ------------------------------------------------------------------------------------ backend


def _backend(spec, **answers):
    from gui.backend import Backend
    from gui.run_controller import FollowedRun
    from tests.gui.gui_fakes import FakeClient

    frame = pd.DataFrame(
        {
            "combo_id": [0, 1, 2],
            "symbol": "BTCUSDT",
            "timeframe": "1h",
            "bb_period": [10, 15, 20],
            "bb_std": [1.5, 2.0, 2.5],
            "sharpe": [0.5, 1.25, 0.75],
            "max_drawdown": [0.1, 0.2, 0.05],
        }
    )
    b = Backend(cfg=None)
    b.client = FakeClient(frame, spec, **answers)
    b.run.run = FollowedRun("run-s", spec=spec, state="completed", done=3, total=3)
    return b


def test_backend_asks_for_the_curve_of_a_search_only():
    from gui import snapshots

    b = _backend(_spec("s", method="random", trials=3, batch=3), search=_answer())
    b.run.poll_results()
    b.collect(0)
    (snap,) = b.drain()
    assert [a[0] for a in b.client.asked] == ["ranking", "heatmap", "pareto", "search"]
    assert isinstance(snap, snapshots.ResultsSnap) and snap.search.is_search
    assert snap.search.curve == search_model("run-s", _answer()).curve
    grid = _backend(_spec("g"), search=_answer())
    grid.run.poll_results()
    grid.collect(0)
    (snap,) = grid.drain()
    assert [a[0] for a in grid.client.asked] == ["ranking", "heatmap", "pareto"]
    assert not snap.search.is_search and snap.search.header == NOT_SEARCH


# ------------------------------------------------------------------------------------ widgets


def test_panel_draws_the_curve_and_hides_it_for_a_grid():
    dpg = pytest.importorskip("dearpygui.dearpygui")
    from gui.view_search import SearchPanel

    dpg.create_context()
    try:
        panel = SearchPanel()
        with dpg.window():
            panel.build()
        assert not panel.shown()["plot"]  # nothing known yet: no plot
        model = search_model("r", _answer(kernel_s=2.0))
        panel.apply(model)
        shown = panel.shown()
        assert shown["plot"] and shown["header"] == model.header
        assert shown["stats"] == "\n".join(model.stats)
        assert shown["curve"] == ([50.0, 100.0, 150.0], [0.5, 1.25, 1.25])
        assert shown["y_label"] == "best sharpe so far"
        panel.apply(search_model("g", None))
        shown = panel.shown()
        assert not shown["plot"] and shown["header"] == NOT_SEARCH and shown["stats"] == ""
        assert shown["curve"] == ([], [])
    finally:
        dpg.destroy_context()
