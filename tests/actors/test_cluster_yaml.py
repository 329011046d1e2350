"""cluster.yaml: accepted by Ray's launcher checks, secure defaults, start commands that work."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg() -> dict:
    return yaml.safe_load((REPO / "cluster.yaml").read_text())


def test_ray_launcher_accepts_it(cfg):
    pytest.importorskip("jsonschema")
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(cfg)  # what `ray up` does first (aborts on unsupported fields)
    validate_config(prepared)  # Ray's JSON schema
    node_types = prepared["available_node_types"]
    assert prepared["provider"]["type"] == "local" and prepared["head_node_type"] in node_types
    workers = node_types["local.cluster.node"]
    assert workers["min_workers"] == workers["max_workers"] == len(cfg["provider"]["worker_ips"])


def test_secure_defaults_and_install(cfg):
    assert cfg["provider"]["head_ip"] and cfg["provider"]["worker_ips"]
    head, worker = (
        " ".join(cfg[k]) for k in ("head_start_ray_commands", "worker_start_ray_commands")
    )
    assert "--dashboard-host=127.0.0.1" in head and "--dashboard-host" not in worker
    for cmds in (cfg["head_start_ray_commands"], cfg["worker_start_ray_commands"]):
        for cmd in (c for c in cmds if " start " in c):
            assert "RAY_AUTH_MODE=token" in cmd and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in cmd
            assert "threadx.devices --resources" in cmd  # GPUs as threadx_gpu_<label>
    assert cfg["file_mounts"]["~/threadx"] == "."
    assert cfg["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("pip install" in c and "'.[gpu]'" in c for c in cfg["setup_commands"])
    assert {".venv", ".git", "data", "runs", "logs"} <= set(cfg["rsync_exclude"])
    text = (REPO / "cluster.yaml").read_text()
    assert not re.search(r"\b[0-9a-f]{32,}\b", text)  # no token pasted in
    assert "RAY_AUTH_TOKEN=" not in text


def test_worker_start_command_expands_to_valid_arguments(cfg, tmp_path):
    """Run the worker's start command with `printf` for `ray`: the head address and the GPU
    resources JSON (detected here, maybe {}) arrive as single, valid arguments."""
    from threadx.devices import detect_gpus, node_resources

    cmd = cfg["worker_start_ray_commands"][-1]
    cmd = cmd.replace("~/threadx/.venv/bin/ray", "printf '%s\\n'").replace(
        "~/threadx/.venv/bin/python", shlex.quote(sys.executable)
    )
    out = subprocess.run(
        ["bash", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={"RAY_HEAD_IP": "10.0.0.10", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
    )
    args = out.stdout.splitlines()  # one argument per line
    assert args[:2] == ["start", "--address=10.0.0.10:6379"]
    resources = next(a for a in args if a.startswith("--resources="))
    assert json.loads(resources.split("=", 1)[1]) == node_resources(detect_gpus())
