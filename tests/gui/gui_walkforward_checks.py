"""Checks of the walk-forward end-to-end scenario (the test itself is in tests/gui/test_gui_e2e.py:
one DearPyGui viewport per process, so every GUI scenario shares that module's app fixture).

A walk-forward run is submitted through the backend as the sweep form does; the Walk-forward
panel's fold table, degradation line and equity plot are checked against the run's
``walk_forward.json`` and ``oos_equity.parquet`` read from disk, and ``client.walk_forward(run_id)``
against the same files. A run without ``[walk_forward]`` shows "not a walk-forward run".
"""

from __future__ import annotations

import pandas as pd

WF_SPEC = {
    "name": "gui-wf",
    "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
    "grid": {
        "bb_period": [10, 20, 40],
        "bb_std": [1.5, 2.5],
        "atr_multiplier": [1.5, 3.0],
        "direction": ["both", "long", "short"],
    },
    "fixed": {"slippage_bps": 1.0},
    "rank": {"by": ["sharpe", "-max_drawdown"]},
    "chunk_size": 12,
    "walk_forward": {"train": "7d", "test": "2d", "step": "2d"},
}
PLAIN_SPEC = {
    "name": "gui-wf-plain",
    "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
    "grid": {"bb_period": [10, 20]},
}


def run_to_completion(app, spec: dict) -> str:
    """Submit ``spec`` as the form's Start does; the run id once it has completed."""
    app.send("submit", spec=spec)

    def done() -> bool:
        pv = app.sweep.progress
        return (
            pv is not None and pv.run_id.startswith(spec["name"] + "-") and pv.state == "completed"
        )

    app.pump(done, 240, f"{spec['name']} completed")
    return app.sweep.progress.run_id


def panel_shows(app, run_id: str, available: bool):
    def check() -> bool:
        v = app.results.walk_forward.model
        return v is not None and v.run_id == run_id and v.available == available

    return check


def check_fold_table(shown: dict, rep: dict) -> None:
    """Every cell of the fold table against the report's numbers (as the panel formats them)."""
    cols = shown["columns"]
    assert cols[:3] == ["fold", "train", "test"] and cols[-5:] == [
        "IS_sharpe",
        "OOS_sharpe",
        "OOS_return",
        "OOS_trades",
        "equity",
    ]
    params = cols[3:-5]
    assert set(params) == set(WF_SPEC["grid"])
    assert len(shown["folds"]) == len(rep["folds"]) == rep["degradation"]["n_folds"] == 7
    for row, f in zip(shown["folds"], rep["folds"], strict=True):
        cell = dict(zip(cols, row, strict=True))
        ts = {k: pd.Timestamp(f[k]) for k in ("train_start", "train_end", "test_start", "test_end")}
        assert cell["fold"] == str(f["fold"])
        assert cell["train"] == f"{ts['train_start']:%m-%d %H:%M}..{ts['train_end']:%m-%d %H:%M}"
        assert cell["test"] == f"{ts['test_start']:%m-%d %H:%M}..{ts['test_end']:%m-%d %H:%M}"
        for p in params:
            assert cell[p] == (
                f["params"][p] if isinstance(f["params"][p], str) else f"{f['params'][p]:g}"
            ), (f["fold"], p)
        assert cell["IS_sharpe"] == f"{f['in_sample']['sharpe']:.3g}"
        assert cell["OOS_sharpe"] == f"{f['out_of_sample']['sharpe']:.3g}"
        assert cell["OOS_return"] == f"{f['out_of_sample']['total_return']:+.2%}"
        assert cell["OOS_trades"] == str(f["out_of_sample"]["n_trades"])
        assert cell["equity"] == f"{f['end_equity']:,.2f}"
