"""The ``threadx`` command.

Shape: ``threadx [--config FILE] [--data-root DIR] [--log-level L] VERB ...``. Exit code 0 on
success; on a user error a one-line reason on stderr and exit code 2. Nothing is parsed at import
time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from threadx.config import ThreadXConfig, apply_overrides, load_config
from threadx.errors import ThreadXError

Handler = Callable[["Context", argparse.Namespace], int]


@dataclass
class Context:
    cfg: ThreadXConfig

    @property
    def store(self):  # noqa: ANN201 - lazy import keeps `threadx --help` fast
        from threadx.data.store import OHLCVStore

        return OHLCVStore(self.cfg.data_root)


def _add_global(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", help="config TOML (default: $THREADX_CONFIG, ./configs/threadx.toml)"
    )
    p.add_argument("--data-root", help="override paths.data_root")
    p.add_argument("--log-level", help="override logging.level (DEBUG, INFO, WARNING, ...)")


# Modules contributing verbs, each with ``register(verbs)``. This is the composition root of the
# `threadx` command: the desktop client's verb comes from the `gui` package (imported only here,
# when the parser is built; the library itself never imports gui/ or actors/).
VERB_MODULES = (
    "threadx.cli_data",
    "threadx.cli_run",
    "threadx.cli_sweep",
    "threadx.cli_cluster",
    "threadx.cli_ingest",
    "gui.cli",
)


def build_parser() -> argparse.ArgumentParser:
    from importlib import import_module

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
    for name in VERB_MODULES:
        import_module(name).register(verbs)
    return parser


def cmd_config_show(ctx: Context, args: argparse.Namespace) -> int:
    import tomli_w

    print(f"# effective configuration (from {ctx.cfg.source})")
    print(f"# data_root -> {ctx.cfg.data_root}\n# logs      -> {ctx.cfg.logs_dir}")
    print(tomli_w.dumps(ctx.cfg.to_toml_dict()), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from threadx.cluster import use_token_if_present

    use_token_if_present()  # before anything imports Ray
    from threadx.kernels import prefer_sleeping_threads

    prefer_sleeping_threads()  # before numba starts its thread pool
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cfg = apply_overrides(
            load_config(args.config), data_root=args.data_root, log_level=args.log_level
        )
        from threadx.log import setup_logging

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
