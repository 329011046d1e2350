"""End to end: the DearPyGui client on a real local Ray cluster (two fake GPUs), under Xvfb.

The test drives the app through its callbacks (the functions the widgets call), renders real
frames between steps, and checks what the widgets show against the run store read independently
through the client. Screenshots of every view go to ``$THREADX_GUI_SCREENSHOTS`` (e.g.
``docs/screenshots``) or the test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

dpg = pytest.importorskip("dearpygui.dearpygui")
ray = pytest.importorskip("ray")

from tests.gui import gui_e2e_checks as e2e  # noqa: E402
from tests.gui.gui_e2e_checks import TIMINGS  # noqa: E402
from tests.ray_helpers import REPO, make_cfg  # noqa: E402

pytestmark = [pytest.mark.gui, pytest.mark.ray, pytest.mark.timeout(300)]


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def display():
    """$DISPLAY, or a private Xvfb (wide, so its centred pointer hovers no widget)."""
    if os.environ.get("DISPLAY"):
        e2e.probe_display()
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but Xvfb is missing: install xvfb and libgl1-mesa-dri")
        pytest.skip("no DISPLAY and no Xvfb (apt-get install xvfb libgl1-mesa-dri)")
    n = e2e.free_display()
    proc = subprocess.Popen(
        [xvfb, f":{n}", "-screen", "0", "3400x1000x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.monotonic()
    while not Path(f"/tmp/.X11-unix/X{n}").exists():
        if proc.poll() is not None or time.monotonic() - t0 > 15:
            proc.kill()
            pytest.fail(f"Xvfb :{n} did not start")
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    try:
        e2e.probe_display()
        yield f":{n}"
    finally:
        os.environ.pop("DISPLAY", None)
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A real local Ray cluster with two fake GPUs (5090, 2060), the sample data, a client."""
    from actors.client import ThreadXClient
    from threadx.core.log import setup_logging

    root = tmp_path_factory.mktemp("gui")
    cfg = make_cfg(root / "data")
    paths = cfg.paths.model_copy(update={"logs": str(root / "logs"), "allow_absolute_paths": True})
    cfg = cfg.model_copy(update={"paths": paths})
    setup_logging(cfg, console_level=None)
    t0 = time.monotonic()
    ray.init(
        num_cpus=2,
        num_gpus=2,
        resources={"threadx_gpu_5090": 1, "threadx_gpu_2060": 1},
        include_dashboard=False,
        namespace="threadx",
        logging_level="ERROR",
    )
    client = ThreadXClient(cfg).connect()
    TIMINGS["ray start"] = time.monotonic() - t0
    yield client
    ray.shutdown()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    out = os.environ.get("THREADX_GUI_SCREENSHOTS")
    return Path(out).resolve() if out else tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def app(display, cluster):
    from gui.app import ThreadXApp

    a = ThreadXApp(cluster.cfg, max_fps=20).build().start()
    yield a
    a.close()


# ------------------------------------------------------------------------------------ helpers


# ------------------------------------------------------------------------------------ scenario


