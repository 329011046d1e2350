"""Mechanical checks of the project's shape (GUIDE.md)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_metrics_match_metrics_module():
    from threadx.strategy.metrics import METRIC_NAMES

    text = (REPO / "README.md").read_text()
    section = text.split("### Metrics", 1)[1].split("\n#", 1)[0]
    named = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert named == list(METRIC_NAMES)


def test_library_imports_no_ray_or_gui():
    """At run time too (the static contract is tests/test_import_graph.py): importing every
    module of the library (``threadx`` without the application ``threadx.cli``) loads no Ray,
    no DearPyGui and no CUDA package."""
    code = (
        "import sys, importlib, pkgutil, threadx\n"
        "for m in pkgutil.walk_packages(threadx.__path__, 'threadx.'):\n"
        "    if m.name == 'threadx.cli' or m.name.startswith('threadx.cli.'):\n"
        "        continue\n"
        "    importlib.import_module(m.name)\n"
        "bad = [m for m in ('ray', 'dearpygui', 'cupy', 'numba.cuda') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "", f"threadx imports {out.stdout.strip()} at import time"


def test_one_actor_per_file():
    for path in (REPO / "actors").glob("*.py"):
        n = len(re.findall(r"^@ray\.remote", path.read_text(), flags=re.M))
        assert n <= 1, f"{path.name} defines {n} actors"


def test_modules_stay_small():
    """No module over 600 lines: the product, its tests and its benchmarks alike."""
    for pkg in ("threadx", "actors", "gui", "tests", "benchmarks"):
        for path in (REPO / pkg).rglob("*.py"):
            n = len(path.read_text().splitlines())
            assert n <= 600, f"{path.relative_to(REPO)} has {n} lines; split it"


def test_the_formatter_owns_line_breaking():
    """At most 20 justified formatter opt-outs (none today): ruff format owns line breaking."""
    markers = ("fmt: " + "skip", "fmt: " + "off")  # split, so this test does not count itself
    found = [
        f"{path.relative_to(REPO)}:{i}"
        for pkg in ("threadx", "actors", "gui", "tests", "benchmarks")
        for path in (REPO / pkg).rglob("*.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if any(m in line for m in markers)
    ]
    assert len(found) <= 20, found
