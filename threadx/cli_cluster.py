"""``threadx cluster up|down|status``."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadx.cli import Context


def register(verbs: argparse._SubParsersAction) -> None:
    cl = verbs.add_parser("cluster", help="start, stop and inspect a local Ray head")
    sub = cl.add_subparsers(dest="cluster_verb", metavar="CLUSTER_VERB", required=True)
    up = sub.add_parser("up", help="start a Ray head here (dashboard on cluster.dashboard_host, "
                        "token auth on) with the sweep driver")  # fmt: skip
    up.add_argument("--port", type=int, default=6379, help="GCS port (default 6379)")
    up.add_argument("--num-cpus", type=int)
    up.add_argument("--num-gpus", type=int)
    up.add_argument("--resources", type=json.loads, help="extra resources as JSON")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop Ray on this machine").set_defaults(func=cmd_down)
    st = sub.add_parser("status", help="nodes, resources, GPUs, auth")
    st.add_argument("--address")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)


def cmd_up(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.cluster import cluster_up

    info = cluster_up(ctx.cfg, port=args.port, num_cpus=args.num_cpus, num_gpus=args.num_gpus,
                      resources=args.resources)  # fmt: skip
    print(f"cluster up: GCS {info['address']}, dashboard {info['dashboard']}, auth token on")
    print(f"GPUs: {', '.join(info['gpus']) or 'none'}; data root {info.get('data_root')}")
    print(f"submit jobs with: RAY_AUTH_MODE=token ray job submit --address {info['dashboard']} "
          "--working-dir . -- threadx sweep run configs/sweeps/demo.toml")  # fmt: skip
    return 0


def cmd_down(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.cluster import cluster_down

    info = cluster_down()
    print(f"stopped {info['stopped'] or 'no running cluster'}")
    return 0 if info["ok"] else 2


def cmd_status(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.cluster import cluster_status

    info = cluster_status(args.address)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"cluster {info['address']}: {len(info['nodes'])} node(s); auth required: "
          f"{info['auth_required']}")  # fmt: skip
    for n in info["nodes"]:
        res = n["resources"]
        print(f"  node {n['address']} alive={n['alive']} CPU={res.get('CPU', 0):g} "
              f"GPU={res.get('GPU', 0):g}")  # fmt: skip
    print(f"GPUs by label: {info['gpus'] or 'none'}")
    avail = {k: v for k, v in info["available"].items() if k in ("CPU", "GPU")}
    print(f"available: {json.dumps(avail)}")
    return 0