def test_gui_end_to_end(app, cluster, shots, tmp_path):
    from gui.viewmodels import fmt_value
    from threadx.sweep.results import rank

    with e2e.Step("connect + catalog"):
        app.pump(
            lambda: (
                app.connection is not None and app.connection.ok and app.data.catalog is not None
            ),
            90,
            "connected with catalog",
        )
    assert app.data.catalog.table.column("symbol") == ("BTCUSDT",)
    with e2e.Step("data view"):
        _data_view(app, cluster, shots, tmp_path)
    with e2e.Step("form + TOML"):
        run_grid = {
            "bb_period": ("range", "5:44:1"),
            "bb_std": ("range", "1.0:3.4:0.1"),
            "atr_multiplier": ("list", "1.0, 2.0"),
        }
        e2e.fill_form(app, "gui-e2e", "15m", run_grid, 25)  # 80 tasks: progress in many steps
        assert app.sweep.estimate.ok and app.sweep.estimate.count == 2000
        assert dpg.get_value("sweep/estimate").startswith("2,000 combinations x up to 2,016 bars")
        _toml_round_trip(app, tmp_path)
    with e2e.Step("sweep 1 (2,000 combos)"):
        run_id = _first_sweep(app, cluster, shots)
    frame = cluster.results(run_id)
    spec = cluster.spec(run_id)
    assert len(frame) == 2000
    with e2e.Step("results check"):
        app.pump(
            lambda: (
                app.results.snap is not None
                and app.results.snap.run_id == run_id
                and app.results.snap.n_results == 2000
                and app.results.snap.state == "completed"
            ),
            60,
            "final results",
        )
        e2e.check_table(app, frame, spec, fmt_value, rank)
        e2e.check_heatmap(app, frame, "sharpe", "bb_period", "bb_std", "atr_multiplier")
        app.show_tab("results")
        e2e.snap(app, shots / "results.png")
        _check_sorting_and_other_heatmap(app, frame)
    with e2e.Step("rank by + overfitting panel"):
        _rank_modes_and_overfitting(app, cluster, run_id, frame, spec, shots)
    with e2e.Step("drill-down"):
        _drilldown(app, cluster, run_id, frame, spec, shots)
    with e2e.Step("runs view"):
        _runs_view(app, run_id, shots)
    with e2e.Step("sweep 2: pause, resume, cancel"):
        _second_sweep(app, cluster, shots)
    with e2e.Step("logs view"):
        _logs_view(app, cluster, shots)
    # the render loop kept going while sweeps ran (>= 5 frames/s on average, never a gap of a
    # second between two frames) and no frame took a second
    c = app.clock
    assert c.active_frames >= max(30, 5 * c.active_wall_s), (c.active_frames, c.active_wall_s)
    assert c.active_max_s < 1.0 and c.active_gap_max_s < 1.0, (c.active_max_s, c.active_gap_max_s)
    print("\nGUI e2e timings (s):", {k: round(v, 1) for k, v in TIMINGS.items()})
    print(
        f"while a run was active: {c.active_frames} frames in {c.active_wall_s:.1f} s, "
        f"longest frame {1e3 * c.active_max_s:.0f} ms, longest gap "
        f"{1e3 * c.active_gap_max_s:.0f} ms; screenshots in {shots}"
    )


def _data_view(app, cluster, shots: Path, tmp_path: Path) -> None:
    from threadx.sample import load_sample

    app.show_tab("data")
    dpg.set_value("data/timeframe", "4h")
    app.data.on_resample()
    app.pump(lambda: "resample" in app.data.last, 60, "resample")
    bars = ray.get(cluster.data_store.resample.remote("BTCUSDT", "4h"))
    assert app.data.last["resample"].text.startswith(f"BTCUSDT 4h: {len(bars):,} bars")
    assert app.data.last["resample"].line[1][-1] == bars["close"].iloc[-1]
    app.data.on_gaps()
    app.pump(lambda: "gaps" in app.data.last, 60, "gaps")
    assert app.data.last["gaps"].text.startswith("BTCUSDT:")
    csv = tmp_path / "btc_1m.csv"
    load_sample().head(2 * 1440).reset_index().to_csv(csv, index=False)
    dpg.set_value("data/import_path", str(csv))
    dpg.set_value("data/import_symbol", "BTCUSDT")
    dpg.set_value("data/import_exchange", "binance_us")
    dpg.set_value("data/dry_run", True)
    app.data.on_import()
    app.pump(lambda: "import" in app.data.last, 60, "import")
    imp = app.data.last["import"]
    assert imp.text.startswith("dry run (nothing changed)"), imp.text
    assert imp.table.column("status") == ("ok",) and imp.table.column("rows_read") == (2880,)
    e2e.snap(app, shots / "data.png")


def _toml_round_trip(app, tmp_path: Path) -> None:
    from gui import forms
    from threadx.sweep.spec import load_spec

    path = tmp_path / "gui_spec.toml"
    dpg.set_value("sweep/toml_path", str(path))
    before = app.sweep.read_form()
    app.sweep.on_save()
    assert load_spec(path).normalized() == forms.form_to_spec(before).normalized()
    app.sweep.set_param("bb_period", "list", "20")
    assert app.sweep.estimate.count == 50
    app.sweep.on_load()
    assert app.sweep.read_form().param("bb_period") == forms.ParamField(
        "bb_period", "range", "5:44:1"
    )
    assert app.sweep.estimate.count == 2000


