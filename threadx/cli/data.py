"""``threadx data ...`` verbs: import, list, gaps, resample."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from threadx.cli.args import parse_time
from threadx.core.errors import DataError

if TYPE_CHECKING:
    from threadx.cli.args import Context


def register(verbs: argparse._SubParsersAction) -> None:
    data = verbs.add_parser("data", help="import, inspect and resample OHLCV data")
    sub = data.add_subparsers(dest="data_verb", metavar="DATA_VERB", required=True)
    from threadx.cli.exchange import register_data_verbs

    register_data_verbs(sub)  # ingest, verify, universe

    imp = sub.add_parser("import", help="import a file or a folder (recursively) into the store")
    imp.add_argument("path", type=Path)
    imp.add_argument("--symbol", help="symbol (default: inferred from the file name)")
    imp.add_argument("--exchange", help="exchange (default: inferred from the folder/file name)")
    imp.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
    imp.add_argument(
        "--on-conflict",
        choices=["keep", "replace", "merge"],
        default="merge",
        help="stored minutes with different values: keep old, replace, or refuse (merge, default)",
    )
    imp.add_argument(
        "--only-symbol",
        action="append",
        default=None,
        help="filter: import only these symbols (repeatable)",
    )
    imp.add_argument(
        "--only-timeframe",
        action="append",
        default=None,
        help="filter: only source files of these timeframes (repeatable)",
    )
    imp.add_argument("--start", help="filter: first minute to import (UTC)")
    imp.add_argument("--end", help="filter: import minutes before this (UTC)")
    imp.add_argument("--report", type=Path, help="write the JSON import report here")
    imp.set_defaults(func=cmd_import)

    lst = sub.add_parser("list", help="show the catalog")
    lst.add_argument("--rebuild", action="store_true", help="rescan the month files first")
    lst.set_defaults(func=cmd_list)

    gaps = sub.add_parser("gaps", help="missing-minute runs of a symbol and its missing ratio")
    gaps.add_argument("symbol")
    gaps.add_argument("--exchange")
    gaps.add_argument("--limit", type=int, default=20, help="gap runs to print (largest first)")
    gaps.add_argument("--timeframe", default="1m", help="a stored timeframe (default 1m)")
    gaps.set_defaults(func=cmd_gaps)

    rs = sub.add_parser(
        "resample", help="resample stored 1m bars (or imported coarser ones) to a timeframe"
    )
    rs.add_argument("symbol")
    rs.add_argument("timeframe", help="3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 1w")
    rs.add_argument("--exchange")
    rs.add_argument("--start")
    rs.add_argument("--end")
    rs.add_argument("--out", type=Path, help="write the bars to this .parquet or .csv file")
    rs.add_argument("--rows", type=int, default=5, help="preview rows at each end")
    rs.set_defaults(func=cmd_resample)


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.data.migrate import ImportFilters, import_path

    filters = ImportFilters(
        symbols=set(args.only_symbol) if args.only_symbol else None,
        timeframes=set(args.only_timeframe) if args.only_timeframe else None,
        start=parse_time(args.start, "--start"),
        end=parse_time(args.end, "--end"),
    )
    report = import_path(
        ctx.store,
        args.path,
        symbol=args.symbol,
        exchange=args.exchange,
        filters=filters,
        on_conflict=args.on_conflict,
        dry_run=args.dry_run,
        report_path=args.report,
    )
    for f in report.files:
        print(_file_line(f))
    t = report.totals()
    mode = " (dry run: nothing written)" if args.dry_run else ""
    print(
        f"{t['files']} file(s): {t['imported']} imported, {t['skipped']} skipped, "
        f"{t['errors']} error(s); {t['rows_added']:,} new row(s){mode}"
    )
    if report.errors:
        raise DataError(f"{len(report.errors)} file(s) failed; first: {report.errors[0]['error']}")
    return 0


def _file_line(f: dict) -> str:
    name = Path(f["file"]).name
    if f["status"] == "error":
        return f"  ERROR    {name}: {f['error']}"
    if f["status"] == "skipped":
        return f"  skipped  {name}: {f['reason']}"
    tf = "" if f.get("timeframe", "1m") == "1m" else f" {f['timeframe']}"
    line = (
        f"  ok       {name} -> {f['exchange']}/{f['symbol']}{tf}: {f['rows_kept']:,} rows, "
        f"{f['added']:,} new"
    )
    if "missing_minutes" in f:
        line += (
            f"; {f['first']} -> {f['last']}: {f['missing_minutes']:,} of "
            f"{f['expected_minutes']:,} minutes missing ({f['missing_ratio']:.2%})"
        )
    if f.get("duplicates_dropped"):
        line += f"; {f['duplicates_dropped']} duplicate row(s) dropped"
    if f.get("dropped_open_minute"):
        line += "; still-open minute dropped"
    for o in f.get("overlaps", ()):
        line += f"; {o['summary']}"
    return line


def cmd_list(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    if args.rebuild:
        store.rebuild_catalog()
    frame = store.list_frame(timeframes=True)  # 1m rows and imported coarser timeframes
    if frame.empty:
        print(f"catalog of {store.data_root} is empty; import data with `threadx data import`")
        return 0
    cols = ["size" if c == "bytes" else c for c in frame.columns]
    frame["size"] = frame["bytes"].map(lambda b: f"{b / 1e6:.1f} MB")
    frame["missing_ratio"] = frame["missing_ratio"].map(lambda r: f"{r:.2%}")
    print(f"catalog of {store.data_root}")
    print(frame[cols].to_string(index=False))
    return 0


def cmd_gaps(ctx: Context, args: argparse.Namespace) -> int:
    rep = ctx.store.gaps(args.symbol.upper(), args.exchange, args.timeframe)
    print(f"{args.symbol.upper()} {args.timeframe}: {rep.summary()}")
    print(f"missing ratio: {rep.missing_ratio:.6f}")
    if rep.runs:
        runs = sorted(rep.runs, key=lambda r: (-r[1], r[0]))[: args.limit]
        what = "minute, minutes" if rep.bar_minutes == 1 else "bar, bars"
        print(f"largest {len(runs)} gap run(s) (first missing {what} missing):")
        for t, n in runs:
            print(f"  {t}  {n:,}")
    return 0


def cmd_resample(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.data.resample import resample
    from threadx.data.timeframes import choose_source

    symbol, store = args.symbol.upper(), ctx.store
    exchange = store.resolve_exchange(symbol, args.exchange)
    start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    source = choose_source(store, symbol, exchange, args.timeframe, start, end)
    frame = store.read(symbol, exchange, start, end, timeframe=source)
    res = resample(frame, args.timeframe, source)
    bars = res.frame
    print(
        f"{symbol} {res.timeframe}: {len(bars):,} bars from {len(frame):,} {source} bars"
        + (" (last bar partial)" if res.partial_last else "")
    )
    incomplete = int(res.incomplete.sum())
    if incomplete:
        print(f"{incomplete} bar(s) aggregate fewer minutes than the timeframe (gaps/edges)")
    n = args.rows
    preview = bars if len(bars) <= 2 * n else pd.concat([bars.head(n), bars.tail(n)])
    print(preview.to_string())
    if args.out:
        _write_frame(bars, args.out)
        print(f"written to {args.out}")
    return 0


def _write_frame(frame: pd.DataFrame, out: Path) -> None:
    from threadx.core.io import atomic_write

    if out.suffix == ".parquet":
        atomic_write(out, lambda tmp: frame.to_parquet(tmp, compression="zstd"))
    elif out.suffix == ".csv":
        atomic_write(out, lambda tmp: frame.to_csv(tmp))
    else:
        raise DataError(f"--out {out}: use a .parquet or .csv file name")
