"""Tests never write into the checkout's own folders (issue 13).

``configs/threadx.toml`` puts the logs in the checkout's ``logs/`` and the store in its ``data/``.
Tests pass a temporary ``--data-root`` / ``data_root``, and ``tests/conftest.py`` sets
``$THREADX_LOGS`` (:data:`threadx.core.config.ENV_LOGS`) to a temporary folder for the whole
session, which :func:`threadx.core.config.apply_overrides` honours, in this process and in every
subprocess or Ray worker started from it. Here a CLI command runs the way the tests run it
(in-process and in a subprocess, from the repository root so the project config applies) and
the checkout's folders are compared before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from threadx.core.config import ENV_LOGS, apply_overrides, load_config
from threadx.core.errors import ConfigError
from threadx.core.log import get_logger

REPO = Path(__file__).resolve().parents[1]
WATCHED = ("logs", "data", "runs")


def checkout_state() -> dict[str, tuple[int, int] | None]:
    """mtime (ns) and size of every entry under the watched folders (None: folder absent)."""
    state: dict[str, tuple[int, int] | None] = {}
    for name in WATCHED:
        top = REPO / name
        if not top.exists():
            state[name] = None
            continue
        for p in [top, *sorted(top.rglob("*"))]:
            st = p.lstat()
            state[str(p.relative_to(REPO))] = (st.st_mtime_ns, st.st_size)
    return state


def session_logs() -> Path:
    logs = os.environ.get(ENV_LOGS)
    assert logs, f"tests/conftest.py must set ${ENV_LOGS}"
    return Path(logs).resolve()


def test_conftest_sends_logs_outside_the_checkout():
    logs = session_logs()
    assert not logs.is_relative_to(REPO)
    cfg = apply_overrides(load_config(REPO / "configs" / "threadx.toml"))
    assert cfg.logs_dir == logs
    assert cfg.data_root == REPO / "data"  # the data root is not moved by $THREADX_LOGS


def test_cli_in_process_leaves_logs_and_data_untouched(capsys, tmp_path, monkeypatch):
    from threadx.cli import main

    monkeypatch.chdir(REPO)  # ./configs/threadx.toml applies, as for a test run from the root
    marker = f"in-process marker {tmp_path.name}"
    before = checkout_state()
    assert main(["--data-root", str(tmp_path / "data"), "data", "list"]) == 0
    get_logger("threadx.tests").info(marker)  # through the file handler the command installed
    assert main(["config", "show"]) == 0
    assert f"# logs      -> {session_logs()}" in capsys.readouterr().out
    assert checkout_state() == before
    assert marker in (session_logs() / "threadx.log").read_text(encoding="utf-8")


def test_cli_subprocess_leaves_logs_and_data_untouched(tmp_path):
    marker = f"subprocess marker {tmp_path.name}"
    code = (
        "import sys; from threadx.cli import main; from threadx.core.log import get_logger; "
        f"rc = main(['--data-root', {str(tmp_path / 'data')!r}, 'data', 'list']); "
        f"get_logger('threadx.tests').info({marker!r}); sys.exit(rc)"
    )
    before = checkout_state()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert checkout_state() == before
    assert marker in (session_logs() / "threadx.log").read_text(encoding="utf-8")


def test_logs_override_keeps_the_data_root_rule(tmp_path, monkeypatch):
    """$THREADX_LOGS relaxes the project-folder rule for the log folder only."""
    conf = tmp_path / "proj" / "configs"
    conf.mkdir(parents=True)
    (conf / "threadx.toml").write_text('[paths]\ndata_root = "../../elsewhere"\n')
    monkeypatch.setenv(ENV_LOGS, str(tmp_path / "logs"))
    with pytest.raises(ConfigError, match="paths.data_root"):
        apply_overrides(load_config(conf / "threadx.toml"))
    cfg = apply_overrides(load_config(conf / "threadx.toml"), data_root=str(tmp_path / "d"))
    assert (cfg.logs_dir, cfg.data_root) == (tmp_path / "logs", tmp_path / "d")
