"""Checks of the search end-to-end scenario (the test itself is in tests/gui/test_gui_e2e.py: one
DearPyGui viewport per process, so every GUI scenario shares that module's app fixture).

The sweep form is filled as a user would (the ``[search]`` fields through their widgets), a real
``tpe`` search runs on the bundled sample through the cluster, and the Results > Search panel's
curve is checked against the run's rows read independently through the client: after each batch
(one batch in flight for tpe, told in plan order), the trials evaluated so far and the best
Sharpe among them.
"""

from __future__ import annotations

import math

import dearpygui.dearpygui as dpg
import numpy as np
import pytest

from tests.gui import gui_e2e_checks as e2e

GRID = {"bb_period": ("range", "5:44:1"), "bb_std": ("range", "1.0:3.4:0.1")}  # 40 x 25 = 1,000
TRIALS, BATCH, SEED = 300, 50, 1
GRID_SPEC = {
    "name": "gui-search-grid",
    "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
    "grid": {"bb_period": [10, 20, 30]},
}


def set_search(app, method: str, trials: int, batch: int = BATCH, seed: int = SEED) -> None:
    """Type into the search widgets and fire their callback, as a user would."""
    for key, value in (("search", method), ("trials", trials), ("batch", batch), ("seed", seed)):
        dpg.set_value(f"sweep/{key}", value)
    app.sweep.on_change()


def enabled(tag: str) -> bool:
    return bool(dpg.get_item_configuration(tag)["enabled"])


def fill_search_form(app) -> None:
    """Grid first (the search fields disabled), then a budget over the grid (the spec's error
    line under the form), then tpe with a budget of 300: the estimate counts the budget."""
    e2e.fill_form(app, "gui-search", "15m", GRID, 0)
    set_search(app, "grid", TRIALS)
    assert not any(enabled(f"sweep/{k}") for k in ("trials", "batch", "seed"))
    assert app.sweep.estimate.ok and app.sweep.estimate.count == 1000
    assert dpg.get_value("sweep/estimate").startswith("1,000 combinations x up to 2,016 bars")
    set_search(app, "tpe", 5000)
    assert all(enabled(f"sweep/{k}") for k in ("trials", "batch", "seed"))
    error = dpg.get_value("sweep/error")
    assert not app.sweep.estimate.ok and "\n" not in error
    assert error.startswith("sweep form: key 'search.trials': [search] trials = 5,000 exceeds")
    set_search(app, "tpe", TRIALS)
    assert app.sweep.estimate.ok and dpg.get_value("sweep/error") == ""
    assert app.sweep.estimate.count == TRIALS
    assert dpg.get_value("sweep/estimate").startswith(
        "300 tpe trials of a 1,000-combination grid x up to 2,016 bars"
    )


def expected_curve(frame) -> tuple[list[float], list[float]]:
    """(trials evaluated, best sharpe so far) after each batch, from the stored rows (a batch's
    combo ids start at its first trial's; a batch that repeats itself comes up short)."""
    xs, ys, n, best = [], [], 0, -math.inf
    for _, part in frame.sort_values("combo_id").groupby(frame["combo_id"] // BATCH):
        n += len(part)
        finite = part["sharpe"][np.isfinite(part["sharpe"])]
        best = max(best, float(finite.max())) if len(finite) else best
        xs.append(float(n))
        ys.append(best)
    return xs, ys


def check_progress(app, status) -> None:
    """The progress panel of the finished search: trials evaluated / budget, the best so far."""
    assert dpg.get_value("progress/done") == (
        f"{status.evaluated:,} / {TRIALS:,} trials evaluated "
        f"({status.total_tasks}/{status.total_tasks} tasks)"
    )
    best = status.best
    assert best["metric"] == "sharpe"
    assert dpg.get_value("progress/search") == (
        f"search: tpe; best so far: sharpe {e2e.fmt(best['value'])}"
    )


def run_search(app, cluster, shots):
    """Fill the form, start the search, wait for it; check the progress panel; show its results
    in the Search panel. Returns the run id, its final status and its rows (from the client)."""
    app.pump(lambda: app.sweep.catalog is not None, 60, "catalog in the sweep form")
    app.show_tab("sweep")
    fill_search_form(app)
    run_id = e2e.start(app, "gui-search")
    app.pump(lambda: e2e.state(app) == "completed", 240, "search completed")
    status, frame = cluster.status(run_id), cluster.results(run_id)
    assert status.search == "tpe" and status.evaluated == len(frame) <= TRIALS
    check_progress(app, status)
    e2e.snap(app, shots / "sweep_search.png")
    app.show_tab("results")
    app.results.show_panel("search")
    app.pump(
        lambda: (
            app.results.snap is not None
            and app.results.snap.run_id == run_id
            and app.results.snap.state == "completed"
            and app.results.search.model.is_search
        ),
        60,
        "the search run's results",
    )
    return run_id, status, frame


def curve_in_view(app) -> bool:
    """The curve is on screen: the plot visible, its axes (as last rendered) around the curve."""
    shown = app.results.search.shown()
    (xs, ys), (x0, x1), (y0, y1) = shown["curve"], shown["x_limits"], shown["y_limits"]
    return (
        shown["visible"]
        and bool(xs)
        and x0 <= min(xs) <= max(xs) <= x1
        and y0 <= min(ys) <= max(ys) <= y1
    )


def check_panel(app, run_id: str, frame, status) -> None:
    """The Search panel draws the stored rows' best-so-far curve and the run's stats."""
    app.pump(lambda: curve_in_view(app), 10, "the curve in view")  # a tab shows in a few frames
    shown = app.results.search.shown()
    xs, ys = expected_curve(frame)
    assert shown["plot"] and shown["y_label"] == "best sharpe so far"
    assert shown["curve"][0] == xs and len(xs) == TRIALS // BATCH
    assert shown["curve"][1] == pytest.approx(ys, rel=1e-12)
    assert ys[-1] == frame["sharpe"].max() == pytest.approx(status.best["value"], rel=1e-12)
    assert shown["header"] == (
        f"tpe search (seed {SEED}, batches of {BATCH}): 300 trials per dataset of the grid's "
        "1000 combinations (30.00% of it)"
    )
    lines = shown["stats"].split("\n")
    assert lines[0] == (
        f"{len(frame)} / {TRIALS} trials evaluated; best sharpe so far: {e2e.fmt(ys[-1])}"
    )
    # the workers' kernel seconds came with their parts
    assert lines[1].startswith("sampling (draws or ask/tell) ") and " s (ask " in lines[1]
    assert " vs kernel " in lines[1] and " + preparing " in lines[1]
    assert lines[2].endswith("repeated suggestions told their stored values")
    title = dpg.get_value("results/title")
    assert title.startswith(f"run {run_id} (gui-search): completed, {len(frame)} of 300 trials")


def check_grid_run(app) -> None:
    """A grid run: no curve, the panel says why, and no error in the status bar."""
    import time

    from tests.gui import gui_walkforward_checks as wf

    t0 = time.monotonic()
    run_id = wf.run_to_completion(app, GRID_SPEC)
    app.pump(
        lambda: app.results.snap.run_id == run_id and app.results.snap.state == "completed",
        60,
        "the grid run's results",
    )
    shown = app.results.search.shown()
    assert app.results.snap.run_id == run_id and not app.results.search.model.is_search
    assert not shown["plot"] and shown["curve"] == ([], []) and shown["stats"] == ""
    assert shown["header"].startswith("grid run: every combination is evaluated")
    assert "combinations" in dpg.get_value("results/title")
    assert not [m.text for m in app.messages if m.level == "error" and m.at >= t0]
