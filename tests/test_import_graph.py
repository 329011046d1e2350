"""Static import graph of the sweep pipeline: no cycles among the modules of ``threadx/sweep/``
and ``threadx/kernels/``, function-local imports included (issue 12; issue 13 extends it).

The graph is read from the source with :mod:`ast`, so an import inside a function counts as much
as one at the top of a module (``sys.modules`` after import would see neither a lazy import nor a
cycle that only closes at run time).
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("threadx/sweep", "threadx/kernels")


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that ``path`` imports anywhere (module level or in a function):
    ``import a.b``, ``from a.b import c`` (``a.b.c`` when that is a module itself) and relative
    imports. The package ``__init__`` of an imported submodule is not counted as imported."""
    me = module_name(path)
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
    return {m for m in out if m in known and m != me}


def import_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in sorted((REPO / pkg).rglob("*.py"))]
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) for p in files}


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


def test_no_import_cycle_in_sweep_and_kernels():
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


def test_kernels_import_nothing_of_the_sweep_layer():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("threadx.kernels"):
            assert not {d for d in deps if d.startswith("threadx.sweep")}, (mod, deps)


def test_kernels_are_arrays_in_arrays_out():
    """The kernels package reads its layout, the metric constants and the error types, nothing
    else of ThreadX: parameter validation, bank planning and indicators live one layer up
    (``threadx.strategy.pack``), and the layer above may import the kernels, not the reverse."""
    files = sorted((REPO / "threadx").rglob("*.py"))
    known = {module_name(p) for p in files}
    allowed = {"threadx.metrics", "threadx.errors"}
    for path in sorted((REPO / "threadx/kernels").rglob("*.py")):
        deps = imported_modules(path, known)
        outside = {d for d in deps if not d.startswith("threadx.kernels")} - allowed
        assert not outside, (module_name(path), sorted(outside))


def test_importing_the_kernels_changes_no_process_state():
    """No process-global side effect at import: the environment is the same before and after."""
    import subprocess
    import sys

    code = (
        "import os; before = dict(os.environ); "
        "import threadx.kernels, threadx.kernels.cpu, threadx.kernels.layout, "
        "threadx.strategy.pack; "
        "changed = sorted(k for k in set(before) | set(os.environ) "
        "if before.get(k) != os.environ.get(k)); print(changed)"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        check=True,
        timeout=120,
    ).stdout.strip()
    assert out == "[]", out


def test_the_checker_sees_function_local_cycles(tmp_path):
    """The checker itself: a cycle that closes only through a function-local import is found."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from pkg.a import x\n    return x\n")
    files = sorted(pkg.glob("*.py"))
    known = {".".join(p.relative_to(tmp_path).with_suffix("").parts) for p in files}
    known = {k.removesuffix(".__init__") for k in known}
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        graph = {module_name(p): imported_modules(p, known) for p in files}
    finally:
        REPO = saved
    assert find_cycle(graph) in (["pkg.a", "pkg.b", "pkg.a"], ["pkg.b", "pkg.a", "pkg.b"])
