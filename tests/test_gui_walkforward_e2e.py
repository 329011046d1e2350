"""End to end: a walk-forward run through a real local Ray cluster, shown by the DearPyGui client
under Xvfb (the display, cluster and app fixtures of tests/test_gui_e2e.py).

The run is submitted through the backend as the sweep form does; the Walk-forward panel's fold
table, degradation line and equity plot are checked against the run's ``walk_forward.json`` and
``oos_equity.parquet`` read from disk, and ``client.walk_forward(run_id)`` against the same files.
A run without ``[walk_forward]`` shows "not a walk-forward run". The screenshot goes to
``$THREADX_GUI_SCREENSHOTS/results_walkforward.png`` (e.g. ``docs/screenshots``) or the test's
temporary folder.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

dpg = pytest.importorskip("dearpygui.dearpygui")
ray = pytest.importorskip("ray")

from tests import test_gui_e2e as e2e  # noqa: E402

# the display (Xvfb), the Ray cluster (two fake GPUs, sample data), the screenshot folder, the app
display, cluster, shots, app = e2e.display, e2e.cluster, e2e.shots, e2e.app

pytestmark = [pytest.mark.gui, pytest.mark.ray, pytest.mark.timeout(300)]

WF_SPEC = {"name": "gui-wf", "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
           "grid": {"bb_period": [10, 20, 40], "bb_std": [1.5, 2.5], "atr_multiplier": [1.5, 3.0],
                    "direction": ["both", "long", "short"]},
           "fixed": {"slippage_bps": 1.0}, "rank": {"by": ["sharpe", "-max_drawdown"]},
           "chunk_size": 12,
           "walk_forward": {"train": "7d", "test": "2d", "step": "2d"}}  # fmt: skip
PLAIN_SPEC = {"name": "gui-wf-plain", "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
              "grid": {"bb_period": [10, 20]}}  # fmt: skip


def _run(app, spec: dict) -> str:
    """Submit ``spec`` as the form's Start does; the run id once it has completed."""
    app.send("submit", spec=spec)

    def done() -> bool:
        pv = app.sweep.progress
        return pv is not None and pv.run_id.startswith(spec["name"] + "-") \
            and pv.state == "completed"  # fmt: skip

    app.pump(done, 240, f"{spec['name']} completed")
    return app.sweep.progress.run_id


def _panel_shows(app, run_id: str, available: bool):
    def check() -> bool:
        v = app.results.walk_forward.view
        return v is not None and v.run_id == run_id and v.available == available

    return check


def _check_fold_table(shown: dict, rep: dict) -> None:
    """Every cell of the fold table against the report's numbers (as the panel formats them)."""
    cols = shown["columns"]
    assert cols[:3] == ["fold", "train", "test"] and cols[-5:] == [
        "IS_sharpe", "OOS_sharpe", "OOS_return", "OOS_trades", "equity"]  # fmt: skip
    params = cols[3:-5]
    assert set(params) == set(WF_SPEC["grid"])
    assert len(shown["folds"]) == len(rep["folds"]) == rep["degradation"]["n_folds"] == 7
    for row, f in zip(shown["folds"], rep["folds"], strict=True):
        cell = dict(zip(cols, row, strict=True))
        ts = {k: pd.Timestamp(f[k]) for k in ("train_start", "train_end", "test_start",
                                               "test_end")}  # fmt: skip
        assert cell["fold"] == str(f["fold"])
        assert cell["train"] == f"{ts['train_start']:%m-%d %H:%M}..{ts['train_end']:%m-%d %H:%M}"
        assert cell["test"] == f"{ts['test_start']:%m-%d %H:%M}..{ts['test_end']:%m-%d %H:%M}"
        for p in params:
            assert cell[p] == (f["params"][p] if isinstance(f["params"][p], str)
                               else f"{f['params'][p]:g}"), (f["fold"], p)  # fmt: skip
        assert cell["IS_sharpe"] == f"{f['in_sample']['sharpe']:.3g}"
        assert cell["OOS_sharpe"] == f"{f['out_of_sample']['sharpe']:.3g}"
        assert cell["OOS_return"] == f"{f['out_of_sample']['total_return']:+.2%}"
        assert cell["OOS_trades"] == str(f["out_of_sample"]["n_trades"])
        assert cell["equity"] == f"{f['end_equity']:,.2f}"


def test_walk_forward_panel_end_to_end(app, cluster, shots):
    from gui.walkforward import NOT_WALK_FORWARD
    from threadx.sweep.walkforward import EQUITY_FILE, REPORT_FILE

    app.pump(lambda: app.connection is not None and app.connection.ok, 90, "connected")
    app.show_tab("results")
    app.results.show_panel("walkforward")
    run_id = _run(app, WF_SPEC)
    run_dir = cluster.cfg.data_root / "runs" / run_id
    stored = json.loads((run_dir / REPORT_FILE).read_text())
    eq = pd.read_parquet(run_dir / EQUITY_FILE)
    app.pump(_panel_shows(app, run_id, True), 60, "walk-forward panel of the run")

    # the request: the stored report as it is, plus the stitched equity as lists
    sent = cluster.walk_forward(run_id)
    assert {k: v for k, v in sent.items() if k != "datasets"} == {
        k: v for k, v in stored.items() if k != "datasets"}  # fmt: skip
    (got,) = sent["datasets"]
    assert {k: v for k, v in got.items() if k != "oos_equity"} == stored["datasets"][0]
    assert got["oos_equity"]["equity"] == eq["equity"].tolist()  # 1,344 bars: sent whole
    assert got["oos_equity"]["bars"] == len(eq) == stored["datasets"][0]["oos_bars"]

    # the panel
    rep = stored["datasets"][0]
    d, s = rep["degradation"], rep["stitched"]
    shown = app.results.walk_forward.shown_text()
    assert shown["header"].startswith("walk-forward (rolling: train 7d, test 2d, step 2d), "
                                      "best by sharpe, -max_drawdown per train window")  # fmt: skip
    _check_fold_table(shown, rep)
    assert shown["degradation"].startswith(f"mean IS Sharpe {d['mean_is_sharpe']:.3g} -> mean "
                                           f"OOS Sharpe {d['mean_oos_sharpe']:.3g}")  # fmt: skip
    we = d["walk_forward_efficiency"]
    assert f"walk-forward efficiency {we:.3g}" in shown["degradation"]
    assert shown["degradation"].endswith(f"{d['profitable_folds']}/7 folds profitable out of "
                                         "sample")  # fmt: skip
    assert f"equity 10,000.00 -> {s['final_equity']:,.2f} ({s['total_return']:+.2%})" in \
        shown["stitched"]  # fmt: skip
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
    plain = _run(app, PLAIN_SPEC)
    assert cluster.walk_forward(plain) is None
    app.pump(_panel_shows(app, plain, False), 60, "plain run in the walk-forward panel")
    app.pump(lambda: app.results.walk_forward.shown_text()["header"] == NOT_WALK_FORWARD, 30,
             "not a walk-forward run")  # fmt: skip
    assert app.results.walk_forward.shown_text()["folds"] == []
