"""The Results view's Walk-forward panel without a display: the view model (gui/walkforward.py),
the driver service's ``walk_forward(run_id)`` on a run folder, the backend's handlers (no Ray)
and the panel's widgets in a DearPyGui context without a window."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

from gui import walkforward as wfv
from gui.walkforward import NOT_WALK_FORWARD, WAITING, missing_note, walk_forward_model
from threadx.strategy.metrics import METRIC_NAMES
from threadx.sweep.results import RunStore
from threadx.sweep.spec import spec_from_dict, spec_to_toml

T0 = pd.Timestamp("2023-03-01", tz="UTC")
DAY = pd.Timedelta(days=1)
BAR = pd.Timedelta(minutes=15)
PARAMS = (
    {"bb_period": 40, "bb_std": 2.0, "direction": "short", "trailing_stop": False},
    {"bb_period": 20, "bb_std": 2.5, "direction": "both", "trailing_stop": True},
    {"bb_period": 10, "bb_std": 1.5, "direction": "long", "trailing_stop": False},
)
OOS = ((11.78, 0.0044, 1, 10_043.74), (-20.6, -0.0193, 3, 9_849.9), (6.12, 0.0095, 4, 9_943.47))
IS_SHARPE = (10.65, 14.2, 9.05)


def _metrics(sharpe, ret, n_trades, final):
    m = {k: 0.0 for k in METRIC_NAMES}
    m.update(
        sharpe=sharpe,
        total_return=ret,
        n_trades=n_trades,
        final_equity=final,
        profit_factor="inf",
        ruined=False,
        max_drawdown=0.0583,
        win_rate=0.4706,
    )
    return m


def _iso(ts: pd.Timestamp) -> str:
    return ts.isoformat()


def _report(symbol="BTCUSDT", timeframe="15m", efficiency=-0.127) -> dict:
    """A report shaped like threadx.sweep.walkforward writes it (3 rolling folds: train 7d,
    test 2d, step 2d)."""
    folds, capital = [], 10_000.0
    for k in range(3):
        start, train_end = T0 + 2 * k * DAY, T0 + (7 + 2 * k) * DAY
        sharpe, ret, n, final = OOS[k]
        folds.append(
            {
                "dataset": 0,
                "fold": k,
                "train_start": _iso(start),
                "train_end": _iso(train_end),
                "test_start": _iso(train_end),
                "test_end": _iso(train_end + 2 * DAY),
                "train_bars": 672,
                "test_bars": 192,
                "combo_id": 100 + k,
                "params": PARAMS[k],
                "in_sample": _metrics(IS_SHARPE[k], 0.04, 7, 10_400.0),
                "out_of_sample": _metrics(sharpe, ret, n, final),
                "start_equity": capital,
                "end_equity": final,
                "is_annual_return": 2.1,
                "oos_annual_return": 0.8,
                "sharpe_ratio": sharpe / IS_SHARPE[k],
                "efficiency": 0.38,
            }
        )
        capital = final
    stitched = _metrics(-1.35, -0.0056, 8, 9_943.47)
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "exchange": "binance_us",
        "fingerprint": "f" * 16,
        "initial_capital": 10_000.0,
        "oos_start": _iso(T0 + 7 * DAY),
        "oos_end": _iso(T0 + 13 * DAY - BAR),
        "oos_bars": 576,
        "folds": folds,
        "stitched": stitched,
        "degradation": {
            "n_folds": 3,
            "mean_is_sharpe": 11.3,
            "mean_oos_sharpe": -0.9,
            "sharpe_ratio": -0.0796,
            "stitched_oos_sharpe": -1.35,
            "mean_is_annual_return": 1.8186,
            "mean_oos_annual_return": -0.2309,
            "walk_forward_efficiency": efficiency,
            "stitched_oos_annual_return": -0.34,
            "profitable_folds": 2,
        },
    }


def _run_report(*datasets) -> dict:
    return {
        "run_id": "wf-0123",
        "mode": "rolling",
        "train": "7d",
        "test": "2d",
        "step": "2d",
        "rank_by": ["sharpe", "-max_drawdown"],
        "datasets": list(datasets) or [_report()],
    }


def _curve(n: int, spike_at: int | None = None) -> dict:
    t = (T0 + 7 * DAY).timestamp() + 900.0 * np.arange(n)
    eq = 10_000 + 50 * np.sin(np.arange(n) / 40)
    if spike_at is not None:
        eq[spike_at] = 12_345.0
    return {"time": t.tolist(), "equity": eq.tolist(), "bars": n}


# ------------------------------------------------------------------------------------ view model


def test_no_report_says_why():
    v = walk_forward_model(None, "r1")
    assert (v.run_id, v.available, v.message, v.detail) == ("r1", False, NOT_WALK_FORWARD, ())
    assert v.dataset(None) is None and v.keys == ()
    assert walk_forward_model(None, note=WAITING).message == WAITING
    assert walk_forward_model("garbage").message == NOT_WALK_FORWARD  # type: ignore[arg-type]
    assert missing_note(None) == WAITING and missing_note(False, "completed") == NOT_WALK_FORWARD
    assert "resume it" in missing_note(True, "cancelled")
    assert "once it completes" in missing_note(True, "running")
    assert missing_note(True, "completed").startswith("no walk-forward report stored")


def test_header_says_when_each_train_window_was_searched():
    rep = _report()
    assert "search" not in wfv.header_text(rep)
    rep["search"] = {"method": "tpe", "trials": 2000, "batch": 500, "seed": 0, "space": 908544}
    assert "per train window among its own search (tpe, 2,000 trials); times UTC" in (
        wfv.header_text(rep)
    )


def test_fold_table_follows_the_report():
    rep = _report()
    v = walk_forward_model(_run_report(rep), "wf-0123")
    assert v.available and v.keys == ("BTCUSDT 15m",)
    assert v.message.startswith(
        "walk-forward (rolling: train 7d, test 2d, step 2d), best by "
        "sharpe, -max_drawdown per train window; times UTC"
    )
    folds = v.dataset(None).folds
    assert folds.columns == (
        "fold",
        "train",
        "test",
        "bb_period",
        "bb_std",
        "trailing_stop",
        "direction",
        "IS_sharpe",
        "OOS_sharpe",
        "OOS_return",
        "OOS_trades",
        "equity",
    )
    assert folds.keys == (0, 1, 2)
    for row, f in zip(folds.text, rep["folds"], strict=True):
        cell = dict(zip(folds.columns, row, strict=True))
        assert cell["fold"] == str(f["fold"])
        train, test = (pd.Timestamp(f[k]) for k in ("train_start", "test_start"))
        assert cell["train"].startswith(train.strftime("%m-%d %H:%M") + "..")
        assert cell["test"] == (f"{test:%m-%d %H:%M}..{pd.Timestamp(f['test_end']):%m-%d %H:%M}")
        assert cell["bb_period"] == str(f["params"]["bb_period"])
        assert float(cell["bb_std"]) == f["params"]["bb_std"]
        assert cell["direction"] == f["params"]["direction"]
        assert cell["trailing_stop"] == str(f["params"]["trailing_stop"]).lower()
        assert float(cell["IS_sharpe"]) == pytest.approx(f["in_sample"]["sharpe"], rel=5e-3)
        assert float(cell["OOS_sharpe"]) == pytest.approx(f["out_of_sample"]["sharpe"], rel=5e-3)
        assert cell["OOS_return"] == f"{f['out_of_sample']['total_return']:+.2%}"
        assert cell["OOS_trades"] == str(f["out_of_sample"]["n_trades"])
        assert cell["equity"] == f"{f['end_equity']:,.2f}"


def test_degradation_line_and_its_class():
    ds = walk_forward_model(_run_report()).dataset(None)
    assert ds.degradation == (
        "mean IS Sharpe 11.3 -> mean OOS Sharpe -0.9 (OOS/IS -0.0796); "
        "stitched OOS Sharpe -1.35; walk-forward efficiency -0.127 (OOS/IS "
        "annualised return -23.1% / +181.9%); 2/3 folds profitable out of "
        "sample"
    )
    assert ds.degradation_class == "fails"
    classes = {
        e: walk_forward_model(_run_report(_report(efficiency=e))).dataset(None).degradation_class
        for e in (0.5, 0.8, 0.2, 0.0, None)
    }
    assert classes == {0.5: "holds", 0.8: "holds", 0.2: "weak", 0.0: "fails", None: "unknown"}
    rep = _report(efficiency=None)
    rep["degradation"]["sharpe_ratio"] = None
    text = walk_forward_model(_run_report(rep)).dataset(None).degradation
    assert "(OOS/IS n/a)" in text and "walk-forward efficiency n/a" in text


def test_stitched_metrics():
    ds = walk_forward_model(_run_report()).dataset(None)
    assert ds.stitched == (
        "stitched out-of-sample: 576 bars\n2023-03-08 00:00 .. 2023-03-13 "
        "23:45\nequity 10,000.00 -> 9,943.47 (-0.56%)"
    )
    names = ds.metrics.column("metric")
    assert names == METRIC_NAMES  # every stitched metric, in the metrics module's order
    shown = dict(ds.metrics.rows)
    assert shown["sharpe"] == "-1.35" and shown["total_return"] == "-0.56%"
    assert shown["max_drawdown"] == "5.83%" and shown["win_rate"] == "47.06%"
    assert shown["final_equity"] == "9,943.47" and shown["n_trades"] == "8"
    assert shown["profit_factor"] == "inf" and shown["ruined"] == "False"
    assert wfv.fmt_metric("sharpe", None) == "n/a" == wfv.fmt_metric("total_return", None)


def test_equity_is_decimated_with_fold_boundaries():
    rep = _report()
    rep["oos_equity"] = _curve(5000, spike_at=2345)
    ds = walk_forward_model(_run_report(rep), n_columns=100).dataset(None)
    xs, ys = ds.equity
    assert ds.bars == 5000 and len(xs) <= 3 * 100 + 1 < 5000  # first, min, max per column
    assert xs[0] == rep["oos_equity"]["time"][0] and ys[-1] == rep["oos_equity"]["equity"][-1]
    assert max(ys) == 12_345.0 and min(ys) == min(rep["oos_equity"]["equity"])
    assert list(xs) == sorted(xs)
    starts = [pd.Timestamp(f["test_start"]).timestamp() for f in rep["folds"]]
    end = pd.Timestamp(rep["folds"][-1]["test_end"]).timestamp()
    assert ds.boundaries == (*starts, end)
    assert ds.fold_marks == tuple(
        ((a + b) / 2, f"fold {k}")
        for k, (a, b) in enumerate(zip(starts, [*starts[1:], end], strict=True))
    )
    assert ds.capital == 10_000.0
    short = _report()
    short["oos_equity"] = _curve(50)
    whole = walk_forward_model(_run_report(short)).dataset(None).equity[1]
    assert whole == tuple(short["oos_equity"]["equity"])  # short enough: drawn whole
    assert walk_forward_model(_run_report()).dataset(None).equity == ((), ())  # none sent


def test_several_datasets_and_an_empty_one():
    a, b = _report(), _report(timeframe="1h")
    b["folds"] = []
    v = walk_forward_model(_run_report(a, b))
    assert v.keys == ("BTCUSDT 15m", "BTCUSDT 1h")
    assert v.dataset("BTCUSDT 1h").folds.empty and v.dataset("BTCUSDT 1h").boundaries == ()
    assert v.dataset("nope").key == "BTCUSDT 15m"


# ------------------------------------------------------------------------------------ service


def _run_folder(root, name: str, walk_forward: bool, status: str = "completed"):
    d = {
        "name": name,
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
        "grid": {"bb_period": [10, 20]},
    }
    if walk_forward:
        d["walk_forward"] = {"train": "7d", "test": "2d"}
    store = RunStore(root / "runs" / name)
    store.create(spec_to_toml(spec_from_dict(d)), {"run_id": name, "status": status})
    return store


def _service(root):
    from threadx.sweep.service import SweepService

    return SweepService(root, lambda spec: ([], []), lambda plan, handles: None)


def test_service_sends_the_stored_report_with_its_equity(tmp_path):
    from threadx.sweep.walkforward import EQUITY_FILE, REPORT_FILE

    store = _run_folder(tmp_path, "wf-a", walk_forward=True)
    stored = _run_report(_report(), _report(timeframe="1h"))
    (store.dir / REPORT_FILE).write_text(json.dumps(stored))
    frames = []
    for tf, n in (("15m", 9000), ("1h", 30)):
        c = _curve(n, spike_at=4321 if n > 4321 else None)
        idx = pd.DatetimeIndex(pd.to_datetime(c["time"], unit="s", utc=True), name="time")
        frames.append(
            pd.DataFrame(
                {
                    "fold": 0,
                    "equity": c["equity"],
                    "drawdown": 0.0,
                    "symbol": "BTCUSDT",
                    "timeframe": tf,
                },
                index=idx,
            )
        )
    eq = pd.concat(frames)
    eq.to_parquet(store.dir / EQUITY_FILE)
    got = _service(tmp_path).walk_forward("wf-a", max_points=1000)
    assert {k: v for k, v in got.items() if k != "datasets"} == {
        k: v for k, v in stored.items() if k != "datasets"
    }
    for rep, want in zip(got["datasets"], stored["datasets"], strict=True):
        assert {k: v for k, v in rep.items() if k != "oos_equity"} == want
    long, short = (d["oos_equity"] for d in got["datasets"])
    full = eq[eq["timeframe"] == "15m"]["equity"].to_numpy()
    assert long["bars"] == 9000 and len(long["equity"]) <= 1000
    assert long["equity"][0] == full[0] and long["equity"][-1] == full[-1]
    assert max(long["equity"]) == full.max() == 12_345.0 and min(long["equity"]) == full.min()
    assert long["time"] == sorted(long["time"]) and isinstance(long["time"][0], float)
    assert long["time"][0] == eq.index[0].timestamp()
    assert short["bars"] == 30 and short["equity"] == eq[eq["timeframe"] == "1h"]["equity"].tolist()
    json.dumps(got)  # plain lists and numbers: crosses Ray and the GUI queue as it is


def test_service_none_for_a_plain_or_unfinished_run(tmp_path):
    _run_folder(tmp_path, "plain", walk_forward=False)
    _run_folder(tmp_path, "wf-cancelled", walk_forward=True, status="cancelled")
    svc = _service(tmp_path)
    assert svc.walk_forward("plain") is None
    assert svc.walk_forward("wf-cancelled") is None


# ------------------------------------------------------------------------------------ backend


@pytest.fixture
def backend():
    from gui.backend import Backend
    from gui.run_controller import FollowedRun
    from tests.gui.gui_fakes import FakeClient

    b = Backend(cfg=None)
    b.client = FakeClient()
    spec = spec_from_dict(
        {
            "name": "wf",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
            "grid": {"bb_period": [10, 20]},
            "walk_forward": {"train": "7d", "test": "2d"},
        }
    )
    b.run.run = FollowedRun("wf-0123", spec=spec, state="completed", final_loaded=True)
    return b


def test_backend_posts_the_model(backend):
    run = backend.run.run
    backend.run.on_walk_forward(run, copy.deepcopy(_run_report()))
    (view,) = backend.drain()
    assert isinstance(view, wfv.WalkForwardModel) and view.available and run.wf_done
    assert view.run_id == "wf-0123" and view.keys == ("BTCUSDT 15m",)
    backend.run.on_walk_forward(run, None)  # a walk-forward run without its report
    assert backend.drain()[0].message == missing_note(True, "completed")
    run.spec = run.spec.model_copy(update={"walk_forward": None})
    backend.run.on_walk_forward(run, None)
    assert backend.drain()[0].message == NOT_WALK_FORWARD
    backend.run.on_walk_forward(type(run)("other"), None)  # an answer for a run no longer shown
    assert backend.drain() == []


def test_backend_asks_once_the_final_results_are_in(backend):
    from gui.run_controller import REPORT_TRIES

    asked = backend.client.asked
    run = backend.run.run
    backend.run.poll_walk_forward()
    assert asked == [("walk_forward", "wf-0123")] and "walk_forward" in backend._pending
    assert run.wf_tries == 1
    backend._pending.clear()
    run.wf_tries = REPORT_TRIES  # a request that kept failing is not asked again
    backend.run.poll_walk_forward()
    assert len(asked) == 1 and backend._due["walk_forward"] == float("inf")
    run.wf_tries, run.final_loaded = 0, False  # live results: not yet
    backend.run.poll_walk_forward()
    assert len(asked) == 1


def test_backend_spec_says_what_the_panel_waits_for(backend):
    run = backend.run.run
    run.state = "running"
    backend.run.on_spec(run, run.spec)
    (view,) = backend.drain()
    assert not view.available and view.message == missing_note(True, "running")


# ------------------------------------------------------------------------------------ widgets


def test_panel_draws_the_view_without_a_window():
    dpg = pytest.importorskip("dearpygui.dearpygui")
    from gui.view_walkforward import WalkForwardPanel

    dpg.create_context()
    try:
        panel = WalkForwardPanel()
        with dpg.window():
            panel.build()
        rep = _report()
        rep["oos_equity"] = _curve(600)
        view = walk_forward_model(_run_report(rep, _report(timeframe="1h")), "wf-0123")
        panel.apply(view)
        shown = panel.shown_text()
        ds = view.dataset(None)
        assert shown["header"] == view.message and shown["degradation"] == ds.degradation
        assert shown["stitched"] == ds.stitched
        assert shown["columns"] == list(ds.folds.columns)
        assert shown["folds"] == [list(r) for r in ds.folds.text]
        assert shown["metrics"] == [list(r) for r in ds.metrics.rows]
        assert shown["equity"][1] == pytest.approx(list(ds.equity[1]))
        assert shown["bounds"] == pytest.approx(list(ds.boundaries))
        assert len(panel._marks) == 3
        panel.show_dataset("BTCUSDT 1h")  # the other dataset: no equity sent, nothing drawn
        assert panel.shown_text()["equity"][1] == [] and panel._marks == []
        panel.apply(walk_forward_model(None, "plain"))
        shown = panel.shown_text()
        assert shown["header"] == NOT_WALK_FORWARD and shown["folds"] == []
        assert shown["metrics"] == [] and shown["equity"] == [[], []]
    finally:
        dpg.destroy_context()
