"""`threadx sweep run` start-up: a completed run is shown from disk (no Ray, no sweep), a bad
spec is one line on stderr, and the kernel warm-up tells a compilation from a cache load.

Every test works in tmp_path (data root, logs, numba cache of the subprocesses); no wall-clock
assertions."""

from __future__ import annotations

import json
import os

import pytest

from tests.helpers import run_python
from threadx.cli import main

SPEC = """\
name = "startup"
backend = "cpu"
[data]
symbols = ["GBMT"]
timeframes = ["15m"]
[grid]
bb_period = [10, 20]
bb_std = [2.0, 2.5]
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data root with 3,000 synthetic 1-minute bars of GBMT; the working directory is tmp_path,
    so no project config applies and the logs land beside the data."""
    from threadx.data.store import OHLCVStore
    from threadx.data.synth import gbm_ohlcv

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    data = tmp_path / "data"
    OHLCVStore(data).write(gbm_ohlcv(3_000, seed=5), exchange="synth", symbol="GBMT")
    return data


def write_spec(tmp_path, text=SPEC, name="spec.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(capsys, root, *args):
    rc = main(["--data-root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_local_run_then_already_complete_without_rerun(capsys, tmp_path, root):
    spec = write_spec(tmp_path)
    rc, out, err = run_cli(capsys, root, "sweep", "run", str(spec), "--local")
    assert rc == 0, err
    assert "completed, 4 combinations" in out and "already complete" not in out
    run_id = next(
        line.split()[1].rstrip(":")
        for line in out.splitlines()
        if line.startswith("run ") and "completed" in line
    )
    manifest = root / "runs" / run_id / "manifest.json"
    before = manifest.read_bytes()

    rc, out, err = run_cli(capsys, root, "sweep", "run", str(spec), "--local")
    assert rc == 0, err
    first = out.splitlines()[0]
    assert first.startswith(f"run {run_id} already complete (finished ")
    assert first.endswith(" s); showing stored results")
    assert "top 4 of" in out and "overfitting:" in out
    assert manifest.read_bytes() == before  # nothing re-entered the run

    rc, out, err = run_cli(capsys, root, "sweep", "run", str(spec), "--local", "--fresh")
    assert rc == 0, err
    assert "already complete" not in out and "completed, 4 combinations" in out


def test_already_complete_without_local_imports_no_ray(tmp_path, root):
    from threadx.sweep import load_spec, run_local

    spec = write_spec(tmp_path)
    res = run_local(load_spec(spec), data_root=root, backend="cpu")
    assert res.manifest["status"] == "completed"
    code = f"""
        import sys
        from threadx.cli import main
        rc = main(["--data-root", {str(root)!r}, "sweep", "run", {str(spec)!r}])
        print("RAY_IMPORTED", "ray" in sys.modules, "RC", rc)
    """
    out = _python(tmp_path, code, timeout=120)
    assert f"run {res.run_id} already complete (finished " in out
    assert "showing stored results" in out and "overfitting:" in out
    assert "RAY_IMPORTED False RC 0" in out


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("bb_period = [1e30]", "bb_period"),
        ("max_hold_bars = [1e30]", "max_hold_bars"),
        ("bb_period = { start = 1e30, stop = 1e30, step = 1 }", "bb_period"),
        ("spacing_bars = [9223372036854775807]", "spacing_bars"),
    ],
)
@pytest.mark.parametrize("local", [True, False])
def test_huge_integer_parameter_is_one_line_error(capsys, tmp_path, root, line, name, local):
    spec = write_spec(tmp_path, SPEC.replace("bb_period = [10, 20]\n", "") + line + "\n")
    rc, out, err = run_cli(capsys, root, "sweep", "run", str(spec), *(["--local"] * local))
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"threadx: error: {spec}: ")
    assert name in lines[0] and "at most 10,000,000 bars" in lines[0]
    assert "Traceback" not in err and not (root / "runs").exists()


def test_max_bars_rule_names_the_parameter():
    from threadx.core.errors import ConfigError
    from threadx.strategy.params import MAX_BARS, params_from_mapping

    assert params_from_mapping({"max_hold_bars": MAX_BARS}).max_hold_bars == MAX_BARS
    for name in ("bb_period", "atr_period", "max_hold_bars", "spacing_bars", "trend_period"):
        with pytest.raises(ConfigError, match=f"{name}: {name} must be at most 10,000,000"):
            params_from_mapping({name: MAX_BARS + 1})


@pytest.mark.parametrize("line", ["bb_std = [1e308]", "atr_multiplier = [1e308]"])
def test_huge_floats_run_without_traceback(capsys, tmp_path, root, line):
    spec = write_spec(tmp_path, SPEC.replace("bb_std = [2.0, 2.5]\n", line + "\n"))
    rc, out, err = run_cli(capsys, root, "sweep", "run", str(spec), "--local")
    assert rc == 0, err
    assert "Traceback" not in err and "completed, 2 combinations" in out


