"""``threadx backtest`` (one combination, reference simulation) and ``threadx sweep ...``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadx.cli.search import load_sweep_spec as _load_spec
from threadx.core.jsonio import dumps
from threadx.sweep.states import TERMINAL, RunState

if TYPE_CHECKING:
    from threadx.cli.args import Context
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
    run.add_argument("--local", action="store_true", help="run in this process, without Ray")
    run.add_argument(
        "--address",
        help="Ray cluster to use (default: cluster.address, a local "
        "cluster if one runs, else an embedded one)",
    )
    run.set_defaults(func=cmd_sweep_run)

    sm = sub.add_parser("submit", help="submit a spec to a running cluster and print the run id")
    sm.add_argument("spec", type=Path)
    sm.add_argument("--address")
    sm.set_defaults(func=cmd_sweep_submit)
    for verb, helptext in (
        ("status", "progress of a run"),
        ("cancel", "cancel a run"),
        ("resume", "resume a paused, cancelled or interrupted run"),
        ("pause", "pause a run"),
    ):
        p = sub.add_parser(verb, help=helptext)
        p.add_argument("run_id")
        p.add_argument("--address")
        p.add_argument("--wait", action="store_true", help="wait until the run ends")
        p.set_defaults(func=cmd_sweep_control, action=verb)
    from threadx.cli.search import register_space

    register_space(sub)
    ls = sub.add_parser("list", help="runs in the store")
    ls.set_defaults(func=cmd_sweep_list)

    show = sub.add_parser("show", help="print the ranking of a finished run folder or run id")
    show.add_argument("run")
    show.add_argument("--top", type=int)
    show.add_argument("--pareto", action="store_true", help="print the Pareto front instead")
    show.add_argument("--export", type=Path)
    show.add_argument(
        "--aggregate",
        choices=["none", "median", "worst"],
        help="rank each parameter combination by its median or worst case across the run's "
        "symbols x timeframes (default: the spec's [rank] aggregate)",
    )
    show.set_defaults(func=cmd_sweep_show)

    wf = sub.add_parser(
        "walkforward",
        help="walk-forward report of a run: folds, chosen "
        "parameters, stitched out-of-sample metrics, degradation",
    )
    wf.add_argument("run", help="run id or run folder")
    wf.set_defaults(func=cmd_sweep_walkforward)

    rep = sub.add_parser(
        "report",
        help="overfitting report of a completed run: PSR/DSR of the top-K, PBO by CSCV, verdict",
    )
    rep.add_argument("run", help="run id or run folder")
    rep.add_argument("--json", action="store_true", help="print the report as JSON")
    rep.add_argument(
        "--monte-carlo",
        action="store_true",
        help="add the Monte Carlo of the top-K (computed once, stored in report.json)",
    )
    rep.add_argument("--paths", type=int, default=1000, help="Monte Carlo paths per combination")
    rep.add_argument("--block", type=int, default=0, help="block length in bars (0: n^(1/3))")
    rep.add_argument("--seed", type=int, default=0, help="Monte Carlo seed")
    rep.add_argument("--mc-top", type=int, default=10, help="Monte Carlo of each group's best N")
    rep.set_defaults(func=cmd_sweep_report)


def cmd_backtest(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.strategy.backtest import format_summary, write_run_folder
    from threadx.strategy.params import params_from_mapping, parse_param_assignments
    from threadx.strategy.reference import backtest_frame
    from threadx.sweep.dataset import load_dataset

    params = params_from_mapping(parse_param_assignments(args.param))
    ds = load_dataset(
        ctx.store,
        args.symbol.upper(),
        args.timeframe,
        exchange=args.exchange,
        start=args.start,
        end=args.end,
        allow_gaps=args.allow_gaps,
    )
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


def _preflight(spec: SweepSpec, store: Any, budget_gb: float, datasets: list | None = None) -> list:
    """Print the sweep's size, data and memory estimate (refusing a spec above the budget);
    ``datasets``: the spec's datasets when already loaded from ``store``."""
    from threadx.cli.search import search_preflight_line
    from threadx.sweep.plan import check_memory, load_datasets

    what = "a space of" if spec.search.sampling else ""  # a search: the budget's line follows
    print(
        f"sweep '{spec.name}': {what}{' ' if what else ''}{spec.count():,} combinations "
        f"({len(spec.datasets())} dataset(s) x {spec.combos_per_dataset():,})"
    )
    if (line := search_preflight_line(spec)) is not None:
        print(line)
    if datasets is None:
        datasets = load_datasets(spec, store)
    need = check_memory(spec, datasets, budget_gb)
    bars = sum(d.n_bars for d in datasets)
    print(f"data: {', '.join(f'{d.key} {d.n_bars:,} bars' for d in datasets)}")
    print(
        f"estimated peak memory {need / 2**20:,.0f} MiB (budget {budget_gb:g} GiB); "
        f"{bars * spec.rows_per_dataset():,} bar-steps"
    )
    if spec.walk_forward is not None:
        from threadx.sweep.folds import fold_datasets

        wf, (folds, slices) = spec.walk_forward, fold_datasets(spec, datasets)
        per, se = spec.rows_per_dataset(), spec.search
        each = f"a {se.method} search of {per:,} trials" if se.sampling else "the grid swept"
        print(
            f"walk-forward ({wf.mode}: train {wf.train}, test {wf.test}, step {wf.step}): "
            f"{len(folds)} fold(s); {each} on each train window: "
            f"{len(folds) * per:,} {'trials' if se.sampling else 'combinations'}, "
            f"{sum(d.n_bars for d in slices) * per:,} bar-steps"
        )
    return datasets