def _first_sweep(app, cluster, shots: Path) -> str:
    seen: list[tuple[str, int]] = []

    def pump(cond, timeout: float, what: str) -> None:
        """Pump frames until ``cond``, recording every progress line shown on the way (the
        whole sweep is watched, whichever tab is open, so a fast run still shows its steps)."""

        def check() -> bool:
            pv = app.sweep.progress
            if pv is not None and (not seen or seen[-1] != (pv.state, pv.done_text)):
                seen.append((pv.state, pv.done_text))
            return cond()

        app.pump(check, timeout, what)

    app.show_tab("sweep")
    run_id = e2e.start(app, "gui-e2e")
    pump(
        lambda: app.sweep.progress.fraction >= 0.2 and e2e.state(app) == "running", 120, "20 % done"
    )
    e2e.snap(app, shots / "sweep.png")
    assert dpg.get_value("progress/bar") >= 0.2
    assert "bar-steps/s" in dpg.get_value("progress/rate") and "--" not in dpg.get_value(
        "progress/rate"
    )
    assert dpg.get_value("progress/eta").startswith("ETA ")
    app.show_tab("cluster")
    pump(
        lambda: app.cluster.snap is not None and len(app.cluster.snap.workers.rows) == 2,
        60,
        "two worker slots",
    )
    workers = app.cluster.snap.workers
    assert sorted(zip(workers.column("device"), workers.column("weight"), strict=True)) == [
        ("2060", "0.25"),
        ("5090", "0.75"),
    ]
    assert app.cluster.snap.nodes.rows[0][5] == "2060, 5090"
    e2e.snap(app, shots / "cluster.png")
    app.show_tab("results")
    pump(
        lambda: app.results.snap is not None and 0 < app.results.snap.n_results, 60, "live results"
    )
    app.show_tab("sweep")
    pump(lambda: e2e.state(app) == "completed", 180, "sweep 1 completed")
    done = [int(t.split(" /")[0].replace(",", "")) for s, t in seen if s == "running"]
    assert done == sorted(done), done  # progress only moves forward
    assert len({d for d in done if 0 < d < 2000}) >= 2, seen  # and was seen advancing
    assert dpg.get_value("progress/done").startswith("2,000 / 2,000 combinations (80/80 tasks)")
    assert dpg.get_value("progress/eta").startswith("done in ")
    shares = app.sweep.progress.shares
    assert {d for d, _, _ in shares} == {"2060", "5090"} and sum(n for _, n, _ in shares) == 2000
    return run_id


def _check_sorting_and_other_heatmap(app, frame) -> None:
    app.results.sort_by("max_drawdown", True)
    app.step()
    cols = list(app.results.table.columns)
    dd = [float(r[cols.index("max_drawdown")]) for r in app.results.displayed_rows()]
    assert dd == sorted(dd) and len(dd) == 20
    app.results.sort_by("rank", True)
    dpg.set_value("results/metric", "total_return")
    dpg.set_value("results/x", "atr_multiplier")
    dpg.set_value("results/y", "bb_period")
    app.results.on_heat_change()
    app.pump(lambda: app.results.heatmap.metric == "total_return", 30, "total_return heatmap")
    e2e.check_heatmap(app, frame, "total_return", "atr_multiplier", "bb_period", "bb_std")
    dpg.set_value("results/y", "(none)")  # one dimension: a line with the others at their best
    app.results.on_heat_change()
    app.pump(lambda: app.results.heatmap.kind == "line", 30, "line")
    assert len(app.results.line_values) == 2
    dpg.set_value("results/metric", "sharpe")
    dpg.set_value("results/x", "bb_period")
    dpg.set_value("results/y", "bb_std")
    app.results.on_heat_change()
    app.pump(
        lambda: app.results.heatmap.kind == "heatmap" and app.results.heatmap.metric == "sharpe",
        30,
        "sharpe heatmap",
    )


