"""Static checks of the desktop client's layering (issue 13): the GUI reaches the cluster only
through the typed client (no Ray import, no actor calls, no driver method named by a string), its
commands are dispatched from a table, and "View" names widget classes only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUI = sorted((REPO / "gui").glob("*.py"))


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_gui_never_imports_ray_nor_calls_actors():
    for path in GUI:
        ray = {m for m in _imports(path) if m == "ray" or m.startswith("ray.")}
        assert not ray, f"{path.name} imports {ray}: go through actors.client.ThreadXClient"
        text = path.read_text()
        assert ".remote(" not in text, f"{path.name} calls an actor directly"
        assert not re.search(r"getattr\([^)]*driver", text), f"{path.name} names a driver method"


def test_no_module_calls_driver_methods_by_string():
    """Outside the client, nothing reaches the driver by ``getattr(driver, name)`` or the
    client's untyped ``call``."""
    for pkg in ("gui", "actors", "threadx/sweep"):
        for path in sorted((REPO / pkg).rglob("*.py")):
            if path.name == "client.py":
                continue
            text = path.read_text()
            assert not re.search(r"getattr\([^)]*driver", text), path
            assert not re.search(r"client\.call\(", text), path


def test_commands_are_dispatched_from_a_table():
    for path in GUI:
        text = path.read_text()
        assert 'getattr(self, f"_cmd_' not in text and 'getattr(self, f"_poll_' not in text, path


def test_view_names_widget_classes_only():
    """Classes called ``...View`` live in the widget modules (``gui/view_*.py``, DearPyGui);
    the pure models elsewhere are ``...Model``."""
    for path in GUI:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("View"):
                assert path.name.startswith("view_"), f"{path.name}: {node.name} is not a widget"
                assert "dearpygui.dearpygui" in _imports(path), (path.name, node.name)


def test_exports_are_written_only_through_atomic_writes():
    """Files the GUI exports (tables, charts) are written in gui/exports.py, each through
    threadx.core.io.atomic_write; no other GUI module writes a table or an image itself."""
    writers = re.compile(r"\.to_(csv|parquet|excel)\(|\.write_bytes\(|save_image\(|open\([^)]*\"w")
    for path in GUI:
        if path.name != "exports.py":
            assert not writers.search(path.read_text()), f"{path.name} writes a file itself"
    tree = ast.parse((REPO / "gui" / "exports.py").read_text())
    public = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    for name in ("write_table", "write_png"):
        ret = public[name].body[-1]
        assert isinstance(ret, ast.Return) and isinstance(ret.value, ast.Call), name
        assert getattr(ret.value.func, "id", None) == "atomic_write", name
