#!/usr/bin/env python3
"""ThreadX bootstrap: the two quick-start commands.

    python3 run.py demo     # set up .venv if needed, then run the demo sweep on the bundled data
    python3 run.py test     # set up .venv if needed, then run the whole test suite
    python3 run.py test --fast   # the same without the ray, gui and slow tests (a minute or two)

Only the standard library is used here, so this works on a fresh machine with Python >= 3.11.
The virtualenv lives in ./.venv and is re-installed only when pyproject.toml changes.
Anything after the verb is passed on (``run.py test -k store``, ``run.py demo --help``), except
``--fast``, which run.py itself turns into ``-m "not ray and not gui and not slow"`` (combined
with a ``-m`` given too: ``run.py test --fast -m "not gpu"``).
Any other verb is passed to the ``threadx`` command inside the virtualenv.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
FAST = "not ray and not gui and not slow"
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".threadx-install-stamp"


def _need(extras: str) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    return f"{digest} {extras}"


def ensure_venv(extras: str = "dev") -> None:
    if not PY.exists():
        print(f"[run.py] creating virtualenv {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    want = _need(extras)
    if STAMP.exists() and STAMP.read_text().strip() == want:
        return
    print(
        f"[run.py] installing threadx[{extras}] into {VENV} (first run takes a minute)", flush=True
    )
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-q", "-e", f"{ROOT}[{extras}]"], check=True)
    STAMP.write_text(want + "\n")


def pytest_args(rest: list[str]) -> list[str]:
    """pytest's arguments for ``run.py test REST``: ``--fast`` becomes a marker expression, ANDed
    with the one of a ``-m EXPR`` / ``-m=EXPR`` / ``-mEXPR`` also given (pytest keeps only the last
    ``-m``). Arguments after ``--`` are left alone."""
    stop = rest.index("--") if "--" in rest else len(rest)
    head, tail = rest[:stop], rest[stop:]
    if "--fast" not in head:
        return rest
    out, exprs, i = [], [FAST], 0
    while i < len(head):
        arg = head[i]
        if arg == "-m" and i + 1 < len(head):
            exprs.append(head[i + 1])
            i += 1
        elif arg.startswith("-m") and arg != "-m":
            exprs.append(arg[2:].removeprefix("="))
        elif arg != "--fast":
            out.append(arg)
        i += 1
    expr = " and ".join(f"({e})" for e in exprs) if len(exprs) > 1 else FAST
    return ["-m", expr, *out, *tail]


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may run under any python3
        print(f"ThreadX needs Python >= 3.11, this is {sys.version.split()[0]}", file=sys.stderr)
        return 1
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0
    verb, rest = argv[0], argv[1:]
    ensure_venv("dev")
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if verb == "test":
        cmd = [str(PY), "-m", "pytest", *pytest_args(rest)]
        rc = subprocess.call(cmd, cwd=ROOT, env=env)
        if rc == 5:
            print("[run.py] pytest collected no tests: failing on purpose", file=sys.stderr)
            return 1
        return rc
    return subprocess.call([str(BIN / "threadx"), verb, *rest], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
