"""``threadx sweep space SPEC`` and the search lines of ``threadx sweep run`` (``[search]``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadx.cli.args import Context
    from threadx.sweep import SweepSpec


def register_space(sub: argparse._SubParsersAction) -> None:
    """Add ``space`` to the ``sweep`` verbs."""
    sp = sub.add_parser(
        "space",
        help="size of the grid a spec's space spans and the share its [search] budget covers",
    )
    sp.add_argument("spec", type=Path)
    sp.set_defaults(func=cmd_sweep_space)


def load_sweep_spec(path: Path, backend: str | None) -> SweepSpec:
    """The validated spec (``--backend`` applied); any problem with it is one ConfigError line."""
    from threadx.core.errors import ConfigError, ThreadXError
    from threadx.sweep.spec import load_spec

    try:
        spec = load_spec(path)
    except ThreadXError:
        raise
    except (ValueError, TypeError, ArithmeticError) as err:  # never a traceback for a bad spec
        raise ConfigError(f"{path}: {' '.join(str(err).split())}") from None
    if backend:
        spec = spec.model_copy(update={"backend": backend})
    return spec


def cmd_sweep_space(ctx: Context, args: argparse.Namespace) -> int:
    """Print the dimensions, the grid's size and what the budget covers, per dataset. Reads the
    spec only (no data, no kernels)."""
    from threadx.sweep.space import space_summary

    print("\n".join(space_summary(load_sweep_spec(args.spec, None))))
    return 0


def search_preflight_line(spec: SweepSpec) -> str | None:
    """``search: tpe, 20,000 trials per dataset in batches of 1,024 (0.002% of 1e+12)``, or
    None for a grid."""
    se = spec.search
    if not se.sampling:
        return None
    size = spec.combos_per_dataset()
    each = "train window (walk-forward fold)" if spec.walk_forward is not None else "dataset"
    batch = min(se.batch_size(65_536), se.trials)
    line = (
        f"search: {se.method} (seed {se.seed}), {se.trials:,} trials per {each} in batches "
        f"of {batch:,}: {se.trials / size:.3%} of the grid's {size:,}"
    )
    if se.halving is not None:
        from threadx.sweep.halving import cost_share

        n = len(se.halving.fractions())
        cost = cost_share(se.trials, batch, se.halving)
        line += (
            f"; halving in {n} stages (start {se.halving.start:g}, keep {se.halving.keep:g}): "
            f"{cost:.3g} of the full-length bar-steps"
        )
    return line


def counted(manifest: dict) -> str:
    """``2,304 combinations``, or for a search ``9,870 trials (tpe) of a 200,000-combination
    grid``; a walk-forward search adds ``, a search of 2,000 per train window x 5 folds``."""
    search = manifest.get("search")
    if not search:
        return f"{manifest['total_combos']:,} combinations"
    done = (manifest.get("search_stats") or {}).get("evaluated", manifest["total_combos"])
    folds = len(manifest.get("walk_forward") or ())
    per_fold = (
        f", a search of {search['trials']:,} per train window x {folds} folds" if folds else ""
    )
    return (
        f"{done:,} trials ({search['method']}) of a {search['space']:,}-combination grid" + per_fold
    )
