"""Windows readiness, checked on Linux: the store, an import, a local sweep, the ingest tests and
stopping a cluster head's processes pass in a Python where ``fcntl`` cannot be imported and the
POSIX process-group calls do not exist.

Windows has neither ``fcntl`` nor ``os.setsid``/``os.killpg``/``os.getpgid``; a module that reaches
for them fails there at import or on first use. The child process below removes them before
anything else is imported, then runs the tests; ``filelock`` falls back to its soft lock there, as
it picks ``msvcrt`` on Windows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = ("setsid", "killpg", "getpgid", "setpgid", "getpgrp", "setpgrp")
SELECTION = [
    "tests/data/test_store.py",
    "tests/data/test_importers.py",
    "tests/data/test_binance.py",
    "tests/sweep/test_sweep.py::test_run_local_results_equal_reference",
    "tests/core/test_foundations.py",
    "tests/actors/test_cluster.py::test_stop_head_stops_only_its_session_and_descendants",
]
# A SIGKILLed holder leaves filelock's soft lock file behind (the only lock Linux has without
# fcntl); Windows' msvcrt lock dies with its holder as fcntl's does, so that case is not Windows'.
DESELECT = "tests/data/test_binance.py::test_killed_ingest_process_resumes_without_loss"

BOOT = f"""
import os, sys
sys.modules["fcntl"] = None  # `import fcntl` raises ImportError from here on
for name in {POSIX_ONLY!r}:
    if hasattr(os, name):
        delattr(os, name)
import filelock, pytest
assert filelock.FileLock.__name__ == "SoftFileLock", filelock.FileLock
code = pytest.main(sys.argv[1:])
bad = sorted(m for m, mod in sys.modules.items() if m == "fcntl" and mod is not None)
assert not bad, bad
sys.exit(code)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_store_import_sweep_and_ingest_without_fcntl_or_process_groups(tmp_path):
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    args = ["-q", "-p", "no:cacheprovider", "-W", "ignore::UserWarning"]
    args += ["--deselect", DESELECT, *SELECTION]
    out = subprocess.run(
        [sys.executable, "-c", BOOT, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=880,
    )
    tail = (out.stdout + out.stderr)[-3000:]
    assert out.returncode == 0, tail
    summary = [line for line in out.stdout.splitlines() if line.strip()][-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
