"""``threadx backtest`` (one combination, reference simulation) and ``threadx sweep ...``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from threadx.cli import Context
    from threadx.sweep import SweepResult, SweepSpec


def register(verbs: argparse._SubParsersAction) -> None:
    bt = verbs.add_parser("backtest", help="one combination with the reference simulation")
    bt.add_argument("--symbol", required=True)
    bt.add_argument("--exchange")
    bt.add_argument("--timeframe", default="15m")
    bt.add_argument("--start")
    bt.add_argument("--end")
    bt.add_argument("--allow-gaps", action="store_true")
    bt.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="strategy parameter (repeatable), e.g. --param bb_period=20",
    )
    bt.add_argument("--out", type=Path, help="run folder (default: {data_root}/backtests/...)")
    bt.set_defaults(func=cmd_backtest)

    sw = verbs.add_parser("sweep", help="run and inspect parameter sweeps")
    sub = sw.add_subparsers(dest="sweep_verb", metavar="SWEEP_VERB", required=True)
    run = sub.add_parser("run", help="run a sweep spec (TOML) and print the ranking")
    run.add_argument("spec", type=Path)
    run.add_argument("--backend", choices=["auto", "cpu", "gpu"], help="override the spec")
    run.add_argument("--fresh", action="store_true", help="recompute instead of resuming")
    run.add_argument("--export", type=Path, help="write the ranked results (.csv/.parquet)")
    run.add_argument("--top", type=int, help="rows to print (default: the spec's top_k)")
    run.set_defaults(func=cmd_sweep_run)

    show = sub.add_parser("show", help="print the ranking of a finished run folder or run id")
    show.add_argument("run")
    show.add_argument("--top", type=int)
    show.add_argument("--pareto", action="store_true", help="print the Pareto front instead")
    show.add_argument("--export", type=Path)
    show.set_defaults(func=cmd_sweep_show)


def cmd_backtest(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.backtest import format_summary, write_run_folder
    from threadx.strategy.params import params_from_mapping, parse_param_assignments
    from threadx.strategy.reference import backtest_frame
    from threadx.sweep.dataset import load_dataset

    params = params_from_mapping(parse_param_assignments(args.param))
    ds = load_dataset(ctx.store, args.symbol.upper(), args.timeframe, exchange=args.exchange,
                      start=args.start, end=args.end, allow_gaps=args.allow_gaps)  # fmt: skip
    result = backtest_frame(ds.to_frame(), params, ds.bar_minutes)
    meta = {**ds.describe(), "engine": "reference"}
    out = args.out
    if out is None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        out = ctx.cfg.data_root / "backtests" / f"{ds.symbol}_{ds.timeframe}_{stamp}"
    write_run_folder(result, out, params, meta)
    print(format_summary(result, params, meta))
    print(f"\nrun folder: {out}")
    return 0


def _preflight(spec: SweepSpec, store: Any, budget_gb: float) -> list:
    from threadx.sweep.runner import check_memory, load_datasets

    print(f"sweep '{spec.name}': {spec.count():,} combinations "
          f"({len(spec.datasets())} dataset(s) x {spec.combos_per_dataset():,})")  # fmt: skip
    datasets = load_datasets(spec, store)
    need = check_memory(spec, datasets, budget_gb)
    bars = sum(d.n_bars for d in datasets)
    print(f"data: {', '.join(f'{d.key} {d.n_bars:,} bars' for d in datasets)}")
    print(f"estimated peak memory {need / 2**20:,.0f} MiB (budget {budget_gb:g} GiB); "
          f"{bars * spec.combos_per_dataset():,} bar-steps")  # fmt: skip
    return datasets


class ProgressPrinter:
    """A one-line progress bar with throughput and ETA on stderr."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr

    def __call__(self, p: dict[str, Any]) -> None:
        from threadx.sweep.progress import eta_text

        done, total = p["done_tasks"], p["total_tasks"]
        frac = done / total if total else 1.0
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        rate = p.get("bar_steps_per_s") or 0.0
        eta = eta_text(p["elapsed_s"], frac)
        self.stream.write(f"\r[{bar}] {done}/{total} tasks {frac:6.1%}  "
                          f"{rate:,.3g} bar-steps/s  {eta}   ")  # fmt: skip
        if done == total:
            self.stream.write("\n")
        self.stream.flush()


def print_ranking(result: SweepResult, top: int | None, pareto: bool = False) -> None:
    from threadx.sweep.progress import ranking_table

    frame = result.pareto() if pareto else result.top(top)
    title = "Pareto front (sharpe vs max_drawdown)" if pareto else f"top {len(frame)}"
    print(f"\n{title} of {result.run_id} by {', '.join(result.spec.rank.by)}:")
    print(ranking_table(frame, result.spec))


def cmd_sweep_run(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.sweep import load_spec, run_local

    spec = load_spec(args.spec)
    if args.backend:
        spec = spec.model_copy(update={"backend": args.backend})
    _preflight(spec, ctx.store, ctx.cfg.sweep.memory_budget_gb)
    result = run_local(spec, data_root=ctx.cfg.data_root, backend=spec.backend,
                       resume=not args.fresh, memory_budget_gb=ctx.cfg.sweep.memory_budget_gb,
                       progress=ProgressPrinter())  # fmt: skip
    m = result.manifest
    print(f"run {result.run_id}: {m['status']}, {m['total_combos']:,} combinations, "
          f"{m.get('bar_steps_per_s') or 0:,.4g} bar-steps/s")  # fmt: skip
    print_ranking(result, args.top)
    if args.export:
        print(f"exported to {result.export(args.export)}")
    print(f"\nrun folder: {result.run_dir}")
    return 0


def cmd_sweep_show(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.sweep import open_run

    path = Path(args.run)
    if not path.is_dir():
        path = ctx.cfg.data_root / "runs" / args.run
    result = open_run(path)
    print_ranking(result, args.top, pareto=args.pareto)
    if args.export:
        print(f"exported to {result.export(args.export, 'pareto' if args.pareto else 'all')}")
    return 0
