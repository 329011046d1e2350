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
