"""``threadx cluster up|down|status``: a Ray head on this machine (token auth, dashboard on
``cluster.dashboard_host``) and what a cluster looks like. See :mod:`actors.head`."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from threadx.core.errors import ConfigError
from threadx.core.jsonio import dumps

if TYPE_CHECKING:
    from actors.head import ClusterStatus
    from threadx.cli.args import Context


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON ({err})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object such as '{\"ssd\": 1}'")
    return value


def register(verbs: argparse._SubParsersAction) -> None:
    """Add ``cluster up|down|status`` to the ``threadx`` command."""
    cl = verbs.add_parser("cluster", help="start, stop and inspect a Ray head on this machine")
    sub = cl.add_subparsers(dest="cluster_verb", metavar="CLUSTER_VERB", required=True)
    up = sub.add_parser(
        "up",
        help="start a Ray head here (token auth on and verified, dashboard "
        "on cluster.dashboard_host, GPUs as threadx_gpu_<label>) and the sweep "
        "driver",
    )
    up.add_argument("--port", type=int, default=6379, help="GCS port (default 6379)")
    up.add_argument("--num-cpus", type=int, help="CPUs to offer (default: all)")
    up.add_argument("--num-gpus", type=int, help="GPUs to offer (default: the GPUs NVML sees)")
    up.add_argument(
        "--resources",
        type=_json_object,
        metavar="JSON",
        help="extra custom resources, e.g. '{\"threadx_gpu_5090\": 1}'",
    )
    up.add_argument("--client-port", type=int, help="Ray client server port (default 10001)")
    up.add_argument(
        "--no-driver",
        action="store_true",
        help="do not create the SweepDriver (it is created on first use)",
    )
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop the head that `cluster up` started here")
    down.add_argument(
        "--all", action="store_true", help="`ray stop`: every Ray process of yours on this machine"
    )
    down.set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="nodes, resources, GPUs, token auth, dashboard")
    st.add_argument(
        "--address",
        help="GCS HOST:PORT (default: cluster.address when it is "
        "HOST:PORT, else the head started here)",
    )
    st.add_argument("--json", action="store_true", help="print the status as JSON")
    st.set_defaults(func=cmd_status)


def cmd_up(ctx: Context, args: argparse.Namespace) -> int:
    """``threadx cluster up``."""
    from actors.head import cluster_up

    for name in ("port", "client_port", "num_cpus", "num_gpus"):
        value = getattr(args, name)
        if value is not None and value < (1 if "port" in name else 0):
            raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {value}")
    info = cluster_up(
        ctx.cfg,
        port=args.port,
        num_cpus=args.num_cpus,
        num_gpus=args.num_gpus,
        extra_resources=args.resources,
        client_port=args.client_port,
        start_driver=not args.no_driver,
    )
    print(f"cluster up: GCS {info['address']}, dashboard {info['dashboard']}")
    print("auth token on (verified: a client without the token is refused; never printed)")
    print(f"GPUs: {'; '.join(info['gpus']) or 'none'}")
    if "data_root" in info:
        print(f"sweep driver: data root {info['data_root']}")
    print(
        f"jobs: RAY_AUTH_MODE=token ray job submit --address {info['dashboard']} "
        "--working-dir . -- threadx sweep run configs/sweeps/demo.toml"
    )
    print("stop: threadx cluster down")
    return 0


def cmd_down(ctx: Context, args: argparse.Namespace) -> int:
    """``threadx cluster down``."""
    from actors.head import cluster_down

    info = cluster_down(all_local=args.all)
    if info["stopped"] is None:
        print(info["note"])
        return 0
    left = f" ({info['left']} process(es) would not stop)" if info.get("left") else ""
    print(f"stopped {info['stopped']}{left}")
    return 0 if info["ok"] else 2


def _status_lines(info: ClusterStatus) -> list[str]:
    auth = (
        "required (verified: a client without the token is refused)"
        if info.auth_required
        else "OFF: anyone who reaches the cluster's ports can run code on it"
    )
    dash = info.dashboard or "none"
    if info.dashboard:
        dash += (
            " (loopback only)"
            if info.dashboard_loopback
            else " (WARNING: bound to a non-loopback address)"
        )
    nodes = info.cluster.nodes
    lines = [
        f"cluster {info.address} (Ray {info.ray_version}): {len(nodes)} node(s)",
        f"token auth: {auth}",
        f"dashboard: {dash}",
    ]
    lines += [f"  node {n.address} alive={n.alive} CPU={n.cpus:g} GPU={n.gpus:g}" for n in nodes]
    gpus = ", ".join(f"{label} x{count}" for label, count in sorted(info.gpus.items()))
    lines.append(f"GPUs by label: {gpus or 'none'}")
    avail = {k: v for k, v in info.cluster.available.items() if k in ("CPU", "GPU")}
    lines.append(f"available: {json.dumps(avail)}")
    return lines


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    """``threadx cluster status``."""
    from actors.head import cluster_status

    configured = ctx.cfg.cluster.address
    default = configured if configured and ":" in configured and "://" not in configured else None
    info = cluster_status(args.address or default)
    print(
        dumps(info.to_dict(), sort_keys=False)
        if args.json
        else "\n".join(_status_lines(info)) + "\n",
        end="",
    )
    return 0