class ProgressPrinter:
    """A one-line progress bar with throughput and ETA on stderr (local progress dicts and
    driver status dicts alike)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.ended = False

    def __call__(self, p: dict[str, Any]) -> None:
        from threadx.sweep.progress import progress_line

        if self.ended:
            return
        self.stream.write("\r" + progress_line(p) + "   ")
        if p.get("done_tasks") == p.get("total_tasks") or p.get("state") in TERMINAL:
            self.stream.write("\n")
            self.ended = True
        self.stream.flush()


def print_ranking(
    result: SweepResult, top: int | None, pareto: bool = False, aggregate: str | None = None
) -> None:
    from threadx.sweep.progress import aggregate_title, ranking_table

    how = aggregate or result.spec.rank.aggregate
    frame = result.pareto() if pareto else result.top(top, aggregate=how)
    title = "Pareto front (sharpe vs max_drawdown)" if pareto else f"top {len(frame)}"
    across = "" if pareto else aggregate_title(how, len(result.spec.datasets()))
    print(
        f"\n{title} of {result.run_id} by {', '.join(result.spec.rank.by)}"
        + (f", {across}" if across else "")
        + ":"
    )
    if across and frame.attrs.get("partial_excluded"):
        print(
            f"({frame.attrs['partial_excluded']:,} combination(s) not on every dataset yet "
            "left out)"
        )
    print(ranking_table(frame, result.spec))


def _client(ctx: Context, address: str | None, need_cluster: bool = False) -> Any:
    import os

    from actors.client import ThreadXClient, running_local_cluster

    joinable = address or ctx.cfg.cluster.address or os.environ.get("RAY_ADDRESS")
    if need_cluster and not (joinable or running_local_cluster()):
        from threadx.core.errors import ThreadXError

        raise ThreadXError(
            "no running cluster: start one with `threadx cluster up` (or pass "
            "--address); `sweep run` works without one"
        )
    return ThreadXClient(ctx.cfg, address).connect()


def run_on_cluster(
    ctx: Context, spec: SweepSpec, address: str | None, preflight: bool = False
) -> SweepResult:
    """Submit through the SweepDriver (embedded cluster when none runs), show progress, wait.
    The driver's data root is the one that counts (a Ray job's own config may point elsewhere).
    Without a cluster address the kernels are compiled here first when they are not in numba's
    cache, so the workers load them and their throughput excludes compilation."""
    from threadx.data.store import OHLCVStore
    from threadx.sweep import open_run

    warm_for_local_cluster(ctx, address)
    client = _client(ctx, address)
    try:
        data_root = client.data_root()
        if data_root != ctx.cfg.data_root:
            print(f"note: the cluster's driver uses data root {data_root}")
        if preflight:
            _preflight(spec, OHLCVStore(data_root), ctx.cfg.sweep.memory_budget_gb)
        rid = client.submit(spec.model_dump(mode="json"))
        print(f"run {rid} submitted ({'embedded cluster' if client.embedded else 'cluster'})")
        st = client.wait(rid, on_status=ProgressPrinter())
        if st.state != RunState.COMPLETED:
            from threadx.core.errors import ThreadXError

            raise ThreadXError(f"run {rid} ended {st.state}: {'; '.join(st.errors)}")
        return open_run(data_root / "runs" / rid)
    finally:
        client.close()


def candidate_run_ids(spec: SweepSpec, datasets: list) -> list[str]:
    """The run ids this spec gets on these datasets, computed as a run computes them: with the
    CPU chunking and, when the spec may run on a CUDA backend, the GPU one (bigger chunks give
    another id)."""
    from threadx.sweep.plan import plan_sweep

    ids = [plan_sweep(spec, datasets, gpu=False).run_id]
    if spec.backend != "cpu":
        gpu_id = plan_sweep(spec, datasets, gpu=True).run_id
        if gpu_id not in ids:
            ids.append(gpu_id)
    return ids


def completed_run(spec: SweepSpec, datasets: list, data_root: Path) -> SweepResult | None:
    """The completed run of this spec on these datasets under ``data_root``, or None. Needs
    neither Ray nor the kernels: the run ids and each candidate's ``manifest.json``."""
    import json

    for rid in candidate_run_ids(spec, datasets):
        run_dir = Path(data_root) / "runs" / rid
        try:
            manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("status") == RunState.COMPLETED:
            from threadx.sweep import open_run

            return open_run(run_dir)
    return None