def _rank_modes_and_overfitting(app, cluster, run_id: str, frame, spec, shots: Path) -> None:
    """Rank by "worst across datasets" shows the aggregate ranking (one dataset here: the same
    order, with n_datasets); the Overfitting panel shows what the driver's report(run_id) says."""
    from gui.overfitting import NO_REPORT, overfit_model
    from threadx.sweep.results import rank_aggregate

    by, k = list(spec.rank.by), spec.rank.top_k
    app.results.set_rank_mode("worst")
    app.pump(lambda: app.results.snap.rank_mode == "worst", 30, "rank by worst")
    cols = list(app.results.table.columns)
    assert "n_datasets" in cols and "symbol" not in cols
    want = rank_aggregate(frame, by, "worst").head(k)
    shown = app.results.displayed_rows()
    assert [int(r[cols.index("combo_id")]) for r in shown] == list(want["combo_id"])
    assert "worst case" in dpg.get_value("results/rank_note")
    app.results.set_rank_mode("none")
    app.pump(lambda: app.results.snap.rank_mode == "none", 30, "rank per dataset")
    app.results.show_panel("overfit")
    report = cluster.report(run_id)
    expected = overfit_model(report, run_id)

    def shown() -> bool:
        v = app.results.overfit.model
        return v is not None and v.run_id == run_id and v.verdict == expected.verdict

    app.pump(shown, 30, "overfitting panel shows the driver's report")
    assert dpg.get_value("results/overfit/verdict") == expected.verdict
    if report is None:
        assert expected.verdict == NO_REPORT
    else:
        shown = app.results.overfit.shown_text()
        first = expected.group(None)
        assert len(shown["top"]) == len(first.top.rows) and shown["hist"] == list(first.hist)
    e2e.snap(app, shots / "results_overfitting.png")
    app.results.show_panel("charts")


def _drilldown(app, cluster, run_id: str, frame, spec, shots: Path) -> None:
    best = app.results.table.keys[0]
    app.results.on_select(app.results.cells[0][0], None, best)  # click on the best row
    app.pump(lambda: app.active_tab() == "drilldown", 5, "drill-down tab shown")
    app.pump(
        lambda: app.drilldown.model is not None and app.drilldown.model.combo_id == best,
        60,
        "drill-down",
    )
    v = app.drilldown.model
    row = frame.set_index("combo_id").loc[best]
    ref = cluster.drilldown(run_id, int(best))
    assert v.mismatches == () and ref["mismatches"] == []
    assert v.n_trades == int(row["n_trades"]) == len(ref["trades"]) and v.n_bars == 2016
    assert len(v.entries_long[0]) + len(v.entries_short[0]) == len(v.exits[0]) == v.n_trades
    assert len(v.candles.time) <= app.plot_columns < v.n_bars  # decimated for the plot
    assert max(v.candles.high) == ref["bars"]["high"].max()
    assert min(v.candles.low) == ref["bars"]["low"].min()
    assert v.equity[1][-1] == pytest.approx(row["final_equity"], rel=1e-9)
    assert dpg.get_value("drill/trades_title") == f"trades: {v.n_trades}"
    assert str(v.combo_id) in dpg.get_value("drill/title")
    e2e.snap(app, shots / "drilldown.png")


def _runs_view(app, run_id: str, shots: Path) -> None:
    app.show_tab("runs")
    app.send("refresh", what="runs")
    app.pump(lambda: app.runs.snap is not None and run_id in app.runs.snap.table.keys, 30, "runs")
    i = app.runs.snap.table.keys.index(run_id)
    assert app.runs.snap.table.column("status")[i] == "completed"
    app.runs.on_pick(None, None, run_id)
    app.runs.on_load_spec()
    app.pump(lambda: "form loaded from run" in dpg.get_value("sweep/file_status"), 30, "spec")
    assert app.sweep.read_form().param("bb_std").text == "1.0:3.4:0.1"
    app.show_tab("runs")
    e2e.snap(app, shots / "runs.png")


