"""bench_pipeline.py, its data and its two timed paths: the shapes, the data root and spec TOMLs it
writes, and the e2e CLI call and kernel_only that part A compares."""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up

REPO = h.REPO
DIRECTIONS = ["both", "long", "short"]


# --- shapes ---------------------------------------------------------------------------------------
# per shape, at any size: the stored series (symbol and seed; no seed = the bundled sample) and
# the timeframe swept
SERIES: dict[str, dict[str, Any]] = {
    "1": {"symbol": "GBMA", "seed": 11, "timeframe": "1h"},
    "2": {"symbol": "GBMB", "seed": 12, "timeframe": "1m"},
    "3": {"symbol": "BTCUSDT", "seed": None, "timeframe": "15m"},
}


def shapes(quick: bool) -> dict[str, dict[str, Any]]:
    """Per shape: stored series (symbol, 1m bars, seed; None = the bundled sample), timeframe
    and grid (TOML-ready: ranges as {start, stop, step}); full size: the expected combinations."""
    sizes = _QUICK_SIZES if quick else _FULL_SIZES
    return {sid: {**series, **sizes[sid]} for sid, series in SERIES.items()}


_QUICK_SIZES: dict[str, dict[str, Any]] = {
    "1": {
        "bars_1m": 20_000,
        "grid": {
            "bb_period": [10, 20],
            "bb_std": [2.0],
            "atr_period": [7, 14, 21, 28],
            "atr_multiplier": [2.0],
            "max_hold_bars": [24],
            "direction": ["both"],
        },
    },
    "2": {
        "bars_1m": 3_000,
        "grid": {
            "bb_period": [10, 20],
            "bb_std": [2.0],
            "atr_period": [7, 14],
            "atr_multiplier": [2.0],
            "direction": DIRECTIONS,
        },
    },
    "3": {
        "bars_1m": None,
        "grid": {
            "bb_period": [10, 20, 30],
            "bb_std": [1.5, 2.0],
            "atr_multiplier": [1.0, 2.0],
            "direction": ["both", "long"],
        },
    },
}
_FULL_SIZES: dict[str, dict[str, Any]] = {
    "1": {
        "bars_1m": 525_960,
        "grid": {
            "bb_period": {"start": 10, "stop": 100, "step": 2},
            "bb_std": {"start": 1.0, "stop": 3.5, "step": 0.1},
            "atr_period": [7, 14, 21, 28],
            "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0],
            "max_hold_bars": [24, 72, 168],
            "direction": DIRECTIONS,
        },
        "combos": 215_280,
    },
    "2": {
        "bars_1m": 100_000,
        "grid": {
            "bb_period": [10, 20, 30, 40, 50, 60, 80],
            "bb_std": [1.5, 2.0, 2.5],
            "atr_period": [7, 14, 21],
            "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
            "direction": DIRECTIONS,
        },
        "combos": 1_134,
    },
    "3": {
        "bars_1m": None,
        "grid": {
            "bb_period": {"start": 10, "stop": 108, "step": 2},
            "bb_std": {"start": 1.0, "stop": 3.25, "step": 0.25},
            "atr_period": [7, 14, 21, 28],
            "atr_multiplier": [1.0, 1.5, 2.0, 2.5, 3.0, 3.5],
            "max_hold_bars": [24, 72, 168],
            "spacing_bars": [0, 6, 12],
            "direction": DIRECTIONS,
        },
        "combos": 324_000,
    },
}


def write_spec(path: Path, name: str, symbol: str, timeframe: str, grid: dict[str, Any]) -> Path:
    import tomli_w

    doc = {
        "name": name,
        "backend": "cpu",
        "data": {"symbols": [symbol], "timeframes": [timeframe]},
        "grid": grid,
    }
    path.write_text(tomli_w.dumps(doc))
    return path