def complete_line(result: SweepResult) -> str:
    """``run X already complete (finished <timestamp>, <wall> s); showing stored results``."""
    m = result.manifest
    when = [f"finished {m['finished']}"] if m.get("finished") else []
    wall = m.get("wall_s")
    if isinstance(wall, int | float):
        when.append(f"{wall:,.2f} s")
    return (
        f"run {result.run_id} already complete"
        + (f" ({', '.join(when)})" if when else "")
        + "; showing stored results"
    )


# backends whose kernels this process has loaded already (numba keeps them loaded)
_WARM_HERE: set[str] = set()


def warm_kernels(backend: str = "cpu", stream: Any = None) -> Any:
    """Load the sweep kernels from numba's cache, or compile them (saying so when it starts),
    before a sweep, so that its throughput counts its own work only (in-process sweeps and the
    Ray workers of this machine share the cache entries). Messages go to ``stream`` (default
    stdout). Returns the WarmupReport, or None when this process loaded them before."""
    from threadx.core.errors import ConfigError
    from threadx.sweep.warmup import kernel_cache_state, warm_up

    if backend in _WARM_HERE:
        return None

    state = kernel_cache_state()
    why = {
        "cold": "first run on this machine",
        "stale": "the kernels changed since they were cached",
    }.get(state, "first run of this kind on this machine")
    announced = []

    def announce(name: str, cached: bool) -> None:
        text = why if cached else f"{name.rsplit('.', 1)[-1]} is compiled by every process"
        print(f"compiling kernels ({text}) ...", end=" ", flush=True, file=stream)
        announced.append(cached)

    try:
        rep = warm_up(backend, predicted=state, on_compile=announce)
    except RuntimeError as err:  # resolve_backend: 'gpu' requested but CUDA is not usable
        if announced:
            print("failed", file=stream)
        raise ConfigError(" ".join(str(err).split())) from None
    if announced:
        print(
            f"done in {rep.seconds:.1f} s" + (" (cached for next time)" if rep.compiled else ""),
            file=stream,
        )
    _WARM_HERE.add(backend)
    return rep


