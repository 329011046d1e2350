"""Helpers of the GUI end-to-end test (tests/gui/test_gui_e2e.py): a display that can open a
DearPyGui window, timed steps, typing into the form, starting a run, and the checks of the Results
table and heatmap against the run store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dearpygui.dearpygui as dpg
import pytest

TIMINGS: dict[str, float] = {}


def free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number in :90..:139")


PROBE = """
import dearpygui.dearpygui as dpg
dpg.create_context(); dpg.create_viewport(width=200, height=100); dpg.setup_dearpygui()
dpg.show_viewport(); dpg.render_dearpygui_frame(); dpg.destroy_context(); print("ok")
"""


def probe_display() -> None:
    """Open a tiny DearPyGui window in a child process first: a display without OpenGL would
    crash (not fail) this test process."""
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or "ok" not in proc.stdout:
        why = f"DearPyGui cannot open a window here (rc {proc.returncode}): {proc.stderr[-500:]}"
        if os.environ.get("CI"):
            pytest.fail(why + " -- install xvfb and libgl1-mesa-dri")
        pytest.skip(why)


class Step:
    """Times one step of the scenario into TIMINGS."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        TIMINGS[self.name] = time.monotonic() - self.t0


def snap(app, path: Path) -> None:
    app.screenshot(path)
    assert path.stat().st_size > 10_000, f"{path} looks empty"


def fill_form(app, name: str, tf: str, grid: dict[str, tuple[str, str]], chunk: int) -> None:
    """Type into the form widgets and fire their callback, as a user would."""
    from gui import forms
    from threadx.strategy.params import StrategyParams

    for key, value in (("name", name), ("symbols", "BTCUSDT"), ("timeframes", tf)):
        dpg.set_value(f"sweep/{key}", value)
    dpg.set_value("sweep/chunk_size", chunk)
    defaults = StrategyParams().model_dump()
    for p in forms.SweepForm().params:
        mode, text = grid.get(p.name, ("default", forms.value_text(defaults[p.name])))
        app.sweep.set_param(p.name, mode, text)


def start(app, name: str):
    """Press Start; return the run id once the progress panel shows it."""
    app.sweep.on_start()

    def started() -> bool:
        pv = app.sweep.progress
        return pv is not None and pv.run_id.startswith(name) and pv.state in ("queued", "running")

    app.pump(started, 60, f"{name} started")
    return app.sweep.progress.run_id


def state(app) -> str:
    return app.sweep.progress.state if app.sweep.progress else ""


def check_table(app, frame, spec, fmt_value, rank) -> None:
    """The table shows the top K of the run store, ranked, with the store's numbers."""
    top_k = spec.rank.top_k
    ranked = rank(frame, list(spec.rank.by)).head(top_k)
    shown = app.results.displayed_rows()
    cols = list(app.results.table.columns)
    assert len(shown) == top_k and {"rank", "combo_id", "sharpe", "bb_std"} <= set(cols)
    assert [int(r[cols.index("combo_id")]) for r in shown] == list(ranked["combo_id"])
    for row, (_, want) in zip(shown, ranked.iterrows(), strict=True):
        for col, text in zip(cols, row, strict=True):
            assert text == fmt_value(want[col]), (want["combo_id"], col, text)


def check_heatmap(app, frame, metric: str, x: str, y: str, other: str, lower=False) -> None:
    """Every drawn cell equals the store's value with ``other`` at the best row's value."""
    best = frame.loc[frame[metric].idxmin() if lower else frame[metric].idxmax()]
    sel = frame[frame[other] == best[other]]
    hm = app.results.heatmap
    assert (hm.metric, hm.x_param, hm.y_param) == (metric, x, y)
    assert hm.fixed == ((other, best[other]),)
    assert f"{other}={fmt(best[other])}" in dpg.get_value("results/heat_note")
    cells = app.results.drawn_cells()
    assert len(cells) == len(sel) == sel[x].nunique() * sel[y].nunique()
    for (i, j), value in cells.items():
        want = sel[(sel[x] == hm.x_values[i]) & (sel[y] == hm.y_values[j])][metric].item()
        assert value == pytest.approx(want, rel=1e-6, abs=1e-9), (i, j)  # heat series are float32?
    assert max(cells.values()) == pytest.approx(best[metric], rel=1e-6)


def fmt(v) -> str:
    from gui.viewmodels import fmt_value

    return fmt_value(v)
