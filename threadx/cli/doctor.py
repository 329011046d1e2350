"""``threadx doctor``: what this machine (and its Ray cluster) can do, and what is wrong with it.

:func:`collect` gathers facts -- OS, CPU, RAM, disk, package versions, GPUs (NVML via
:func:`threadx.devices.detect_gpus`), CUDA usability for numba-cuda and cupy, the Ray cluster
(nodes, resources, token auth, dashboard bind address) and a short kernel micro-benchmark in
bar-steps/s -- and :func:`evaluate` turns them into checks (``ok`` / ``warn`` / ``fail``). The
JSON report follows :data:`SCHEMA` (JSON Schema 2020-12). ``--strict`` exits 1 when a check fails,
e.g. a multi-node cluster that accepts clients without a token, or a dashboard bound to 0.0.0.0.
Ray, cupy and numba-cuda are imported only inside functions; Ray is queried in subprocesses.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import ipaddress
import os
import platform
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadx.cli.args import Context
from threadx.core.config import ThreadXConfig
from threadx.core.errors import ThreadXError
from threadx.core.utc import now_iso

SCHEMA_VERSION = 1
REQUIRED = ("numpy", "pandas", "pyarrow", "pydantic", "numba", "ray", "psutil", "tomli-w")
OPTIONAL = ("numba-cuda", "cupy-cuda12x", "cupy-cuda11x", "cupy", "dearpygui", "fastparquet")
STATUSES = ("ok", "warn", "fail")
_NULL_STR = {"type": ["string", "null"]}
_NUM = {"type": "number", "minimum": 0}
_BENCH = {
    "type": ["object", "null"],
    "required": ["backend", "bars", "combos", "seconds", "bar_steps_per_s"],
    "properties": {
        "backend": {"enum": ["cpu", "gpu"]},
        "bars": {"type": "integer"},
        "combos": {"type": "integer"},
        "seconds": _NUM,
        "bar_steps_per_s": {"type": "number", "exclusiveMinimum": 0},
    },
}
_USABLE = {
    "type": "object",
    "required": ["usable", "reason"],
    "properties": {"usable": {"type": "boolean"}, "reason": _NULL_STR},
}
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "threadx doctor report",
    "type": "object",
    "required": [
        "schema_version",
        "generated_at",
        "os",
        "cpu",
        "memory",
        "disk",
        "packages",
        "gpus",
        "cuda",
        "cluster",
        "benchmark",
        "checks",
        "problems",
        "warnings",
    ],
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "generated_at": {"type": "string"},
        "os": {"type": "object", "required": ["system", "release", "machine", "python"]},
        "cpu": {
            "type": "object",
            "required": ["model", "logical", "physical"],
            "properties": {"logical": {"type": "integer", "minimum": 1}},
        },
        "memory": {
            "type": "object",
            "required": ["total_bytes", "available_bytes"],
            "properties": {"total_bytes": _NUM, "available_bytes": _NUM},
        },
        "disk": {"type": "object", "required": ["path", "total_bytes", "free_bytes"]},
        "packages": {"type": "object", "additionalProperties": _NULL_STR},
        "gpus": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "name", "memory_total_bytes", "compute_capability", "driver"],
                "properties": {"compute_capability": _NULL_STR},
            },
        },
        "cuda": {
            "type": "object",
            "required": ["numba_cuda", "cupy"],
            "properties": {"numba_cuda": _USABLE, "cupy": _USABLE},
        },
        "cluster": {
            "type": "object",
            "required": ["status", "address"],
            "properties": {
                "status": {"enum": ["none", "ok", "error"]},
                "address": _NULL_STR,
                "nodes": {"type": "integer"},
                "alive_nodes": {"type": "integer"},
                "auth_required": {"type": ["boolean", "null"]},
                "dashboard": {"type": "object", "required": ["url", "listen"]},
            },
        },
        "benchmark": {
            "type": "object",
            "required": ["seconds", "cpu", "gpu"],
            "properties": {"cpu": _BENCH, "gpu": _BENCH},
        },
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "status", "detail"],
                "properties": {"status": {"enum": list(STATUSES)}},
            },
        },
        "problems": {"type": "integer", "minimum": 0},
        "warnings": {"type": "integer", "minimum": 0},
    },
}


# ----------------------------------------------------------------------------- facts


def _cpu_model() -> str:
    with_name = Path("/proc/cpuinfo")
    if with_name.exists():
        for line in with_name.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("threadx", *REQUIRED, *OPTIONAL):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _system(data_root: Path) -> dict[str, Any]:
    import psutil

    vm = psutil.virtual_memory()
    probe = data_root if data_root.exists() else next(p for p in data_root.parents if p.exists())
    disk = shutil.disk_usage(probe)
    return {
        "os": {
            "system": platform.system(),
            "release": platform.release(),
            "version": platform.version(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "executable": sys.executable,
        },
        "cpu": {
            "model": _cpu_model(),
            "logical": os.cpu_count() or 1,
            "physical": psutil.cpu_count(logical=False),
            "usable": len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count(),
        },
        "memory": {"total_bytes": vm.total, "available_bytes": vm.available},
        "disk": {"path": str(data_root), "total_bytes": disk.total, "free_bytes": disk.free},
    }


def _gpus() -> list[dict[str, Any]]:
    from threadx.devices import detect_gpus

    return [
        {
            "index": g.index,
            "name": g.name,
            "label": g.label,
            "memory_total_bytes": g.memory_total,
            "memory_used_bytes": g.memory_used,
            "compute_capability": None
            if g.compute_capability is None
            else "{}.{}".format(*g.compute_capability),
            "driver": g.driver,
        }
        for g in detect_gpus()
    ]


def _cupy_usable() -> dict[str, Any]:
    try:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        value = int((cupy.arange(1000) ** 2).sum().get())
        ok = n > 0 and value == 332_833_500
        return {
            "usable": ok,
            "reason": None if ok else "cupy computed a wrong result",
            "devices": n,
        }
    except ImportError as err:
        return {"usable": False, "reason": f"cupy is not installed ({err})"}
    except Exception as err:  # CUDARuntimeError and friends: report the driver's words
        return {"usable": False, "reason": " ".join(str(err).split())[:300]}


def _cuda() -> dict[str, Any]:
    from threadx.kernels import gpu_unavailable_reason

    reason = gpu_unavailable_reason()
    return {"numba_cuda": {"usable": reason is None, "reason": reason}, "cupy": _cupy_usable()}


def benchmark(
    backend: str, seconds: float, bars: int = 20_000, combos: int = 256
) -> dict[str, Any]:
    """Kernel throughput on ``backend`` for about ``seconds`` (after one untimed warm-up run),
    by :func:`threadx.devices.measure_throughput`: bar-steps/s = bars * combos * runs / wall."""
    from threadx.devices import measure_throughput

    rate = measure_throughput(backend, seconds, n_bars=bars, n_combos=combos)
    return {
        "backend": backend,
        "bars": bars,
        "combos": combos,
        "seconds": seconds,
        "bar_steps_per_s": rate,
    }


def _listening(port: int) -> list[str]:
    """Local addresses listening on TCP ``port`` (all users' sockets on Linux)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return []
    return sorted({c.laddr.ip for c in conns if c.status == "LISTEN" and c.laddr.port == port})


def probe_cluster(address: str | None) -> dict[str, Any]:
    """Nodes, resources, auth and dashboard of the cluster at ``address`` (or the local one), by
    :func:`actors.head.cluster_status`, plus the addresses its dashboard port listens on."""
    from actors.access import running_cluster_address
    from actors.head import cluster_status

    address = address or running_cluster_address()
    if not address:
        return {"status": "none", "address": None, "dashboard": {"url": None, "listen": []}}
    try:
        info = cluster_status(address)
    except ThreadXError as err:
        return {
            "status": "error",
            "address": address,
            "error": str(err),
            "dashboard": {"url": None, "listen": []},
        }
    url = info.dashboard
    port = url.rsplit(":", 1)[-1] if url else ""
    nodes = info.cluster.nodes
    return {
        "status": "ok",
        "address": address,
        "nodes": len(nodes),
        "alive_nodes": sum(n.alive for n in nodes),
        "resources": info.cluster.total,
        "gpus": info.gpus,
        "auth_required": info.auth_required,
        "dashboard": {"url": url, "listen": _listening(int(port)) if port.isdigit() else []},
    }


def collect(
    cfg: ThreadXConfig,
    *,
    address: str | None = None,
    bench_seconds: float = 5.0,
    cluster_probe: Callable[[str | None], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Every fact of the report, then its checks (``problems`` = failed checks)."""
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generated_at": now_iso(),
    }
    report.update(_system(cfg.data_root))
    report["packages"] = _versions()
    report["gpus"] = _gpus()
    report["cuda"] = _cuda()
    report["cluster"] = (cluster_probe or probe_cluster)(address or cfg.cluster.address or None)
    report["config"] = {"source": cfg.source, "dashboard_host": cfg.cluster.dashboard_host}
    bench: dict[str, Any] = {"seconds": bench_seconds, "cpu": None, "gpu": None}
    if bench_seconds > 0:
        try:
            bench["cpu"] = benchmark("cpu", bench_seconds)
        except Exception as err:  # the report must still be written; the check fails
            bench["cpu_error"] = f"{type(err).__name__}: {err}"
        if report["cuda"]["numba_cuda"]["usable"]:
            try:
                bench["gpu"] = benchmark("gpu", bench_seconds, bars=100_000, combos=4096)
            except Exception as err:
                bench["gpu_error"] = f"{type(err).__name__}: {err}"
    report["benchmark"] = bench
    report["checks"] = evaluate(report)
    report["problems"] = sum(c["status"] == "fail" for c in report["checks"])
    report["warnings"] = sum(c["status"] == "warn" for c in report["checks"])
    return report


# ----------------------------------------------------------------------------- checks


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def _dashboard_check(cluster: dict[str, Any]) -> tuple[str, str]:
    listen = cluster.get("dashboard", {}).get("listen", [])
    url = cluster.get("dashboard", {}).get("url")
    if {"0.0.0.0", "::"} & set(listen):
        return "fail", f"dashboard listens on all interfaces ({', '.join(listen)}); bind 127.0.0.1"
    if url and not _is_loopback(url.rsplit(":", 1)[0]):
        return "warn", f"dashboard published at {url}: reachable beyond this machine"
    if url is None and cluster.get("status") == "ok":
        return "warn", "the cluster publishes no dashboard address"
    return "ok", f"dashboard at {url} (listening on {', '.join(listen) or 'unknown'})"


def _cluster_checks(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    cluster = report["cluster"]
    configured = report.get("config", {}).get("dashboard_host", "127.0.0.1")
    out = []
    if configured in ("0.0.0.0", "::"):
        out.append(
            (
                "config.dashboard_host",
                "fail",
                f"cluster.dashboard_host = {configured!r} exposes the dashboard on every "
                "interface; use 127.0.0.1 (SSH-tunnel to reach it)",
            )
        )
    if cluster["status"] == "none":
        return [*out, ("cluster", "ok", "no Ray cluster running (sweeps start an embedded one)")]
    if cluster["status"] == "error":
        return [*out, ("cluster", "fail", f"cluster {cluster['address']}: {cluster['error']}")]
    alive, auth = cluster.get("alive_nodes", 0), cluster.get("auth_required")
    if alive > 1 and not auth:
        out.append(
            (
                "cluster.auth",
                "fail",
                f"{alive} nodes and clients without a token are "
                "accepted; start the head with RAY_AUTH_MODE=token",
            )
        )
    elif not auth:
        out.append(
            ("cluster.auth", "warn", "single node, but clients without a token are accepted")
        )
    else:
        out.append(("cluster.auth", "ok", f"{alive} node(s); token authentication required"))
    out.append(("cluster.dashboard", *_dashboard_check(cluster)))
    return out


def evaluate(report: dict[str, Any]) -> list[dict[str, str]]:
    """Checks of a report: list of {name, status (ok|warn|fail), detail}."""
    pk, gb = report["packages"], 1 << 30
    missing = [p for p in REQUIRED if pk.get(p) is None]
    mem, disk = report["memory"]["available_bytes"], report["disk"]["free_bytes"]
    rows: list[tuple[str, str, str]] = [
        ("python", "ok" if sys.version_info >= (3, 11) else "fail", report["os"]["python"]),
        (
            "packages",
            "fail" if missing else "ok",
            f"missing: {', '.join(missing)}" if missing else "all required packages installed",
        ),
        ("memory", "warn" if mem < 4 * gb else "ok", f"{mem / gb:.1f} GiB available"),
        (
            "disk",
            "fail" if disk < gb else "warn" if disk < 5 * gb else "ok",
            f"{disk / gb:.1f} GiB free at {report['disk']['path']}",
        ),
    ]
    cuda = report["cuda"]["numba_cuda"]
    if report["gpus"]:
        status = "ok" if cuda["usable"] else "warn"
        rows.append(
            (
                "cuda",
                status,
                "numba-cuda usable"
                if cuda["usable"]
                else f"{len(report['gpus'])} GPU(s) but numba-cuda unusable: {cuda['reason']}",
            )
        )
    else:
        rows.append(("cuda", "ok", f"no GPU; CPU kernels only ({cuda['reason']})"))
    rows += _cluster_checks(report)
    bench = report["benchmark"]
    if bench["seconds"] > 0:
        cpu = bench.get("cpu")
        rows.append(
            (
                "benchmark.cpu",
                "ok" if cpu else "fail",
                f"{cpu['bar_steps_per_s']:.3g} bar-steps/s"
                if cpu
                else bench.get("cpu_error", "not run"),
            )
        )
    return [{"name": n, "status": s, "detail": d} for n, s, d in rows]


def render(report: dict[str, Any]) -> str:
    """A short human summary of a report."""
    cpu, mem = report["cpu"], report["memory"]
    lines = [
        f"{report['os']['system']} {report['os']['release']} / Python "
        f"{report['os']['python']} / {cpu['model']} ({cpu['logical']} threads) / "
        f"{mem['total_bytes'] / (1 << 30):.1f} GiB RAM"
    ]
    lines += [
        f"GPU {g['index']}: {g['name']} {g['memory_total_bytes'] / (1 << 30):.0f} GiB, "
        f"cc {g['compute_capability']}, driver {g['driver']}"
        for g in report["gpus"]
    ]
    for key in ("cpu", "gpu"):
        if report["benchmark"].get(key):
            lines.append(
                f"benchmark {key}: {report['benchmark'][key]['bar_steps_per_s']:,.0f} bar-steps/s"
            )
    lines += [f"[{c['status']:>4}] {c['name']}: {c['detail']}" for c in report["checks"]]
    lines.append(f"{report['problems']} problem(s), {report['warnings']} warning(s)")
    return "\n".join(lines)


# -- the verb ------------------------------------------------------------------------------
def register(verbs: argparse._SubParsersAction) -> None:
    """Add ``threadx doctor``."""
    doc = verbs.add_parser("doctor", help="check this machine, its GPUs and its Ray cluster")
    doc.add_argument("--json", type=Path, help="write the full report as JSON here")
    doc.add_argument("--strict", action="store_true", help="exit 1 when any check fails")
    doc.add_argument("--address", help="Ray cluster address (default: config, else local head)")
    doc.add_argument(
        "--bench-seconds",
        type=float,
        default=5.0,
        help="kernel micro-benchmark duration per device (0 = skip)",
    )
    doc.set_defaults(func=cmd_doctor)


def cmd_doctor(ctx: Context, args: argparse.Namespace) -> int:
    report = collect(ctx.cfg, address=args.address, bench_seconds=args.bench_seconds)
    print(render(report))
    if args.json is not None:
        from threadx.core.io import atomic_write_json

        atomic_write_json(args.json, report)  # the JSON policy (threadx.core.jsonio) does the rest
        print(f"report written to {args.json}")
    return 1 if args.strict and report["problems"] else 0