def warm_for_local_cluster(ctx: Context, address: str | None, stream: Any = None) -> None:
    """Without a cluster address (an embedded cluster, or one started on this machine) compile
    the kernels here when numba's cache lacks them: the workers then load them from the cache
    this checkout shares, and their throughput excludes compilation. A remote cluster's workers
    have caches of their own: nothing to do here."""
    if _explicit_address(ctx, address) is not None:
        return
    from threadx.sweep.warmup import kernel_cache_state

    if kernel_cache_state() != "warm":
        warm_kernels("cpu", stream=stream)


def _explicit_address(ctx: Context, address: str | None) -> str | None:
    """The cluster address a run would join (``--address``, ``cluster.address``, RAY_ADDRESS)."""
    import os

    return address or ctx.cfg.cluster.address or os.environ.get("RAY_ADDRESS") or None


def cmd_sweep_run(ctx: Context, args: argparse.Namespace) -> int:
    """Run a spec. A run that is already complete on disk is shown without starting anything
    (no Ray import, no kernels); otherwise the kernels are loaded (compiled on a cold cache)
    before the sweep, so its bar-steps/s excludes compilation."""
    from threadx.core.errors import ThreadXError
    from threadx.sweep.plan import load_datasets

    spec = _load_spec(args.spec, args.backend)
    budget = ctx.cfg.sweep.memory_budget_gb
    if not args.local:
        if args.fresh:
            print("note: --fresh applies to --local runs; cluster runs always resume")
        joins = _explicit_address(ctx, args.address)
        try:
            done = completed_run(spec, load_datasets(spec, ctx.store), ctx.cfg.data_root)
        except ThreadXError:
            from actors.access import running_cluster_address

            if joins is None and running_cluster_address() is None:
                raise  # an embedded cluster would read the same data root: fail now
            done = None  # the data may live on the cluster's data root only: ask the cluster
        if done is not None:
            _report(done, args, headline=complete_line(done))
            return 0
        result = run_on_cluster(ctx, spec, args.address, preflight=True)
        _report(result, args)
        return 0
    from threadx.sweep import run_local

    datasets = load_datasets(spec, ctx.store)
    if not args.fresh:
        done = completed_run(spec, datasets, ctx.cfg.data_root)
        if done is not None:  # a walk-forward report it lacks is computed here
            _report(done, args, headline=complete_line(done), ohlcv=ctx.store)
            return 0
    _preflight(spec, ctx.store, budget, datasets)
    warm_kernels(spec.backend)
    result = run_local(
        spec,
        data_root=ctx.cfg.data_root,
        backend=spec.backend,
        resume=not args.fresh,
        memory_budget_gb=budget,
        progress=ProgressPrinter(),
        datasets=datasets,
    )
    _report(result, args)
    return 0


def _report(
    result: SweepResult, args: argparse.Namespace, headline: str | None = None, ohlcv: Any = None
) -> None:
    from threadx.cli.search import counted

    m = result.manifest
    if headline is None:
        shares = ", ".join(f"{d} {v:.1%}" for d, v in (m.get("device_shares") or {}).items())
        headline = (
            f"run {result.run_id}: {m['status']}, {counted(m)}, "
            f"{m.get('bar_steps_per_s') or 0:,.4g} bar-steps/s"
            + (f"; shares {shares}" if shares else "")
        )
    print(headline)
    if result.spec.walk_forward is not None:
        _print_walk_forward(result.run_dir, ohlcv)
    else:
        print_ranking(result, args.top)
    print_verdict(result)
    if args.export:
        print(f"exported to {result.export(args.export)}")
    print(f"\nrun folder: {result.run_dir}")


def print_verdict(result: SweepResult) -> None:
    from threadx.sweep.overfit import load_report

    rep = load_report(result.run_dir)
    if rep is not None:
        print(f"\noverfitting: {rep['verdict']}\n(details: threadx sweep report {result.run_id})")


def _print_walk_forward(run_dir: Path, ohlcv: Any = None) -> None:
    from threadx.sweep import walkforward as wf

    report = (
        wf.load_walk_forward(run_dir) if ohlcv is None else wf.walk_forward_for_run(run_dir, ohlcv)
    )
    print("\n" + (wf.format_walk_forward(report) if report else "(no walk-forward report yet)"))


