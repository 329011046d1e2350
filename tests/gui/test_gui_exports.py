"""Exports, filters, the latest run at start and the Monte Carlo section of the desktop client.

Pure parts without a display (tables to CSV / Parquet / Excel written atomically and read back,
PNG encoding and cropping, the table and log filters, the Monte Carlo model, the latest completed
run, the backend opening it with a fake client: no Ray); the widgets in a DearPyGui context
without a window (a table's filter and Export, the Monte Carlo tables, the log filter); and the
whole window under Xvfb in a child process (DearPyGui opens one viewport per process): the app
over the backend and a fake client opens the latest run, and its charts are saved as PNG from the
frame buffer and compared with a screenshot of the same frame.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gui import exports, logs
from gui import viewmodels as vm
from gui.cluster_controller import latest_completed
from gui.montecarlo import MC_COLUMNS, NO_MONTE_CARLO, monte_carlo_model
from gui.overfitting import overfit_model
from threadx.sweep.montecarlo import resample_combination
from threadx.sweep.spec import MonteCarloSpec, spec_from_dict
from threadx.sweep.states import RunState, RunStatus, RunSummary

REPO = Path(__file__).resolve().parents[2]
GRID = {"bb_period": [10, 20, 30], "bb_std": [1.5, 2.5]}
SPEC = {
    "name": "exp",
    "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
    "grid": GRID,
    "rank": {"by": ["sharpe", "-max_drawdown"], "top_k": 5},
}
RUN_ID = "exp-0002"


def _frame() -> pd.DataFrame:
    rows = []
    for cid, (p, s) in enumerate(itertools.product(*GRID.values())):
        rows.append(
            {
                "combo_id": cid,
                "symbol": "BTCUSDT",
                "timeframe": "15m",
                "bb_period": p,
                "bb_std": s,
                "sharpe": p / 10 + s,
                "max_drawdown": 0.01 * (cid + 1),
                "total_return": 0.1 * cid - 0.2,
                "n_trades": 3 * cid,
                "win_rate": 0.5,
                "profit_factor": float("inf") if cid == 5 else 1.0 + cid / 10,
            }
        )
    return pd.DataFrame(rows)


def _mc_section() -> dict[str, Any]:
    """A Monte Carlo section as threadx.sweep.montecarlo.run_monte_carlo writes it (two combos,
    the second without trades), from the real resampling of seeded random returns."""
    rng = np.random.default_rng(7)
    settings = MonteCarloSpec(paths=200, seed=3, top_k=2)
    combos = []
    for i, cid in enumerate((5, 4)):
        trades = rng.normal(0.01, 0.05, 12) if i == 0 else np.array([])
        mc = resample_combination(rng.normal(0.0002, 0.01, 500), trades, settings, salt=i)
        combos.append({"params": {"bb_period": 30}, **mc, "combo_id": cid})
    group = {"symbol": "BTCUSDT", "timeframe": "15m", "combos": combos}
    return {"paths": 200, "block": "n^(1/3)", "seed": 3, "top_k": 2, "groups": [group]}


def _report() -> dict[str, Any]:
    top = [{"combo_id": 5, "rank": 1, "bb_period": 30, "sharpe": 5.5, "psr": 0.9, "dsr": 0.7}]
    group = {
        "symbol": "BTCUSDT",
        "timeframe": "15m",
        "n_trials": 6,
        "pbo": 0.25,
        "pbo_splits": 70,
        "oos_rank_hist": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
        "verdict": "survives",
        "top": top,
    }
    return {
        "n_trials": 6,
        "blocks": 8,
        "verdict": "ok",
        "groups": [group],
        "monte_carlo": _mc_section(),
    }


def _runs() -> list[RunSummary]:
    done, cancel = RunState.COMPLETED, RunState.CANCELLED
    return [
        RunSummary("exp-0001", "exp", done, 6, "2024-01-01T10:00:00", "2024-01-01T10:05:00"),
        RunSummary(RUN_ID, "exp", done, 6, "2024-01-02T10:00:00", "2024-01-02T10:05:00"),
        RunSummary("exp-0003", "exp", cancel, 6, "2024-01-03T10:00:00", "2024-01-03T10:01:00"),
    ]


# ------------------------------------------------------------------------------------ tables


def _table() -> vm.TableModel:
    return vm.table_model(_frame(), ["combo_id", "symbol", "bb_std", "sharpe", "profit_factor"])


def test_filter_table_narrows_rows_by_substring_of_the_shown_text():
    model = vm.TableModel(("a", "b"), ((1, "BTCUSDT"), (2.5, "ethusdt"), (None, "XBT")), (7, 8, 9))
    assert vm.filter_table(model, "") is model and vm.filter_table(model, "  ") is model
    usdt = vm.filter_table(model, "UsDt")
    assert usdt.rows == ((1, "BTCUSDT"), (2.5, "ethusdt")) and usdt.keys == (7, 8)
    assert vm.filter_table(model, "2.5").keys == (8,)  # the shown text of a number
    assert vm.filter_table(model, "nothing").empty
    assert vm.filter_table(model, "btc").columns == model.columns


@pytest.mark.parametrize("suffix", exports.TABLE_SUFFIXES)
def test_tables_are_written_from_the_model_and_read_back(tmp_path, suffix):
    model = _table()
    path = exports.write_table(model, tmp_path / f"top{suffix}")
    assert path == tmp_path / f"top{suffix}" and sorted(p.name for p in tmp_path.iterdir()) == [
        path.name
    ]  # no temp file left
    read = {
        ".csv": pd.read_csv,
        ".parquet": pd.read_parquet,
        ".xlsx": lambda p: pd.read_excel(p, engine="openpyxl"),
    }[suffix](path)
    assert list(read.columns) == list(model.columns)
    assert read["combo_id"].tolist() == list(model.column("combo_id"))
    assert read["symbol"].tolist() == ["BTCUSDT"] * 6
    assert read["sharpe"].tolist() == pytest.approx(list(model.column("sharpe")), rel=1e-15)
    pf = read["profit_factor"].tolist()
    assert pf[5] == float("inf") and pf[:5] == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4])


def test_mixed_and_missing_cells_survive_every_format(tmp_path):
    model = vm.TableModel(("n", "x", "mixed"), ((1, 0.5, "a"), (None, None, 3)), (0, 1))
    frame = exports.table_frame(model)
    assert str(frame["n"].dtype) == "Int64" and frame["mixed"].tolist() == ["a", "3"]
    for suffix in exports.TABLE_SUFFIXES:
        exports.write_table(model, tmp_path / f"m{suffix}")
    back = pd.read_parquet(tmp_path / "m.parquet")
    assert back["n"].isna().tolist() == [False, True] and back["x"].isna().tolist() == [False, True]


def test_a_failed_export_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_text("old\n")
    with pytest.raises(exports.ExportError, match="a table is written as"):
        exports.write_table(_table(), tmp_path / "t.txt")
    monkeypatch.setitem(exports._TABLE_IO, ".csv", (exports._write_csv, lambda tmp: -1))
    with pytest.raises(exports.ExportError, match="does not hold 6 rows"):
        exports.write_table(_table(), path)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["t.csv"]


# ------------------------------------------------------------------------------------ PNG


def _decode_png(data: bytes) -> np.ndarray:
    """Our own PNGs (8-bit RGBA, filter 0 on every row) back to pixels."""
    width, height = exports.png_size(data)
    pos, idat = 8, b""
    while pos < len(data):
        (n,) = np.frombuffer(data[pos : pos + 4], ">u4")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + n]
        pos += 12 + int(n)
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 4 * width)
    assert (raw[:, 0] == 0).all()
    return raw[:, 1:].reshape(height, width, 4)


def test_crop_and_png_round_trip(tmp_path):
    w, h = 7, 5
    frame = np.arange(w * h * 4, dtype=np.float32).reshape(h, w, 4) / (w * h * 4)
    rgba = exports.crop_rgba(frame.ravel(), w, h, (2, 1), (3, 2))
    assert rgba.shape == (2, 3, 4) and rgba.dtype == np.uint8
    assert (rgba == np.rint(frame[1:3, 2:5] * 255).astype(np.uint8)).all()
    clipped = exports.crop_rgba(frame.ravel(), w, h, (5, 3), (10, 10))
    assert clipped.shape == (2, 2, 4)
    with pytest.raises(exports.ExportError, match="no visible pixels"):
        exports.crop_rgba(frame.ravel(), w, h, (9, 0), (3, 3))
    path = exports.write_png(rgba, tmp_path / "c.png")
    data = path.read_bytes()
    assert exports.png_size(data) == (3, 2) and (_decode_png(data) == rgba).all()
    with pytest.raises(exports.ExportError, match="as .png"):
        exports.write_png(rgba, tmp_path / "c.jpg")


# ------------------------------------------------------------------------------------ log filter

LOG = [
    "2024-05-01 10:00:00,001 INFO    threadx.gui.backend [11] gui: connected",
    "2024-05-01 10:00:01,002 WARNING threadx.sweep.driver [12] slow task",
    "2024-05-01 10:00:02,003 ERROR   threadx.gui.app [11] failed",
    "Traceback (most recent call last):",
    '  File "x.py", line 1',
    "2024-05-01 10:00:03,004 DEBUG   threadx.guidance [13] not the gui tree",
]


def test_log_filter_by_level_and_logger():
    records = logs.parse_log(["tail of an earlier record", *LOG])
    assert [r.level for r in records] == ["?", "INFO", "WARNING", "ERROR", "DEBUG"]
    assert records[3].lines == tuple(LOG[2:5])  # the traceback belongs to its record
    assert logs.loggers(records) == (
        "all",
        "threadx.gui.app",
        "threadx.gui.backend",
        "threadx.guidance",
        "threadx.sweep.driver",
    )
    assert logs.filter_log(records) == ("tail of an earlier record", *LOG)
    assert logs.filter_log(records, "WARNING") == tuple(LOG[1:5])
    assert logs.filter_log(records, "ERROR", "threadx.sweep") == ()
    assert logs.filter_log(records, logs.ALL, "threadx.gui") == (LOG[0], *LOG[2:5])
    assert logs.filter_log(records, "INFO", "threadx.gui.backend") == (LOG[0],)


# ------------------------------------------------------------------------------------ Monte Carlo


def test_monte_carlo_model_follows_the_report_section():
    section = _mc_section()
    model = monte_carlo_model(section)
    assert model.available and model.keys == ("BTCUSDT 15m",)
    assert "200 paths per combination, seed 3, block n^(1/3) bars" in model.header
    table = model.pick(None).table
    assert table.columns == MC_COLUMNS and len(table.rows) == 4
    for row, (combo, method) in zip(
        table.rows,
        itertools.product(section["groups"][0]["combos"], ("blocks", "trades")),
        strict=True,
    ):
        s = combo["blocks" if method == "blocks" else "trades_resampled"]
        assert row[:3] == (
            combo["combo_id"],
            method,
            combo["block"] if method == "blocks" else None,
        )
        if s is None:
            assert row[3:] == (None,) * 7  # no trades: nothing made up
            continue
        want = [s[k] for k in ("return_p05", "return_p50", "return_p95", "var_5")]
        want += [s[k] for k in ("p_profitable", "max_drawdown_p50", "max_drawdown_p95")]
        assert list(row[3:]) == want
    assert table.rows[3][3:] == (None,) * 7 and table.rows[2][3] is not None
    assert (
        not monte_carlo_model(None).available and monte_carlo_model(None).header == NO_MONTE_CARLO
    )
    assert overfit_model(_report(), RUN_ID).monte_carlo == model
    assert not overfit_model({"groups": []}).monte_carlo.available


# ------------------------------------------------------------------------------------ latest run


def test_latest_completed_run():
    assert latest_completed(_runs()) == RUN_ID
    assert latest_completed([r for r in _runs() if r.status != RunState.COMPLETED]) is None
    assert latest_completed([]) is None
    unfinished = RunSummary("exp-0009", "exp", RunState.COMPLETED, 6, "2024-02-01T00:00:00")
    assert latest_completed([*_runs(), unfinished]) == "exp-0009"  # by its creation then


def _backend(runs: list[RunSummary]):
    """The backend over a fake client that knows one finished run (its spec, status, results and
    report) and the list ``runs``; no cluster view (it needs a configuration), no log file."""
    from gui.backend import Backend
    from tests.gui.gui_fakes import FakeClient

    class Client(FakeClient):
        def answer(self, method: str, *args: Any) -> Any:
            return self.spec if method == "spec" else super().answer(method, *args)

    b = Backend(cfg=None)
    for key in ("cluster", "log"):
        del b.timers[key]
    status = RunStatus(RunState.COMPLETED, RUN_ID, 1, 1, 6, 6, 1.0, 3.0)
    spec = spec_from_dict(SPEC)
    b.client = Client(_frame(), spec, list_runs=runs, status=status, report=_report())
    return b


def _loop(b, rounds: int = 6) -> list[Any]:
    out = []
    for _ in range(rounds):
        b.handle_commands()
        b.poll_due()
        b.collect(0)
        out += b.drain()
    return out


def test_backend_opens_the_latest_completed_run_once():
    from gui import snapshots

    b = _backend(_runs())
    b._due["runs"] = 0.0
    snaps = _loop(b)
    assert b.run.run is not None and b.run.run.run_id == RUN_ID
    assert any(isinstance(s, snapshots.RunsSnap) for s in snaps)
    results = [s for s in snaps if isinstance(s, snapshots.ResultsSnap)]
    assert results and results[-1].run_id == RUN_ID and results[-1].state == "completed"
    overfit = [s.model for s in snaps if isinstance(s, snapshots.OverfitSnap)]
    assert overfit[-1].available and overfit[-1].monte_carlo.available
    b.run.open_run("exp-0001")  # the user opens another run: later lists do not switch back
    b._due["runs"] = 0.0
    _loop(b, 2)
    assert b.run.run.run_id == "exp-0001"
    none = _backend([r for r in _runs() if r.status != RunState.COMPLETED])
    none._due["runs"] = 0.0
    _loop(none, 2)
    assert none.run.run is None  # no completed run: the Results view stays empty


def test_a_run_followed_before_the_first_list_is_kept():
    b = _backend(_runs())
    b.run.open_run("exp-0003")
    b._due["runs"] = 0.0
    _loop(b, 2)
    assert b.run.run.run_id == "exp-0003"


# ------------------------------------------------------------------------------------ widgets


@pytest.fixture
def dpg_context():
    dpg = pytest.importorskip("dearpygui.dearpygui")
    dpg.create_context()
    try:
        yield dpg
    finally:
        dpg.destroy_context()


def test_table_box_filters_and_exports_the_shown_rows(dpg_context, tmp_path):
    from gui import widgets

    dpg = dpg_context
    with dpg.window():
        box = widgets.TableBox("t/table", 100)
    model = _table()
    box.fill(model, empty="none")
    assert len(box.cells) == 6 and box.shown is model
    box.set_filter("inf")  # the row whose profit factor is inf
    assert [[widgets.cell_text(c) for c in r] for r in box.cells] == [list(model.text[5])]
    assert dpg.get_value("t/table/count") == "1 of 6 rows"
    path = box.export(tmp_path / "shown.xlsx")
    back = pd.read_excel(path, engine="openpyxl")
    assert back["combo_id"].tolist() == [5] and list(back.columns) == list(model.columns)
    box.fill(vm.table_model(_frame().head(3), model.columns))  # a new model: the filter holds
    assert box.cells == [] and box.shown.empty
    box.set_filter("")
    assert len(box.cells) == 3 and dpg.get_value("t/table/count") == ""
    assert pd.read_csv(box.export(tmp_path / "all.csv"))["combo_id"].tolist() == [0, 1, 2]


def test_overfit_panel_shows_the_monte_carlo_tables(dpg_context, tmp_path):
    from gui import snapshots
    from gui.view_overfit import OverfitPanel

    dpg = dpg_context
    panel = OverfitPanel()
    with dpg.window():
        panel.build()
    model = overfit_model(_report(), RUN_ID)
    panel.apply(snapshots.OverfitSnap(model))
    shown = panel.shown_text()["monte_carlo"]
    table = model.monte_carlo.pick(None).table
    assert shown["header"] == model.monte_carlo.header and shown["group"] == "BTCUSDT 15m"
    assert shown["columns"] == list(MC_COLUMNS)
    assert shown["rows"] == [list(r) for r in table.text]
    assert shown["rows"][3][:3] == ["4", "trades", ""] and shown["rows"][3][3:] == [""] * 7
    panel.monte_carlo.table.set_filter("trades")
    assert len(panel.shown_text()["monte_carlo"]["rows"]) == 2
    back = pd.read_parquet(panel.monte_carlo.table.export(tmp_path / "mc.parquet"))
    assert back["method"].tolist() == ["trades", "trades"]
    assert back["return p50"].tolist()[0] == table.rows[1][4]
    panel.apply(snapshots.OverfitSnap(overfit_model(None, "x")))
    shown = panel.shown_text()["monte_carlo"]
    assert shown["header"] == NO_MONTE_CARLO and shown["rows"] == []


def test_logs_view_filters_by_level_and_logger(dpg_context):
    from gui import snapshots
    from gui.view_runs import LogsView

    dpg = dpg_context
    view = LogsView(SimpleNamespace(active_tab=lambda: "logs"))
    with dpg.window(), dpg.tab_bar():
        view.build()
    view.apply(snapshots.LogSnap("/x/threadx.log", tuple(LOG)))
    assert dpg.get_value("logs/text") == "\n".join(LOG)
    assert "threadx.sweep.driver" in dpg.get_item_configuration("logs/logger")["items"]
    view.set_filter("WARNING", "threadx.gui")
    assert dpg.get_value("logs/text") == "\n".join(LOG[2:5])
    assert dpg.get_value("logs/path") == "log: /x/threadx.log (last 6 lines, 3 shown)"
    view.set_filter("CRITICAL")
    assert dpg.get_value("logs/text") == vm.NO_DATA


# ------------------------------------------------------------------------------------ window


@pytest.mark.gui
def test_window_opens_the_latest_run_and_saves_charts_and_tables(tmp_path):
    """The app (backend over a fake client, no Ray) in a child process under Xvfb."""
    pytest.importorskip("dearpygui.dearpygui")
    cmd = [sys.executable, "-m", "tests.gui.test_gui_exports", str(tmp_path)]
    if not os.environ.get("DISPLAY"):
        xvfb_run = shutil.which("xvfb-run")
        if xvfb_run is None:
            if os.environ.get("CI"):
                pytest.fail("CI is set but xvfb-run is missing: install xvfb and libgl1-mesa-dri")
            pytest.skip("no DISPLAY and no xvfb-run")
        cmd = [xvfb_run, "-a", "-s", "-screen 0 1600x1000x24", *cmd]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    got = json.loads((tmp_path / "child.json").read_text())
    assert got["run_id"] == RUN_ID and got["opened"] == RUN_ID
    for name, (w, h) in got["charts"].items():
        data = (tmp_path / f"{name}.png").read_bytes()
        assert exports.png_size(data) == (w, h) and w > 100 and h > 100, name
        pixels = _decode_png(data)
        assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 8, f"{name} looks empty"
        assert got["diff"][name] <= 1, name  # the screenshot's pixels in the chart's rectangle
    top = pd.read_csv(tmp_path / "results.csv")
    assert top["combo_id"].tolist() == got["top"] and len(top) == 5
    mc = pd.read_excel(tmp_path / "mc.xlsx", engine="openpyxl")
    assert list(mc.columns) == list(MC_COLUMNS) and mc["combo"].tolist() == [5, 5, 4, 4]
    assert got["written"] == sorted(
        ["heatmap.png", "pareto.png", "overfit-histogram.png", "results.csv", "mc.xlsx"]
    )


def _child(out: Path) -> None:
    """The window: open the latest run at start, save its charts and two tables."""
    import dearpygui.dearpygui as dpg

    from gui.app import ThreadXApp
    from threadx.core.config import ThreadXConfig

    backend = _backend(_runs())
    cfg = ThreadXConfig()
    app = ThreadXApp(cfg, backend=backend, width=1500, height=950, max_fps=0).build()
    backend._due["runs"] = 0.0

    def pump(until, what: str, frames: int = 600) -> None:
        for _ in range(frames):
            backend.handle_commands()
            backend.poll_due()
            backend.collect(0)
            app.step()
            if until():
                return
        raise TimeoutError(what)

    r = app.results
    pump(lambda: r.snap is not None and r.overfit.model and r.overfit.model.available, "run")
    app.show_tab("results")
    pump(lambda: app.active_tab() == "results", "results tab", 5)
    charts = {}
    for panel, names in (("charts", ("heatmap", "pareto")), ("overfit", ("overfit-histogram",))):
        r.show_panel(panel)
        for _ in range(3):
            app.step()
        for name in names:
            app.exporter.save_chart(name, out / f"{name}.png")
        shot = out / f"screen-{panel}.png"
        dpg.output_frame_buffer(file=str(shot))  # the same frame as the charts
        pump(lambda s=shot: not app.exporter.pending and s.is_file(), "charts saved", 20)
        for name in names:
            charts[name] = tuple(dpg.get_item_rect_size(_chart_tag(name)))
    r.box.export(out / "results.csv")
    r.overfit.monte_carlo.table.on_export()
    app.exporter.on_dialog(None, {"file_path_name": str(out / "mc"), "current_filter": ".xlsx"})
    diff = {}
    for panel, names in (("charts", ("heatmap", "pareto")), ("overfit", ("overfit-histogram",))):
        _w, _h, _c, full = dpg.load_image(str(out / f"screen-{panel}.png"))
        full = np.asarray(full, np.float32).reshape(_h, _w, 4)
        for name in names:
            w, h, _c, mine = dpg.load_image(str(out / f"{name}.png"))
            mine = np.rint(np.asarray(mine, np.float32).reshape(h, w, 4) * 255)
            x0, y0 = dpg.get_item_rect_min(_chart_tag(name))
            part = np.rint(full[y0 : y0 + h, x0 : x0 + w] * 255)
            diff[name] = float(np.abs(part - mine).max())
    result = {
        "run_id": r.snap.run_id,
        "opened": backend.run.run.run_id,
        "charts": charts,
        "diff": diff,
        "top": [int(k) for k in r.table.keys],
        "written": sorted(p.name for p in app.exporter.written),
    }
    app.close()
    (out / "child.json").write_text(json.dumps(result))


def _chart_tag(name: str) -> str:
    from gui.view_exports import CHARTS

    return CHARTS[name]


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
