"""View models of the desktop client, without a display (pure Python, no DearPyGui, no Ray); the
heatmap and Pareto shapes the driver serves (:mod:`threadx.sweep.shapes`) drawn as the GUI does."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gui import charts, forms
from gui import viewmodels as vm
from threadx.core.errors import ConfigError
from threadx.sweep import shapes
from threadx.sweep.spec import spec_from_dict
from threadx.sweep.states import RunStatus, cluster_info


def _heatmap(*args, **kwargs) -> vm.HeatmapModel:
    """The driver's heatmap shape of a results frame, as the Results view draws it."""
    return vm.heatmap_model(shapes.heatmap(*args, **kwargs))


def _results(grid: dict[str, list], metric_fn) -> pd.DataFrame:
    """A results frame over the full product of ``grid`` with ``metric_fn(**params)`` values."""
    import itertools

    names = list(grid)
    rows = []
    for i, combo in enumerate(itertools.product(*grid.values())):
        p = dict(zip(names, combo, strict=True))
        rows.append(
            {
                "combo_id": i,
                "symbol": "BTCUSDT",
                "timeframe": "1h",
                **p,
                "sharpe": metric_fn(**p),
                "max_drawdown": 0.01 * (i + 1),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------ heatmap


def test_heatmap_one_parameter_grid_is_a_line():
    grid = {"bb_period": [10, 20, 30]}
    frame = _results(grid, lambda bb_period: bb_period / 10.0)
    hm = _heatmap(frame, grid, "sharpe", "bb_period", "bb_std")
    assert hm.kind == "line"
    assert hm.x_values == (10, 20, 30) and hm.y_values == ()
    assert hm.values == ((1.0, 2.0, 3.0),)
    assert hm.fixed == ()
    assert hm.best == (30, None, 3.0)
    assert "others at the best sharpe: none" in hm.note


def test_heatmap_two_parameters_matrix_rows_are_y():
    grid = {"bb_period": [10, 20, 30], "bb_std": [1.5, 2.0]}
    frame = _results(grid, lambda bb_period, bb_std: bb_period + 100 * bb_std)
    hm = _heatmap(frame, grid, "sharpe", "bb_period", "bb_std")
    assert hm.kind == "heatmap"
    assert hm.x_labels == ("10", "20", "30") and hm.y_labels == ("1.5", "2")
    assert hm.values == ((160.0, 170.0, 180.0), (210.0, 220.0, 230.0))
    assert hm.flat() == [160.0, 170.0, 180.0, 210.0, 220.0, 230.0]
    assert hm.finite_range() == (160.0, 230.0)
    assert hm.fixed == () and hm.best == (30, 2.0, 230.0)


def test_heatmap_n_parameters_holds_the_others_at_the_best_row():
    grid = {
        "bb_period": [10, 20],
        "bb_std": [1.5, 2.0, 2.5],
        "atr_multiplier": [1.0, 2.0],
        "direction": ["both", "long"],
    }

    def sharpe(bb_period, bb_std, atr_multiplier, direction):
        return (
            bb_period * bb_std
            - 10 * (atr_multiplier - 2.0) ** 2
            + (5 if direction == "long" else 0)
        )

    frame = _results(grid, sharpe)
    hm = _heatmap(frame, grid, "sharpe", "bb_std", "bb_period")
    assert hm.fixed == (("atr_multiplier", 2.0), ("direction", "long"))
    assert "atr_multiplier=2" in hm.note and "direction=long" in hm.note
    sel = frame[(frame["atr_multiplier"] == 2.0) & (frame["direction"] == "long")]
    for yi, y in enumerate(hm.y_values):
        for xi, x in enumerate(hm.x_values):
            want = sel[(sel["bb_std"] == x) & (sel["bb_period"] == y)]["sharpe"].item()
            assert hm.values[yi][xi] == want
    assert max(hm.flat()) == frame["sharpe"].max()  # the best cell is on the chart


def test_heatmap_lower_is_better_and_missing_cells_stay_nan():
    grid = {"bb_period": [10, 20], "bb_std": [1.5, 2.0], "atr_period": [7, 14]}
    frame = _results(grid, lambda **p: 1.0)
    partial = frame[frame["combo_id"] != 2]  # a run still in progress: combo 2 not done yet
    hm = _heatmap(
        partial, grid, "max_drawdown", "bb_period", "bb_std", rank_by=["sharpe", "-max_drawdown"]
    )
    assert "min is best" in hm.note
    assert hm.fixed == (("atr_period", 7),)  # the smallest drawdown is combo 0 (atr 7)
    assert hm.values[0] == pytest.approx((0.01, 0.05))  # bb_std 1.5: combos 0 and 4
    assert math.isnan(hm.values[1][0])  # combo 2 (10, 2.0, 7): NaN, nothing filled in
    assert hm.values[1][1] == pytest.approx(0.07)


def test_heatmap_of_several_symbols_counts_symbol_as_a_dimension():
    grid = {"bb_period": [10, 20]}
    a = _results(grid, lambda bb_period: bb_period)
    b = _results(grid, lambda bb_period: -bb_period).assign(symbol="ETHUSDT", combo_id=[2, 3])
    hm = _heatmap(pd.concat([a, b]), grid, "sharpe", "bb_period", "symbol")
    assert hm.kind == "heatmap" and hm.y_values == ("BTCUSDT", "ETHUSDT")
    assert hm.values == ((10.0, 20.0), (-10.0, -20.0))


def test_heatmap_empty_states_say_no_data():
    grid = {"bb_period": [10, 20]}
    assert _heatmap(None, grid, "sharpe", "bb_period").note == vm.NO_DATA
    empty = _heatmap(pd.DataFrame(), grid, "sharpe", "bb_period")
    assert empty.kind == "empty" and empty.values == ()
    one = _results({}, lambda: 1.0)
    assert _heatmap(one, {}, "sharpe", None).kind == "empty"
    nan = _results(grid, lambda bb_period: math.nan)
    assert _heatmap(nan, grid, "sharpe", "bb_period").note == "no finite sharpe yet"


# ------------------------------------------------------------------------------------ decimation


def _column_extremes(y: np.ndarray, cols: np.ndarray) -> set[int]:
    out = set()
    for c in np.unique(cols):
        idx = np.flatnonzero(cols == c)
        out |= {int(idx[np.argmin(y[idx])]), int(idx[np.argmax(y[idx])])}
    return out


def test_decimation_keeps_both_ends_and_every_column_extreme():
    rng = np.random.default_rng(3)
    y = np.cumsum(rng.normal(size=100_000))
    y[12_345] += 500.0  # a one-bar spike
    y[77_777] -= 500.0
    n_cols = 800
    idx = charts.minmax_indices(y, n_cols)
    assert idx[0] == 0 and idx[-1] == len(y) - 1
    assert 12_345 in idx and 77_777 in idx
    assert len(idx) <= 3 * n_cols + 1
    assert np.all(np.diff(idx) > 0)
    cols = charts._column_of(np.arange(len(y), dtype=float), n_cols)
    assert _column_extremes(y, cols) <= set(idx.tolist())
    # the drawn envelope is exact: per column, min and max of the kept points = of all points
    for c in (0, 1, 399, 799):
        sel = cols == c
        kept = idx[cols[idx] == c]
        assert y[kept].max() == y[sel].max() and y[kept].min() == y[sel].min()


def test_decimation_keeps_every_local_extreme_of_a_zigzag():
    n_cols = 100
    y = np.tile([0.0, 1.0, 2.0, 1.0], 250)  # 250 peaks and 250 troughs in 1,000 points
    y[-1] = 5.0
    idx = charts.minmax_indices(y, n_cols)
    peaks = [i for i in range(1, len(y) - 1) if y[i] > y[i - 1] and y[i] > y[i + 1]]
    cols = charts._column_of(np.arange(len(y), dtype=float), n_cols)
    # every peak that is the highest point of its pixel column is kept, and so are both ends
    for c in range(n_cols):
        in_col = [p for p in peaks if cols[p] == c]
        assert any(p in idx for p in in_col) or not in_col
    assert {0, len(y) - 1} <= set(idx.tolist())
    assert y[idx].max() == 5.0 and y[idx].min() == 0.0


def test_decimation_of_short_series_nan_and_time_axis():
    assert charts.minmax_indices(np.arange(10.0), 100).tolist() == list(range(10))
    y = np.r_[np.full(500, np.nan), np.arange(500.0)]
    idx = charts.minmax_indices(y, 50)
    assert idx[0] == 0 and idx[-1] == 999 and 999 in idx
    x = np.r_[np.arange(500.0), 10_000 + np.arange(500.0)]  # a gap in time
    xs, ys = charts.decimate_xy(x, np.sin(x), 20)
    assert xs[0] == 0.0 and xs[-1] == x[-1] and len(xs) == len(ys) < 100
    assert charts.decimate_xy([], [], 10) == ((), ())
    with pytest.raises(ValueError):
        charts.minmax_indices(np.arange(5.0), 0)


def test_candles_merge_per_column_keeping_extremes_and_ends():
    n = 1_000
    t = np.arange(n) * 60.0
    rng = np.random.default_rng(1)
    c = 100 + np.cumsum(rng.normal(size=n))
    o = np.r_[100.0, c[:-1]]
    h, lo = np.maximum(o, c) + 1, np.minimum(o, c) - 1
    h[333] += 50
    candles = charts.decimate_ohlc(t, o, h, lo, c, 200)
    assert candles.bars_per_candle == 5 and len(candles.time) == 200
    assert candles.open[0] == o[0] and candles.close[-1] == c[-1] and candles.time[0] == 0.0
    assert max(candles.high) == h.max() and min(candles.low) == lo.min()
    assert candles.high[333 // 5] == h[333]
    same = charts.decimate_ohlc(t[:50], o[:50], h[:50], lo[:50], c[:50], 200)
    assert same.bars_per_candle == 1 and same.close == tuple(c[:50])


# ------------------------------------------------------------------------------------ progress


def _status(**kw) -> RunStatus:
    base = {
        "run_id": "r1",
        "state": "running",
        "done": 1000,
        "total": 4000,
        "fraction": 0.25,
        "done_tasks": 10,
        "total_tasks": 40,
        "elapsed_s": 30.0,
        "bar_steps_per_s": 2.5e6,
        "eta_s": 90.0,
        "per_device": {"5090": 750, "2060": 250},
        "shares": {"5090": 0.75, "2060": 0.25},
        "errors": [],
        "retries": 0,
    }
    return RunStatus.from_dict({**base, **kw})


def test_eta_text_per_state():
    assert vm.progress_model(_status()).eta_text == "ETA 01:30"
    assert vm.progress_model(_status(eta_s=None)).eta_text == "ETA 01:30"  # 30 s for 25 %
    assert vm.progress_model(_status(eta_s=4000.0)).eta_text == "ETA 1:06:40"
    assert vm.progress_model(_status(fraction=0.0, done=0, eta_s=None)).eta_text == "ETA --:--"
    done = vm.progress_model(_status(state="completed", fraction=1.0, elapsed_s=75.0))
    assert done.eta_text == "done in 01:15"
    assert vm.progress_model(_status(state="paused")).eta_text == "paused at 25.0%"
    assert vm.progress_model(_status(state="queued")).eta_text.startswith("queued")
    cancelled = vm.progress_model(_status(state="cancelled", elapsed_s=None))
    assert cancelled.eta_text == "cancelled at 25.0% after 00:00"


def test_progress_view_texts_and_shares():
    pv = vm.progress_model(_status(errors=["WorkerLost: x"], retries=1))
    assert pv.done_text == "1,000 / 4,000 combinations (10/40 tasks)"
    assert pv.rate_text == "2.5 M bar-steps/s"
    assert pv.shares == (("2060", 250, 0.25), ("5090", 750, 0.75))
    assert pv.errors == ("WorkerLost: x",) and pv.retries == 1 and pv.active
    assert vm.fmt_rate(None) == "-- bar-steps/s" and vm.fmt_rate(512.0) == "512 bar-steps/s"


# ------------------------------------------------------------------------------------ tables


def test_table_model_sort_is_stable_with_nan_last():
    frame = pd.DataFrame(
        {
            "combo_id": [5, 6, 7, 8],
            "sharpe": [1.0, np.nan, 2.0, 1.0],
            "symbol": ["A", "B", "C", "D"],
        }
    )
    t = vm.table_model(frame, ["combo_id", "sharpe", "missing", "symbol"], key="combo_id")
    assert t.columns == ("combo_id", "sharpe", "symbol") and t.keys == (5, 6, 7, 8)
    assert t.text[0] == ("5", "1", "A") and t.text[1][1] == "nan"
    up = vm.sort_table(t, "sharpe", ascending=True)
    assert up.keys == (5, 8, 7, 6)
    down = vm.sort_table(t, "sharpe", ascending=False)
    assert down.keys == (7, 5, 8, 6)  # ties keep their order, NaN stays last
    assert vm.sort_table(t, "symbol", False).column("symbol") == ("D", "C", "B", "A")
    assert vm.table_model(None, ["a"]).empty
    assert all(isinstance(v, int) for v in t.column("combo_id"))


def test_result_columns_and_formatting():
    cols = vm.result_columns(["bb_period", "bb_std"], ["sharpe", "-max_drawdown"])
    assert cols[:6] == ["rank", "combo_id", "symbol", "timeframe", "bb_period", "bb_std"]
    assert cols[6:8] == ["sharpe", "max_drawdown"] and cols.count("sharpe") == 1
    assert vm.fmt_value(np.float64(1.23456789)) == "1.23457"
    assert vm.fmt_value(True) == "true" and vm.fmt_value(np.int64(7)) == "7"
    assert vm.fmt_bytes(3 * 2**30) == "3.0 GiB" and vm.fmt_bytes(None) == vm.NO_DATA
    assert vm.tail_lines("a\nb\nc\n", 2) == ("b", "c")


def test_pareto_model_orders_the_front():
    frame = pd.DataFrame(
        {"combo_id": [0, 1, 2], "sharpe": [1.0, 2.0, 0.5], "max_drawdown": [0.1, 0.3, 0.2]}
    )
    from threadx.sweep.results import pareto_front

    m = charts.pareto_model(shapes.pareto(frame))
    assert m.front == ((0.1, 0.3), (1.0, 2.0)) and m.front_ids == (0, 1)
    assert (
        len(m.cloud[0]) == 3
        and m.note == "3 combinations; 2 on the Pareto front (max sharpe, min max_drawdown)"
    )
    assert charts.pareto_model(shapes.pareto(frame, front=pareto_front(frame))) == m
    assert charts.pareto_model(shapes.pareto(None)).note == vm.NO_DATA
    big = charts.pareto_model(shapes.pareto(pd.concat([frame] * 4), max_points=5))
    assert len(big.cloud[0]) == 4 and big.note.startswith("12 combinations (1 of 3 shown)")


# ------------------------------------------------------------------------------------ cluster


def test_cluster_rows_and_device_weights():
    ray_nodes = [  # as ray.nodes() lists them
        {
            "NodeID": "abcdef0123",
            "NodeManagerAddress": "10.0.0.1",
            "Alive": True,
            "Resources": {
                "CPU": 16.0,
                "GPU": 2.0,
                "threadx_gpu_5090": 1.0,
                "threadx_gpu_2060": 1.0,
                "memory": 2**34,
            },
        }
    ]
    nodes = vm.node_rows(cluster_info(ray_nodes, {"CPU": 16.0}, {"CPU": 8.0}))
    assert nodes.rows == (("abcdef01", "10.0.0.1", True, 16.0, 2.0, "2060, 5090", "16.0 GiB"),)
    w, note = vm.device_weights(["5090", "2060"], {})
    assert w == {"2060": 0.25, "5090": 0.75} and "rule" in note
    w, note = vm.device_weights(["A100", "H100"], {})
    assert w == {"A100": None, "H100": None} and "calibrated" in note
    w, _ = vm.device_weights(["A100", "H100"], {"A100": 1.0, "H100": 3.0})
    assert w == {"A100": 0.25, "H100": 0.75}
    assert vm.device_weights([], {})[1] == vm.NO_DATA
    workers = [
        {
            "worker_id": "w1",
            "device": "5090",
            "num_cpus": 1,
            "num_gpus": 1.0,
            "threads": 1,
            "node": "abcdef0123",
            "tasks_done": 5,
        },
        {
            "worker_id": "w2",
            "device": "2060",
            "num_cpus": 1,
            "num_gpus": 1.0,
            "threads": 1,
            "node": "abcdef0123",
            "tasks_done": 2,
        },
    ]
    rows = vm.worker_rows(workers, {"w1": 3, "w2": 2}, {"5090": 0.75, "2060": 0.25})
    assert rows.column("state") == ("busy", "idle")
    assert rows.column("weight") == ("0.75", "0.25")


def test_gpu_rows_and_catalog_rows():
    from threadx.devices import GpuInfo

    g = GpuInfo(0, "NVIDIA GeForce RTX 5090", 32 * 2**30, 2**30, 37.0, (12, 0), "570")
    assert vm.gpu_rows([g]).rows == ((0, "NVIDIA GeForce RTX 5090", "1.0 GiB / 32.0 GiB", "37 %"),)
    assert vm.gpu_rows([]).empty
    cat = pd.DataFrame(
        [
            {
                "exchange": "binance_us",
                "symbol": "BTCUSDT",
                "first": pd.Timestamp("2023-03-01", tz="UTC"),
                "last": pd.Timestamp("2023-03-21 23:59", tz="UTC"),
                "rows": 30240,
                "missing_minutes": 0,
                "missing_ratio": 0.0,
                "files": 1,
                "bytes": 1,
            }
        ]
    )
    rows = vm.catalog_rows(cat)
    assert rows.rows[0][:6] == (
        "binance_us",
        "BTCUSDT",
        "2023-03-01 00:00",
        "2023-03-21 23:59",
        "21 d 0 h",
        30240,
    )
    assert vm.catalog_rows(None).empty


# ------------------------------------------------------------------------------------ form


def test_form_round_trip_through_a_spec():
    spec = spec_from_dict(
        {
            "name": "demo",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
            "grid": {
                "bb_period": {"start": 10, "stop": 40, "step": 10},
                "bb_std": [1.5, 2.0],
                "trailing_stop": [True, False],
                "direction": ["both", "long"],
            },
            "fixed": {"fee_bps": 4.5},
            "rank": {"by": ["sharpe"], "top_k": 5},
        }
    )
    form = forms.spec_to_form(spec)
    assert form.param("bb_period") == forms.ParamField("bb_period", "range", "10:40:10")
    assert form.param("trailing_stop").text == "true, false"
    assert form.param("fee_bps").mode == "fixed"
    assert form.param("atr_period") == forms.ParamField("atr_period", "default", "14")
    again = forms.form_to_spec(form)
    assert again.normalized() == spec.normalized() and again.count() == 4 * 2 * 2 * 2


def test_form_errors_name_the_field():
    form = forms.SweepForm()
    with pytest.raises(ConfigError, match="direction: a range needs a numeric"):
        forms.form_to_spec(form.with_param("direction", "range", "1:2"))
    with pytest.raises(ConfigError, match="bb_period"):
        forms.form_to_spec(form.with_param("bb_period", "list", "10, x"))
    with pytest.raises(ConfigError, match="bb_period"):
        forms.form_to_spec(form.with_param("bb_period", "list", "1, 10"))  # rule: >= 2
    with pytest.raises(ConfigError, match="start:stop"):
        forms.form_to_spec(form.with_param("bb_std", "range", "1.5"))
    bad = forms.estimate_form(form.with_param("bb_period", "fixed", ""), None, 8.0)
    assert not bad.ok and "bb_period" in bad.error


def test_form_estimate_counts_and_sizes_from_the_catalog():
    cat = pd.DataFrame(
        [
            {
                "exchange": "binance_us",
                "symbol": "BTCUSDT",
                "first": pd.Timestamp("2023-03-01", tz="UTC"),
                "last": pd.Timestamp("2023-03-21 23:59", tz="UTC"),
            }
        ]
    )
    form = forms.SweepForm(timeframes="1h, 15m")
    est = forms.estimate_form(form, cat, 8.0)
    spec = forms.form_to_spec(form)
    bars = {("BTCUSDT", "1h"): 504, ("BTCUSDT", "15m"): 2016}
    assert forms.bars_per_dataset(spec, cat) == bars
    assert est.ok and est.count == 2 * 4 * 4 == spec.count()
    assert est.memory_bytes == spec.estimate_memory_bytes(bars)
    assert "32 combinations" in est.text and "2,016 bars" in est.text
    dated = forms.SweepForm(start="2023-03-10", end="2023-03-11")
    assert forms.bars_per_dataset(forms.form_to_spec(dated), cat) == {("BTCUSDT", "1h"): 24}
    missing = forms.estimate_form(forms.SweepForm(symbols="ETHUSDT"), cat, 8.0)
    assert not missing.ok and "ETHUSDT is not in the data catalog" in missing.error
    over = forms.estimate_form(form, cat, 1e-6)
    assert not over.ok and "above the budget" in over.error
    assert "catalog not loaded" in forms.estimate_form(form, None, 8.0).error


def test_catalog_and_form_estimate_with_coarser_timeframes(store):
    """A symbol stored only at 1h is listed with its timeframe and source, and the sweep form's
    estimate finds it for a timeframe 1h divides, and refuses one it cannot serve."""
    from gui import snapshots
    from threadx.data.synth import gbm_ohlcv

    store.write(gbm_ohlcv(2 * 1440, seed=1), exchange="binance", symbol="BTCUSDT")
    hours = gbm_ohlcv(24 * 10, seed=2, bar_minutes=60)  # 2023-01-01 .. 01-10 23:00
    store.write(hours, exchange="binance", symbol="ETHUSDT", timeframe="1h", source="eth.json")
    frame = store.list_frame(timeframes=True)
    rows = vm.catalog_rows(frame)
    assert rows.columns[:3] == ("exchange", "symbol", "timeframe") and rows.columns[-1] == "source"
    eth = dict(zip(rows.columns, rows.rows[rows.column("symbol").index("ETHUSDT")], strict=True))
    assert (eth["timeframe"], eth["span"], eth["rows"]) == ("1h", "10 d 0 h", 240)
    assert eth["source"] == "imported 1h: eth.json" and eth["last"] == "2023-01-10 23:00"
    assert vm.catalog_rows(store.list_frame()).column("symbol") == ("BTCUSDT",)  # 1m only
    spans = {(e, s): (tf, a, b) for e, s, tf, a, b in vm.catalog_spans(frame)}
    assert spans["binance", "ETHUSDT"] == (
        "1h",
        "2023-01-01T00:00:00+00:00",
        "2023-01-10T23:00:00+00:00",  # the last 1h bar's start
    )
    assert spans["binance", "BTCUSDT"][0] == "1m"
    snap = snapshots.CatalogSnap(rows, vm.catalog_spans(frame), "root")
    for catalog in (frame, snap.frame()):  # the store's frame; the spans the sweep view reads
        spec = forms.form_to_spec(forms.SweepForm(symbols="ETHUSDT", timeframes="4h, 1d"))
        assert forms.bars_per_dataset(spec, catalog) == {
            ("ETHUSDT", "4h"): 60,
            ("ETHUSDT", "1d"): 10,
        }
        assert forms.estimate_form(forms.SweepForm(symbols="ETHUSDT BTCUSDT"), catalog, 8.0).ok
        form = forms.SweepForm(symbols="ETHUSDT", timeframes="15m")
        refused = forms.estimate_form(form, catalog, 8.0)  # also from the view's spans
        assert not refused.ok and "ETHUSDT is stored only at 1h: timeframe 15m" in refused.error


# ------------------------------------------------------------------------------------ drill-down


def test_drilldown_view_of_a_reference_simulation(store):
    """Charts of a real reference run on the bundled sample: decimated, markers per trade."""
    from threadx.sample import ensure_sample
    from threadx.strategy.params import StrategyParams
    from threadx.sweep.dataset import load_dataset
    from threadx.sweep.drilldown import drilldown

    ensure_sample(store)
    ds = load_dataset(store, "BTCUSDT", "15m")
    dd = drilldown(ds, {**StrategyParams().model_dump(), "bb_period": 30, "bb_std": 2.5})
    v = charts.drilldown_model("run-1", 7, dd, n_columns=500)
    bars, trades, eq = dd["bars"], dd["trades"], dd["equity"]
    assert v.n_bars == len(bars) == 2016 and v.n_trades == len(trades) > 0
    assert v.candles.bars_per_candle == 5 and len(v.candles.time) == 404
    assert (
        v.candles.open[0] == bars["open"].iloc[0] and v.candles.close[-1] == bars["close"].iloc[-1]
    )
    assert max(v.candles.high) == bars["high"].max() and min(v.candles.low) == bars["low"].min()
    assert v.candles.time[0] == bars.index[0].timestamp()
    names = [name for name, _ in v.bands]
    assert names == ["upper", "middle", "lower"]
    upper = dict(v.bands)["upper"]
    assert len(upper[0]) < len(bars) and upper[1][-1] == bars["upper"].iloc[-1]
    assert np.nanmax(upper[1]) == bars["upper"].max()  # the band's peak survives decimation
    n_long, n_short = int((trades["side"] == 1).sum()), int((trades["side"] == -1).sum())
    assert (len(v.entries_long[0]), len(v.entries_short[0])) == (n_long, n_short)
    assert len(v.exits[0]) == v.n_trades
    assert v.equity[1][0] == eq["equity"].iloc[0] and v.equity[1][-1] == eq["equity"].iloc[-1]
    assert max(v.drawdown[1]) == eq["drawdown"].max()
    assert v.trades.columns[0] == "side" and set(v.trades.column("side")) <= {"long", "short"}
    assert "bb_period=30" in v.params_text and v.mismatches == ()
    assert v.title == "BTCUSDT 15m combination 7"