def cmd_sweep_submit(ctx: Context, args: argparse.Namespace) -> int:
    spec = _load_spec(args.spec, None)
    client = _client(ctx, args.address, need_cluster=True)
    try:
        warm_for_local_cluster(ctx, args.address, stream=sys.stderr)  # stdout: the run id only
        print(client.submit(spec.model_dump(mode="json")))
    finally:
        client.close()
    return 0


def cmd_sweep_control(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.sweep.progress import progress_line

    client = _client(ctx, args.address, need_cluster=True)
    try:
        if args.action != "status":
            ok = client.control(args.action, args.run_id)
            print(f"{args.action} {args.run_id}: {'done' if ok else 'nothing to do'}")
        if args.wait:
            st = client.wait(args.run_id, on_status=ProgressPrinter())
        else:
            st = client.status(args.run_id)
            print(progress_line(st))
        for err in st.errors:
            print(f"  error: {err}")
    finally:
        client.close()
    return 0


def cmd_sweep_list(ctx: Context, args: argparse.Namespace) -> int:
    import pandas as pd

    from threadx.sweep.service import list_runs_on_disk

    rows = list_runs_on_disk(ctx.cfg.data_root / "runs")
    if not rows:
        print(f"no runs under {ctx.cfg.data_root / 'runs'}")
        return 0
    print(pd.DataFrame(rows).to_string(index=False))
    return 0


def cmd_sweep_show(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.sweep import open_run

    path = Path(args.run)
    if not path.is_dir():
        path = ctx.cfg.data_root / "runs" / args.run
    result = open_run(path)
    if result.spec.walk_forward is not None and not args.pareto:
        _print_walk_forward(result.run_dir, ctx.store)
    else:
        print_ranking(result, args.top, pareto=args.pareto, aggregate=args.aggregate)
    if args.export:
        what = "pareto" if args.pareto else "all"
        print(f"exported to {result.export(args.export, what, aggregate=args.aggregate)}")
    return 0


def cmd_sweep_walkforward(ctx: Context, args: argparse.Namespace) -> int:
    path = Path(args.run)
    if not path.is_dir():
        path = ctx.cfg.data_root / "runs" / args.run
    _print_walk_forward(path, ctx.store)
    return 0


def cmd_sweep_report(ctx: Context, args: argparse.Namespace) -> int:
    """Print the stored report (computed and stored first when a completed run lacks it); with
    ``--monte-carlo`` its Monte Carlo section for the flags (the run's parts read once)."""

    from threadx.core.errors import StoreError
    from threadx.sweep.overfit import add_monte_carlo, load_report
    from threadx.sweep.report_text import format_report
    from threadx.sweep.results import RunStore

    path = Path(args.run)
    if not path.is_dir():
        path = ctx.cfg.data_root / "runs" / args.run
    status = RunStore(path).read_manifest().get("status")  # clear error if not a run
    mc = _monte_carlo_spec(args) if args.monte_carlo else None  # the flags before any work
    report = load_report(path) if mc is None else add_monte_carlo(path, mc)
    if report is None and status == RunState.COMPLETED:
        raise StoreError(
            f"run {path.name}: the overfitting report could not be computed (see the log)"
        )
    if report is None:
        raise StoreError(
            f"run {path.name} is {status}: the overfitting report covers completed "
            "runs only (resume it first)"
        )
    print(dumps(report, sort_keys=False) if args.json else format_report(report) + "\n", end="")
    return 0


def _monte_carlo_spec(args: argparse.Namespace) -> Any:
    """The spec's ``[report.monte_carlo]`` (MonteCarloSpec) from ``sweep report``'s flags; a
    broken rule is one line, ``monte_carlo.paths: ... (--paths 5)``."""
    from threadx.cli.args import model_from_flags
    from threadx.sweep.spec import MonteCarloSpec

    flags = {
        "enabled": ("--monte-carlo", True),
        "paths": ("--paths", args.paths),
        "block": ("--block", args.block),
        "seed": ("--seed", args.seed),
        "top_k": ("--mc-top", args.mc_top),
    }
    return model_from_flags(MonteCarloSpec, "monte_carlo", flags)
