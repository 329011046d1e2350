"""The import contract of the whole project (ARCHITECTURE.md), read statically from the source.

Every import counts: module level, inside functions, under ``TYPE_CHECKING``, and the string
routes (``importlib.import_module("x")``, ``__import__("x")`` and ``import x`` / ``from x import``
inside string literals, e.g. code handed to ``python -c``). ``sys.modules`` after an import would
see neither a lazy import nor a cycle that only closes at run time.

The arrows (see ARCHITECTURE.md, "The arrows"):

* the library (``threadx`` without ``threadx.cli``) imports no Ray, no actors, no GUI, no
  DearPyGui and not the application;
* the application (``threadx.cli``) may import everything: it is the composition root;
* ``actors`` imports no GUI and not the application;
* ``gui`` reaches the cluster only through the typed client: no ``ray``, and of ``actors`` only
  ``actors.client``;
* the kernels are arrays in, arrays out: of ThreadX only their own modules,
``threadx.strategy.metrics``,
  ``threadx.core.errors`` and ``threadx.core.units`` (constants, importing nothing); no pandas,
  no pydantic;
* sweep planning imports no execution and no reporting;
* no import cycle anywhere.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("threadx", "actors", "gui")
# `import a.b` / `from a.b import c` inside a string literal (python -c code, templates)
_STRING_IMPORT = re.compile(
    r"(?:^|[\s;])(?:from\s+([\w.]+)\s+import|import\s+([\w.]+(?:\s*,\s*[\w.]+)*))"
)


def module_name(path: Path, root: Path | None = None) -> str:
    rel = path.relative_to(root or REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _string_imports(text: str) -> set[str]:
    if "import" not in text:
        return set()
    out = set()
    for frm, names in _STRING_IMPORT.findall(text):
        out |= {frm} if frm else {n.strip() for n in names.split(",")}
    return out


def all_imports(path: Path, root: Path | None = None) -> set[str]:
    """Every module name ``path`` imports, by any route (see the module docstring); relative
    imports resolved; ``from a import b`` gives ``a`` and ``a.b``."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.add(arg.value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            out |= _string_imports(node.value)
    out.discard(me)
    return out


def project_files(packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return [p for pkg in packages for p in sorted((REPO / pkg).rglob("*.py"))]


def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Project module -> the project modules it imports (a package's ``__init__`` is not counted
    when one of its submodules is imported)."""
    files = project_files(packages)
    known = {module_name(p) for p in files}
    return {module_name(p): {m for m in all_imports(p) if m in known} for p in files}


def raw_imports() -> dict[str, set[str]]:
    """Project module -> every module name it imports (third-party ones included)."""
    return {module_name(p): all_imports(p) for p in project_files()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as ``[a, b, ..., a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def is_library(mod: str) -> bool:
    return _under(mod, "threadx") and not _under(mod, "threadx.cli")


def contract_violations(imports: dict[str, set[str]]) -> list[str]:
    """Every broken arrow of the contract, as ``module -> import: rule`` lines."""
    bad = []
    for mod, deps in sorted(imports.items()):
        for dep in sorted(deps):
            rule = None
            if is_library(mod) and _under(dep, "ray", "actors", "gui", "dearpygui", "threadx.cli"):
                rule = "the library imports no Ray, actors, GUI or application"
            elif _under(mod, "actors") and _under(dep, "gui", "dearpygui", "threadx.cli"):
                rule = "actors import no GUI and not the application"
            elif _under(mod, "gui") and (
                _under(dep, "ray") or (_under(dep, "actors") and not _under(dep, "actors.client"))
            ):
                rule = "the GUI reaches the cluster only through actors.client"
            elif _under(mod, "threadx.kernels") and (
                _under(dep, "pandas", "pydantic")
                or (
                    _under(dep, "threadx")
                    # threadx.core.units: constants that import nothing (NS_PER_YEAR's one home)
                    and not _under(
                        dep,
                        "threadx.kernels",
                        "threadx.strategy.metrics",
                        "threadx.core.errors",
                        "threadx.core.units",
                    )
                    and dep != "threadx"
                )
            ):
                rule = "kernels are arrays in, arrays out (no pandas/pydantic, no upper layer)"
            if rule:
                bad.append(f"{mod} -> {dep}: {rule}")
    return bad


def test_the_contract_holds():
    imports = raw_imports()
    assert "threadx.cli" in imports and "gui.backend" in imports and "actors.head" in imports
    assert contract_violations(imports) == []


def test_no_import_cycle_in_the_project():
    graph = import_graph()
    assert "threadx.sweep.run" in graph and "threadx.kernels.cpu" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_planning_imports_no_execution_or_reporting():
    graph = import_graph()
    downstream = {
        "threadx.sweep.execute",
        "threadx.sweep.run",
        "threadx.sweep.service",
        "threadx.sweep.overfit",
        "threadx.sweep.walkforward",
        "threadx.sweep.controller",
    }
    for planning in ("threadx.sweep.spec", "threadx.sweep.plan", "threadx.sweep.folds"):
        assert not graph[planning] & downstream, (planning, graph[planning] & downstream)


@pytest.mark.parametrize(
    ("module", "added", "rule"),
    [
        ("threadx.sweep.plan", "ray", "the library imports no Ray"),
        ("threadx.data.store", "gui.backend", "the library imports no Ray, actors, GUI"),
        ("threadx.sweep.results", "threadx.cli.sweep", "or application"),
        ("actors.worker", "gui.app", "actors import no GUI"),
        ("gui.backend", "actors.driver", "only through actors.client"),
        ("gui.app", "ray", "only through actors.client"),
        ("threadx.kernels.cpu", "pandas", "arrays in, arrays out"),
        ("threadx.kernels.layout", "threadx.strategy.pack", "arrays in, arrays out"),
    ],
)
def test_a_broken_arrow_is_found(module, added, rule):
    """The checker itself: each arrow, broken on purpose, is reported with its rule."""
    imports = raw_imports()
    imports[module] = imports[module] | {added}
    found = contract_violations(imports)
    assert any(line.startswith(f"{module} -> {added}: ") and rule in line for line in found), found


def test_every_route_counts(tmp_path):
    """Function-local, TYPE_CHECKING and string routes are all imports, and a cycle that closes
    only through a function-local import is found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import x\n    return x\n")
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "import importlib\n"
        "if TYPE_CHECKING:\n    import pkg.a\n"
        "importlib.import_module('pkg.b')\n"
        "CODE = 'import sys, ray; from actors.driver import get'\n"
    )
    got = all_imports(pkg / "c.py", tmp_path)
    assert {"pkg.a", "pkg.b", "ray", "actors.driver", "sys"} <= got
    files = sorted(pkg.glob("*.py"))
    known = {module_name(p, tmp_path) for p in files}
    graph = {module_name(p, tmp_path): all_imports(p, tmp_path) & known for p in files}
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