def _second_sweep(app, cluster, shots: Path) -> None:
    # 40,000 combinations: long enough to be caught mid-way on a fast machine too
    grid = {
        "bb_period": ("range", "5:44:1"),
        "bb_std": ("range", "1.0:3.45:0.05"),
        "atr_multiplier": ("range", "1.0:3.0:0.5"),
        "max_hold_bars": ("list", "24, 48, 72, 96"),
    }
    e2e.fill_form(app, "gui-cancel", "15m", grid, 100)
    assert app.sweep.estimate.count == 40_000
    app.show_tab("sweep")
    run_id = e2e.start(app, "gui-cancel")
    app.pump(
        lambda: e2e.state(app) == "running" and app.sweep.progress.fraction > 0, 120, "running"
    )
    app.sweep.on_pause()
    app.pump(lambda: e2e.state(app) == "paused", 60, "paused")
    paused_at = app.sweep.progress.fraction
    assert dpg.get_value("progress/eta").startswith("paused at")
    app.sweep.on_resume()
    app.pump(
        lambda: e2e.state(app) == "running" and app.sweep.progress.fraction > paused_at,
        60,
        "resumed",
    )
    app.sweep.on_cancel()
    app.pump(lambda: e2e.state(app) == "cancelled", 60, "cancelled")
    st = cluster.status(run_id)
    assert st.state == "cancelled" and 0 < st.done < st.total == 40_000
    stored = cluster.results(run_id)
    assert len(stored) == st.done
    app.pump(
        lambda: app.results.snap.run_id == run_id and app.results.snap.state == "cancelled",
        30,
        "results of the cancelled run",
    )
    assert app.results.snap.n_results == len(stored)
    assert dpg.get_value("progress/eta").startswith("cancelled at")
    e2e.snap(app, shots / "sweep_cancelled.png")


def _logs_view(app, cluster, shots: Path) -> None:
    log_file = cluster.cfg.logs_dir / cluster.cfg.logging.file
    text = log_file.read_text()
    assert "gui frames:" in text and "(run active)" in text
    app.show_tab("logs")
    app.pump(
        lambda: (
            app.logs.snap is not None and any("gui frames:" in line for line in app.logs.snap.lines)
        ),
        30,
        "frame times in the log view",
    )
    e2e.snap(app, shots / "logs.png")


# ------------------------------------------------------------------------------------ CLI


def test_gui_verb_runs_and_saves_a_screenshot_per_view(app, cluster, tmp_path):
    """``threadx gui --address A --exit-after S --screenshot-dir D`` in its own process, joining
    the running cluster."""
    address = ray.get_runtime_context().gcs_address
    out = tmp_path / "shots"
    cmd = [
        sys.executable,
        "-m",
        "threadx.cli",
        "--config",
        str(REPO / "configs" / "threadx.toml"),
        "--data-root",
        str(cluster.cfg.data_root),
        "gui",
        "--address",
        address,
        "--exit-after",
        "4",
        "--screenshot-dir",
        str(out),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=150)
    TIMINGS["cli subprocess"] = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == sorted(
        f"{t}.png" for t in ("cluster", "data", "sweep", "results", "drilldown", "runs", "logs")
    )
    assert all((out / n).stat().st_size > 5_000 for n in names)


def test_gui_verb_refuses_without_display(monkeypatch):
    import argparse

    from gui.cli import register
    from threadx.core.errors import ThreadXError

    p = argparse.ArgumentParser()
    register(p.add_subparsers(dest="verb"))
    args = p.parse_args(["gui", "--exit-after", "2"])
    assert args.exit_after == 2.0 and args.address is None and args.screenshot_dir is None
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    if sys.platform.startswith("linux"):
        with pytest.raises(ThreadXError, match="no display"):
            args.func(None, args)
    bad = p.parse_args(["gui", "--exit-after", "0"])
    with pytest.raises(ThreadXError, match="--exit-after must be > 0"):
        bad.func(None, bad)


