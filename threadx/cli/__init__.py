"""The ``threadx`` command.

Shape: ``threadx [--config FILE] [--data-root DIR] [--log-level L] VERB ...``. Exit code 0 on
success; on a user error a one-line reason on stderr and exit code 2. Nothing is parsed at import
time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from threadx.cli.args import Context
from threadx.core.config import apply_overrides, load_config
from threadx.core.errors import ThreadXError


def _add_global(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", help="config TOML (default: $THREADX_CONFIG, ./configs/threadx.toml)"
    )
    p.add_argument("--data-root", help="override paths.data_root")
    p.add_argument("--log-level", help="override logging.level (DEBUG, INFO, WARNING, ...)")


def build_parser() -> argparse.ArgumentParser:
    """The composition root of the command: each verb module adds its verbs (``register``); the
    desktop client's verb comes from the ``gui`` package, imported here and nowhere else in
    ``threadx`` (the library below ``threadx.cli`` never imports gui/ or actors/)."""
    from gui import cli as gui_verbs
    from threadx.cli import cluster, data, doctor, run, sweep

    parser = argparse.ArgumentParser(
        prog="threadx", description="ThreadX: parameter-sweep backtester for crypto OHLCV."
    )
    _add_global(parser)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    cfg = verbs.add_parser("config", help="show the effective configuration")
    cfg_sub = cfg.add_subparsers(dest="config_verb", required=True)
    cfg_sub.add_parser("show", help="print the effective config as TOML").set_defaults(
        func=cmd_config_show
    )
    for module in (data, run, sweep, cluster, doctor, gui_verbs):
        module.register(verbs)
    return parser


def cmd_config_show(ctx: Context, args: argparse.Namespace) -> int:
    import tomli_w

    print(f"# effective configuration (from {ctx.cfg.source})")
    print(f"# data_root -> {ctx.cfg.data_root}\n# logs      -> {ctx.cfg.logs_dir}")
    print(tomli_w.dumps(ctx.cfg.to_toml_dict()), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from actors.access import use_token_if_present

    use_token_if_present()  # before anything imports Ray
    from threadx.kernels import prefer_sleeping_threads

    prefer_sleeping_threads()  # before numba starts its thread pool
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = apply_overrides(
            load_config(args.config), data_root=args.data_root, log_level=args.log_level
        )
        from threadx.core.log import setup_logging

        setup_logging(cfg)
        return int(args.func(Context(cfg), args) or 0)
    except ThreadXError as err:
        print(f"threadx: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("threadx: interrupted", file=sys.stderr)
        return 130


def entry(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - console script
    sys.exit(main(argv))


if __name__ == "__main__":  # pragma: no cover
    entry()