def setup_root(root: Path, quick: bool) -> dict[str, Any]:
    """Store the series and write every spec TOML under ``root``; returns the spec paths."""
    from threadx.data.store import OHLCVStore
    from threadx.data.synth import gbm_ohlcv
    from threadx.sample import ensure_sample
    from threadx.sweep import load_spec

    store = OHLCVStore(root / "data")
    ensure_sample(store)
    sh = shapes(quick)
    for s in sh.values():
        if s["bars_1m"] is not None:
            store.write(
                gbm_ohlcv(s["bars_1m"], seed=s["seed"]), exchange="synth", symbol=s["symbol"]
            )
    specs = root / "specs"
    specs.mkdir(exist_ok=True)
    paths: dict[str, Any] = {"data_root": str(root / "data"), "shapes": {}}
    for sid, s in sh.items():
        p = write_spec(
            specs / f"shape{sid}.toml", f"pipe-s{sid}", s["symbol"], s["timeframe"], s["grid"]
        )
        n = load_spec(p).combos_per_dataset()
        if "combos" in s and n != s["combos"]:
            raise SystemExit(
                f"bench_pipeline: shape {sid} has {n:,} combinations, expected {s['combos']:,}"
            )
        paths["shapes"][sid] = str(p)
    quarter = dict(sh["1"]["grid"], atr_period=[7])  # 1/4 of shape 1's combinations
    paths["q1h"] = str(write_spec(specs / "q1h.toml", "pipe-q1h", "GBMA", "1h", quarter))
    paths["q15m"] = str(write_spec(specs / "q15m.toml", "pipe-q15m", "GBMA", "15m", quarter))
    paths["one"] = str(
        write_spec(specs / "one.toml", "pipe-one", "BTCUSDT", "15m", {"bb_period": [20]})
    )
    ray_warm = {
        "bb_period": {"start": 10, "stop": 24, "step": 2},
        "bb_std": [1.5, 2.0, 2.5, 3.0],
        "direction": ["both", "long"],
    }  # 64 combinations: >= 16 tasks, every worker
    paths["ray_warm"] = str(
        write_spec(specs / "ray_warm.toml", "pipe-raywarm", "GBMA", "1h", ray_warm)
    )
    return paths


# --- the two timed paths (run inside the workers) -------------------------------------------------
def kernel_only(spec: Any, ds: Any, params: Any) -> tuple[float, Any]:
    """Indicators + kernel alone over the whole grid in one call: ``pack`` (parameter validation,
    Bollinger / ATR banks, crossing bits) + ``run_sweep`` on the CPU. ``params`` (the grid's
    ``param_frame``) and the bars ``ds`` are built before, untimed. Returns (seconds, output).

    The one place to switch when the library gains a dedicated "prepare indicators" function."""
    from threadx.kernels import run_sweep
    from threadx.strategy.pack import pack

    t0 = time.perf_counter()
    packed = pack(params, ds.open, ds.high, ds.low, ds.close)
    out = run_sweep(
        packed,
        int(ds.times_ns[0]),
        int(ds.times_ns[-1]),
        ds.bar_minutes,
        backend="cpu",
        blocks=spec.report.blocks,
    )
    return time.perf_counter() - t0, out


def cli_quiet(argv: list[str]) -> tuple[float, str]:
    """``threadx.cli.main(argv)`` in this process, stdout and stderr captured; (seconds, stdout)."""
    from threadx.cli import main as threadx_main

    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = threadx_main(argv)
    wall = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError(f"threadx {' '.join(argv)} exited {rc}: {err.getvalue()[-2000:]}")
    return wall, out.getvalue()


def e2e(data_root: str, spec_path: str) -> dict[str, Any]:
    """What ``threadx sweep run SPEC --local --fresh`` does, in-process: the timed call."""
    wall, text = cli_quiet(
        ["--data-root", data_root, "sweep", "run", spec_path, "--local", "--fresh"]
    )
    return {"e2e_s": wall, **run_manifest(text)}


def run_manifest(cli_stdout: str) -> dict[str, Any]:
    """The run folder printed by the CLI and what its manifest says about the task loop."""
    folder = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in cli_stdout.splitlines()
            if ln.startswith("run folder:")
        ),
        None,
    )
    if folder is None:
        return {}
    try:
        man = json.loads((Path(folder) / "manifest.json").read_text())
    except (OSError, ValueError):
        return {"run_folder": folder}
    return {
        "run_folder": folder,
        "manifest_wall_s": man.get("wall_s"),
        "manifest_status": man.get("status"),
    }


def sweep_fn(name: str) -> Callable[..., Any]:
    """``load_datasets`` / ``check_memory``: in threadx.sweep.plan since the pipeline rework
    (5d3c072), in threadx.sweep.runner before."""
    import importlib

    for mod in ("threadx.sweep.plan", "threadx.sweep.runner"):
        try:
            return getattr(importlib.import_module(mod), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"threadx.sweep.plan/runner.{name} not found")


def load_bars(data_root: str, spec_path: str) -> tuple[Any, Any]:
    """The spec and its (only) dataset's bars, as the sweep loads them."""
    from threadx.data.store import OHLCVStore
    from threadx.sweep import load_spec

    spec = load_spec(spec_path)
    return spec, sweep_fn("load_datasets")(spec, OHLCVStore(data_root))[0]