def test_walk_forward_panel_end_to_end(app, cluster, shots):
    """A walk-forward run in the Results > Walk-forward panel (gui_walkforward_checks.py)."""
    import json

    import pandas as pd

    from gui.walkforward import NOT_WALK_FORWARD
    from tests.gui import gui_walkforward_checks as wf
    from threadx.sweep.walkforward import EQUITY_FILE, REPORT_FILE

    app.pump(lambda: app.connection is not None and app.connection.ok, 90, "connected")
    app.show_tab("results")
    app.results.show_panel("walkforward")
    run_id = wf.run_to_completion(app, wf.WF_SPEC)
    run_dir = cluster.cfg.data_root / "runs" / run_id
    stored = json.loads((run_dir / REPORT_FILE).read_text())
    eq = pd.read_parquet(run_dir / EQUITY_FILE)
    app.pump(wf.panel_shows(app, run_id, True), 60, "walk-forward panel of the run")

    # the request: the stored report as it is, plus the stitched equity as lists
    sent = cluster.walk_forward(run_id)
    assert {k: v for k, v in sent.items() if k != "datasets"} == {
        k: v for k, v in stored.items() if k != "datasets"
    }
    (got,) = sent["datasets"]
    assert {k: v for k, v in got.items() if k != "oos_equity"} == stored["datasets"][0]
    assert got["oos_equity"]["equity"] == eq["equity"].tolist()  # 1,344 bars: sent whole
    assert got["oos_equity"]["bars"] == len(eq) == stored["datasets"][0]["oos_bars"]

    # the panel
    rep = stored["datasets"][0]
    d, s = rep["degradation"], rep["stitched"]
    shown = app.results.walk_forward.shown_text()
    assert shown["header"].startswith(
        "walk-forward (rolling: train 7d, test 2d, step 2d), "
        "best by sharpe, -max_drawdown per train window"
    )
    wf.check_fold_table(shown, rep)
    assert shown["degradation"].startswith(
        f"mean IS Sharpe {d['mean_is_sharpe']:.3g} -> mean OOS Sharpe {d['mean_oos_sharpe']:.3g}"
    )
    we = d["walk_forward_efficiency"]
    assert f"walk-forward efficiency {we:.3g}" in shown["degradation"]
    assert shown["degradation"].endswith(
        f"{d['profitable_folds']}/7 folds profitable out of sample"
    )
    assert (
        f"equity 10,000.00 -> {s['final_equity']:,.2f} ({s['total_return']:+.2%})"
        in shown["stitched"]
    )
    metrics = dict(map(tuple, shown["metrics"]))
    assert metrics["sharpe"] == f"{s['sharpe']:.3g}" and metrics["n_trades"] == str(s["n_trades"])
    assert metrics["max_drawdown"] == f"{s['max_drawdown']:.2%}"
    xs, ys = shown["equity"]
    assert ys[-1] == pytest.approx(s["final_equity"], rel=1e-12)
    assert max(ys) == eq["equity"].max() and min(ys) == eq["equity"].min()
    assert xs[0] == eq.index[0].timestamp() and xs[-1] == eq.index[-1].timestamp()
    bounds = [pd.Timestamp(f["test_start"]).timestamp() for f in rep["folds"]]
    assert shown["bounds"] == [*bounds, pd.Timestamp(rep["folds"][-1]["test_end"]).timestamp()]
    path = shots / "results_walkforward.png"
    app.screenshot(path)
    assert path.stat().st_size > 10_000, f"{path} looks empty"

    # a run without [walk_forward]
    plain = wf.run_to_completion(app, wf.PLAIN_SPEC)
    assert cluster.walk_forward(plain) is None
    app.pump(wf.panel_shows(app, plain, False), 60, "plain run in the walk-forward panel")
    app.pump(
        lambda: app.results.walk_forward.shown_text()["header"] == NOT_WALK_FORWARD,
        30,
        "not a walk-forward run",
    )
    assert app.results.walk_forward.shown_text()["folds"] == []


def test_search_end_to_end(app, cluster, shots):
    """A tpe search from the form, its progress, the Results > Search panel's best-so-far curve;
    a grid run draws none (gui_search_checks.py)."""
    from tests.gui import gui_search_checks as gs

    app.pump(lambda: app.connection is not None and app.connection.ok, 90, "connected")
    run_id, status, frame = gs.run_search(app, cluster, shots)
    gs.check_panel(app, run_id, frame, status)
    e2e.snap(app, shots / "results_search.png")
    gs.check_grid_run(app)
