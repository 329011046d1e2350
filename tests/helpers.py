"""Small helpers shared by test modules: a results frame built from rows, a child Python."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def results_frame(rows: Iterable[tuple[str, str, dict[str, Any]]]) -> pd.DataFrame:
    """A sweep's results frame: a row per ``(symbol, timeframe, columns)``, ``combo_id`` numbered
    from 0 in the order given (dataset-major, as a run writes them)."""
    return pd.DataFrame(
        [
            {"combo_id": cid, "symbol": sym, "timeframe": tf, **cols}
            for cid, (sym, tf, cols) in enumerate(rows)
        ]
    )


def run_python(
    code: str, *, cwd: Path, env: Mapping[str, str] | None = None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -c code`` (dedented) in a fresh interpreter in ``cwd`` with ``env`` (default:
    this process's), its output captured as text; the caller checks the return code."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=None if env is None else dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def interrupt_then_resume(spec: Any, root: Path) -> tuple[Any, Any, list[dict[str, Any]]]:
    """Run ``spec`` locally for 2 tasks (interrupted), then to the end (resumed): the partial
    result, the full one and the progress seen while resuming; checks that the resumed run is
    the same run and left the first two parts untouched."""
    from threadx.sweep import run_local

    part = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2, max_tasks=2)
    assert part.manifest["status"] == "interrupted"
    first = {p.name: p.stat().st_mtime_ns for p in (part.run_dir / "results").iterdir()}
    assert len(first) == 2
    seen: list[dict[str, Any]] = []
    full = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2, progress=seen.append)
    assert full.run_id == part.run_id and full.manifest["status"] == "completed"
    for name, mtime in first.items():
        assert (full.run_dir / "results" / name).stat().st_mtime_ns == mtime
    return part, full, seen