def test_warm_up_in_process_is_warm_the_second_time():
    from threadx.sweep.warmup import kernel_cache_state, warm_up

    first = warm_up("cpu")
    assert first.backend == "cpu" and first.seconds >= 0 and first.events
    assert first.predicted in ("warm", "cold", "stale", "partial", "unknown")
    assert first.cold == bool(first.compiled)
    second = warm_up("cpu")  # the dispatchers hold the machine code now
    assert not second.cold and second.compiled == () and second.state == "loaded from cache"
    assert "loaded from cache" in second.message()
    assert kernel_cache_state() == "warm"  # the first call filled the cache if needed


def _python(cwd, code, timeout=600, **env):
    """``python -c code`` in ``cwd``, without RAY_ADDRESS and with ``env``: it must succeed; its
    stdout."""
    base = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = run_python(code, cwd=cwd, env={**base, **env}, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow  # one compilation of the kernels (about 10-20 s on 2 busy cores)
def test_cold_cache_compiles_once_for_every_process_and_says_so(tmp_path, root):
    """A fresh numba cache (NUMBA_CACHE_DIR in tmp_path): the first `sweep run --local` compiles
    the kernels and says so before the sweep; bars as a Ray worker gets them (read-only, from
    the object store) then load the same cache entries: nothing compiles a second time."""
    spec = write_spec(tmp_path)
    cache = str(tmp_path / "numba-cache")
    cli = f"""
        import sys
        from threadx.cli import main
        sys.exit(main(["--data-root", {str(root)!r}, "sweep", "run", {str(spec)!r}, "--local",
                       "--fresh"]))
    """
    out = _python(tmp_path, cli, NUMBA_CACHE_DIR=cache)
    lines = out.splitlines()
    compiling = [i for i, line in enumerate(lines) if "compiling kernels" in line]
    assert len(compiling) == 1, out
    line = lines[compiling[0]]
    assert "(first run on this machine) ... done in " in line, line
    assert line.endswith(" s (cached for next time)"), line
    assert compiling[0] < next(i for i, ln in enumerate(lines) if "completed, 4 combinations" in ln)

    worker = """
        import json
        import numpy as np
        from threadx.sweep.warmup import kernel_cache_state, warm_up
        from threadx.kernels import run_sweep
        from threadx.strategy.pack import pack
        before = kernel_cache_state()
        rep = warm_up("cpu")
        bars = [np.linspace(100.0, 101.0, 300) for _ in range(4)]
        for b in bars:
            b.flags.writeable = False  # as a Ray worker gets them from the object store
        from numba.core import event
        compiled = []

        class L(event.Listener):
            def on_start(self, ev):
                d = (ev.data or {}).get("dispatcher")
                compiled.append(getattr(getattr(d, "py_func", None), "__qualname__", str(d)))

            def on_end(self, ev):
                pass

        with event.install_listener("numba:compile", L()):
            run_sweep(pack([{}], *bars), 0, 299 * 60 * 10**9, 1.0, backend="cpu")
        print(json.dumps({"before": before, "cold": rep.cold, "compiled": rep.compiled,
                          "message": rep.message(), "read_only_compiled": compiled,
                          "after": kernel_cache_state()}))
    """
    again = json.loads(_python(tmp_path, worker, NUMBA_CACHE_DIR=cache).strip().splitlines()[-1])
    assert again["before"] == "warm" and not again["cold"], again
    assert again["compiled"] == [] and "loaded from cache" in again["message"]
    assert again["read_only_compiled"] == [] and again["after"] == "warm", again
    out = _python(tmp_path, cli, NUMBA_CACHE_DIR=cache)
    assert "compiling kernels" not in out and "completed, 4 combinations" in out


def test_demo_shows_a_completed_demo_run_without_ray(tmp_path, monkeypatch):
    from threadx.cli.run import DEMO_SPEC
    from threadx.data.store import OHLCVStore
    from threadx.sample import ensure_sample
    from threadx.sweep import run_local, spec_from_dict

    monkeypatch.chdir(tmp_path)
    root = tmp_path / "data"
    ensure_sample(OHLCVStore(root))
    res = run_local(spec_from_dict(DEMO_SPEC, "demo spec"), data_root=root, backend="cpu")
    code = f"""
        import sys
        from threadx.cli import main
        rc = main(["--data-root", {str(root)!r}, "demo"])
        print("RAY_IMPORTED", "ray" in sys.modules, "RC", rc)
    """
    out = _python(tmp_path, code)
    assert f"run {res.run_id} already complete (finished " in out
    assert "top 10 of" in out and "RAY_IMPORTED False RC 0" in out
