"""Smoke tests of the peer benchmarks at tiny sizes: the code paths run and the numbers add up.

No timing is asserted (GUIDE.md: speed targets live in benchmarks/, as ratios); only that every
reported number is positive and consistent (bar_steps = bars x combinations).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _flags(**options: object) -> list[str]:
    """A benchmark's command line: ``min_time=0`` is ``--min-time 0``, ``quick=True`` is
    ``--quick``."""
    argv: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def _check_peer(p: dict, bars: int) -> None:
    assert p["combos"] > 0
    assert p["bar_steps"] == bars * p["combos"]
    assert p["wall_s"] > 0 and p["bar_steps_per_s"] > 0
    assert p["bar_steps_per_s"] == pytest.approx(p["bar_steps"] / p["wall_s"])
    assert p["peak_rss_mib"] > 0 and p["peak_rss_mib"] >= p["rss_before_warmup_mib"]
    assert min(p["all_wall_s"]) == pytest.approx(p["wall_s"])
    assert p["n_trades_total"] > 0


def _check_common(out: dict, bars: int, combos: int) -> None:
    assert out["bars"] == bars
    assert out["combinations"] == combos
    assert out["bar_steps"] == bars * combos


def test_cpu_vs_vectorbt_threadx_side(tmp_path):
    bench = _load("bench_cpu_vs_vectorbt")
    path = tmp_path / "out.json"
    out = bench.main(
        _flags(bars=3000, combos=12, repeat=2, min_time=0, skip_vectorbt=True, json=path)
    )
    _check_common(out, 3000, 12)
    tx = out["peers"]["threadx"]
    _check_peer(tx, 3000)
    assert len(tx["all_wall_s"]) == 2
    assert tx["pack_s"] > 0 and tx["kernel_s"] > 0
    assert tx["grid_s"] + tx["pack_s"] + tx["kernel_s"] <= tx["wall_s"] * 1.001
    assert json.loads(path.read_text())["bar_steps"] == 3000 * 12


def test_cpu_vs_vectorbt_both_peers():
    pytest.importorskip(
        "vectorbt",
        reason="vectorbt (the 'bench' extra) is not installed: "
        "`.venv/bin/pip install vectorbt` to run the vectorbt peer",
    )
    bench = _load("bench_cpu_vs_vectorbt")
    out = bench.main(_flags(bars=2500, combos=8, repeat=1, min_time=0, vbt_batch=4))
    _check_common(out, 2500, out["combinations"])
    assert out["combinations"] >= 8
    for p in out["peers"].values():
        _check_peer(p, 2500)
    vbt = out["peers"]["vectorbt"]
    assert vbt["batches"] >= 2  # the grid went through several from_signals calls
    assert vbt["combos"] == out["peers"]["threadx"]["combos"]
    ratio = out["peers"]["threadx"]["bar_steps_per_s"] / vbt["bar_steps_per_s"]
    assert out["ratio_threadx_over_vectorbt"] == pytest.approx(ratio)


def test_bench_gpu_cpu_backend_in_chunks():
    bench = _load("bench_gpu")
    out = bench.main(_flags(backend="cpu", combos=50, bars=3000, chunk=16))
    _check_common(out, 3000, 50)
    cpu = out["peers"]["cpu"]
    _check_peer(cpu, 3000)
    assert cpu["n_chunks"] == 4 and cpu["chunk"] == 16
    assert "gpu" not in out["peers"]


def test_bench_gpu_grid_default_is_302400():
    bench = _load("bench_gpu")
    g = bench.grid(bench.DEFAULT_COMBOS)
    n = 1
    for values in g.values():
        n *= len(values)
    assert n == bench.DEFAULT_COMBOS == 302_400


def test_bench_gpu_without_cuda_says_why():
    from threadx.kernels import gpu_unavailable_reason

    if gpu_unavailable_reason() is None:
        pytest.skip("a CUDA device is usable here")
    bench = _load("bench_gpu")
    with pytest.raises(SystemExit, match="CUDA is not usable"):
        bench.main(_flags(combos=10, bars=100))


def test_bench_gpu_gpu_path_on_cuda_simulator(tmp_path):
    """The GPU worker's path (launch, chunking, device name) under numba's CUDA simulator."""
    path = tmp_path / "gpu.json"
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "bench_gpu.py"),
            *_flags(combos=12, bars=120, chunk=8, json=path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(path.read_text())
    _check_common(out, 120, 12)
    for name in ("gpu", "cpu"):
        _check_peer(out["peers"][name], 120)
        assert out["peers"][name]["n_chunks"] == 2
    assert out["peers"]["gpu"]["n_trades_total"] == out["peers"]["cpu"]["n_trades_total"]
    assert out["ratio_gpu_over_cpu"] > 0


# --- bench_pipeline.py (issue 12): the keys of its JSON, at --quick sizes ------------------------
PIPELINE_SHAPE_KEYS = {
    "bars",
    "combos",
    "bar_steps",
    "e2e_s",
    "kernel_s",
    "ratio_kernel_over_e2e",
    "host_us_per_combo",
    "backtests_per_min",
    "e2e_bar_steps_per_s",
    "all_e2e_s",
    "all_kernel_s",
}
PIPELINE_MEMORY_KEYS = {
    "bars",
    "combos",
    "estimate_mib",
    "sweep_peak_rss_mib",
    "peak_over_estimate",
    "rss_before_mib",
    "growth_mib",
}


def _check_pipeline(out: dict, path: Path, shapes: list[str]) -> dict:
    data = json.loads(path.read_text())
    assert data["benchmark"] == "bench_pipeline" and data["quick"] is True
    assert sorted(data["shapes"]) == shapes
    for sid in shapes:
        assert PIPELINE_SHAPE_KEYS <= set(data["shapes"][sid])
        assert data["shapes"][sid]["bar_steps"] == (
            data["shapes"][sid]["bars"] * data["shapes"][sid]["combos"]
        )
        assert PIPELINE_MEMORY_KEYS <= set(data["memory"][sid])
    assert {"warm_s", "all_warm_s"} <= set(data["startup"])
    assert {"id", "value", "target", "verdict"} <= set(data["checks"][0])
    assert {c["verdict"] for c in data["checks"]} <= {"PASS", "FAIL", "n/a"}
    assert out["shapes"].keys() == data["shapes"].keys()
    return data


def test_bench_pipeline_quick(tmp_path):
    """Parts A, C (warm), D, E and F at tiny sizes; no Ray, no vectorbt, no cold start."""
    bench = _load("bench_pipeline")
    path = tmp_path / "pipeline.json"
    out = bench.main(
        _flags(
            quick=True,
            repeat=1,
            startup_repeat=1,
            skip_ray=True,
            skip_vectorbt=True,
            skip_cold=True,
            json=path,
        )
    )
    data = _check_pipeline(out, path, ["1", "2", "3"])
    assert data["ray"] is None and data["vectorbt"] is None
    assert "cold_s" not in data["startup"] and "resubmit_s" not in data["startup"]
    assert {"q1h", "q15m", "growth"} <= set(data["memory"])
    assert data["memory"]["q15m"]["bars"] > data["memory"]["q1h"]["bars"]
    assert data["memory"]["q1h"]["combos"] * 4 == data["memory"]["1"]["combos"]


@pytest.mark.ray
@pytest.mark.timeout(600)
def test_bench_pipeline_quick_ray_vectorbt_cold(tmp_path):
    """Parts B (embedded Ray cluster), C (cold start, re-submit) and G (vectorbt) at tiny sizes."""
    pytest.importorskip("vectorbt", reason="vectorbt (the 'bench' extra) is not installed")
    bench = _load("bench_pipeline")
    path = tmp_path / "pipeline.json"
    out = bench.main(
        _flags(quick=True, shapes="1,2", repeat=1, startup_repeat=1, vbt_combos=1, json=path)
    )
    data = _check_pipeline(out, path, ["1", "2"])
    assert {"ray_s", "kernel_s", "ratio_kernel_over_ray", "fixed_s", "fixed_total_s"} <= set(
        data["ray"]
    )
    assert {"start_s", "driver_s", "workers_s", "teardown_s"} <= set(data["ray"]["fixed_s"])
    assert {"cold_s", "resubmit_s"} <= set(data["startup"])
    vbt = data["vectorbt"]
    assert {"ratio_threadx_over_vectorbt", "vectorbt_bar_steps_per_s", "subset"} <= set(vbt)
    assert vbt["subset"] is True and vbt["vectorbt_combos"] < data["shapes"]["2"]["combos"]


# --- bench_search.py (issue 15): every part at --quick sizes ---------------------------------
@pytest.mark.timeout(600)
def test_bench_search_quick(tmp_path):
    bench = _load("bench_search")
    path = tmp_path / "search.json"
    out = bench.main(_flags(quick=True, json=path))
    assert json.loads(path.read_text())["edge"]["budget"] == out["edge"]["budget"]
    edge = out["edge"]
    assert edge["grid"]["rows"] == 540 and edge["budget"] == 27 and edge["share"] == 0.05
    runs = sorted((r["best"], -r["grid_rank"]) for m in ("tpe", "random", "nsga2") for r in edge[m])
    assert [-k for _, k in runs] == sorted((-k for _, k in runs), reverse=True)  # better: higher
    for method in ("tpe", "random", "nsga2"):
        (run,) = edge[method]
        assert 0 < run["rows"] <= 27 and run["best"] <= edge["grid_best"]
        assert 1 <= run["grid_rank"] <= 540
        assert (run["grid_rank"] == 1) == (run["best"] == edge["grid_best"])
        assert 0 < run["hv"] <= edge["grid_hv"] * (1 + 1e-9)
    assert edge["tpe"][0]["ask_s"] > 0 and edge["tpe"][0]["kernel_s"] > 0
    scale = out["scale"]
    assert scale["grid"]["rows"] == 131_072
    assert scale["sobol"]["rows"] == scale["random"]["rows"] == 131_072
    assert scale["sobol_vs_grid"] > 0 and scale["random_vs_grid"] > 0
    for method, trials in (("tpe", 300), ("nsga2", 600)):
        r = scale[method]
        assert 0.9 * trials <= r["rows"] <= trials and r["asks"] >= r["rows"]
        assert r["ask_s"] > 0 and r["tell_s"] > 0 and r["ask_ms_last"] > 0
