"""``threadx gui [--address A] [--screenshot-dir D] [--exit-after S]``: open the desktop client.

:func:`register` adds the verb to the ``threadx`` command's sub-parsers
(``threadx/cli/__init__.py`` calls it). Without ``--address`` the client joins
``cluster.address``, else a local cluster already running on this machine, else starts an
embedded one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from threadx.core.errors import ConfigError, ThreadXError


def register(verbs: Any) -> None:
    """Add the ``gui`` verb to ``verbs`` (an ``argparse`` sub-parsers action)."""
    p = verbs.add_parser(
        "gui",
        help="open the DearPyGui desktop client",
        description="Open the desktop client: cluster, data, sweep form and progress, results "
        "(table, heatmap, Pareto front), drill-down, runs and logs.",
    )
    p.add_argument(
        "--address",
        help="Ray cluster to join (default: cluster.address, a running "
        "local cluster, else an embedded one)",
    )
    p.add_argument(
        "--screenshot-dir",
        type=Path,
        metavar="DIR",
        help="before exiting, save one PNG per view in DIR",
    )
    p.add_argument(
        "--exit-after",
        type=float,
        metavar="S",
        help="close the window after S seconds (smoke tests, screenshots)",
    )
    p.set_defaults(func=cmd_gui)


def check_display() -> None:
    """A one-line error instead of a crash when no display is available (Linux)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise ThreadXError("no display: set DISPLAY, or run under `xvfb-run threadx gui ...`")


def cmd_gui(ctx: Any, args: argparse.Namespace) -> int:
    """Run the window until it is closed (or ``--exit-after`` seconds)."""
    if args.exit_after is not None and not args.exit_after > 0:
        raise ConfigError(f"--exit-after must be > 0 seconds, got {args.exit_after}")
    check_display()
    from gui.app import ThreadXApp

    app = ThreadXApp(ctx.cfg, args.address)
    return app.run(exit_after=args.exit_after, screenshot_dir=args.screenshot_dir)
