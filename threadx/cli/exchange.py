"""CLI verbs that talk to an exchange: ``threadx data ingest|update|verify|universe``.

Wiring: :func:`register_data_verbs` adds these verbs to the ``data`` sub-parsers made in
:mod:`threadx.cli.data`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadx.cli.args import parse_time, write_json
from threadx.core.errors import DataError

if TYPE_CHECKING:
    from threadx.cli.args import Context

BINANCE_URL = "https://api.binance.com"
COINGECKO_URL = "https://api.coingecko.com"
ARCHIVE_URL = "https://data.binance.vision"


# the options of ``threadx data universe`` without a default: (flag, type, help)
_UNIVERSE_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("--markets", Path, "CoinGecko /coins/markets JSON (default: live)"),
    ("--tickers", Path, "Binance /ticker/24hr JSON (default: live)"),
    ("--categories", Path, "category map TOML/JSON (default configs/universe_categories.toml)"),
    ("--per-category", int, "minimum picks per category"),
    ("--top-n", int, "size of the market-cap and volume top lists"),
    ("--size", int, "picks by score (quota picks come on top)"),
    ("--out", Path, "write the ranked universe as JSON"),
    ("--save-snapshots", Path, "save fetched inputs in this folder"),
)


def register_data_verbs(sub: argparse._SubParsersAction) -> None:
    """Add ``ingest``, ``update``, ``verify`` and ``universe`` under ``threadx data``."""
    ing = sub.add_parser("ingest", help="download missing 1m bars from Binance (incremental)")
    ing.add_argument("symbols", nargs="*", help="pairs as the exchange names them, e.g. BTCUSDT")
    ing.add_argument(
        "--universe", type=Path, help="also every pair of a `data universe --out` file"
    )
    ing.add_argument("--stored", action="store_true", help="also every stored pair of --exchange")
    ing.add_argument("--start", help="first minute (UTC; default: stored start, else listing)")
    ing.add_argument("--end", help="stop before this minute (UTC; default: now)")
    _batch_options(ing)
    ing.add_argument(
        "--archives",
        choices=["monthly", "daily"],
        help="first bulk-import the public archives of the range, then fill by REST",
    )
    ing.add_argument("--archive-url", default=ARCHIVE_URL, help=f"default {ARCHIVE_URL}")
    ing.add_argument("--recheck-gaps", action="store_true", help="ask confirmed gaps again")
    ing.set_defaults(func=cmd_ingest)

    ver = sub.add_parser("verify", help="compare resampled bars with the exchange's own klines")
    ver.add_argument("symbol")
    ver.add_argument("--intervals", default="1h,4h,1d", help="comma-separated (default 1h,4h,1d)")
    ver.add_argument("--base-url", default=BINANCE_URL)
    ver.add_argument("--exchange", default="binance")
    ver.add_argument("--start")
    ver.add_argument("--end")
    ver.add_argument("--rtol", type=float, default=1e-8, help="relative tolerance (1e-8)")
    ver.add_argument("--atol", type=float, default=1e-8, help="absolute tolerance (1e-8)")
    ver.add_argument("--json", type=Path, help="write the verification report here")
    ver.set_defaults(func=cmd_verify)

    uni = sub.add_parser("universe", help="rank tokens by market cap and liquidity, per category")
    for flag, kind, text in _UNIVERSE_OPTIONS:
        uni.add_argument(flag, type=kind, help=text)
    uni.add_argument("--coingecko-url", default=COINGECKO_URL)
    uni.add_argument("--ingest", action="store_true", help="then ingest the picks (needs --start)")
    uni.add_argument("--start", help="with --ingest: first minute (UTC)")
    uni.add_argument("--end", help="with --ingest: stop before this minute (UTC; default: now)")
    _batch_options(uni)
    uni.set_defaults(func=cmd_universe)

    upd = sub.add_parser("update", help="bring every stored pair up to the last closed minute")
    _batch_options(upd)
    upd.set_defaults(func=cmd_update)


def _batch_options(p: argparse.ArgumentParser) -> None:
    """Options shared by the verbs that ingest several pairs."""
    p.add_argument("--base-url", help=f"REST API (default: the exchange's; {BINANCE_URL})")
    p.add_argument("--exchange", default="binance", help="store under this exchange name")
    p.add_argument("--workers", type=int, default=4, help="pairs downloaded at once (default 4)")
    p.add_argument(
        "--dry-run", action="store_true", help="print per pair the requests, rows and time only"
    )
    p.add_argument("--json", type=Path, help="write the report here")


def _progress(p: dict[str, Any]) -> None:
    if sys.stderr.isatty():
        pct = 100 * p["done_minutes"] / max(1, p["total_minutes"])
        print(
            f"\r{p['symbol']} {p['phase']}: {pct:5.1f}% ({p['rows']:,} rows, "
            f"{p['requests']} requests)",
            end="",
            file=sys.stderr,
            flush=True,
        )


def _symbols(ctx: Context, args: argparse.Namespace) -> list[str]:
    """The pairs named, from --universe and from --stored, in that order, once each."""
    from threadx.data.ingest_batch import stored_symbols
    from threadx.data.universe import universe_pairs

    names = [s.upper() for s in args.symbols]
    if args.universe:
        names += universe_pairs(args.universe)
    if args.stored:
        names += stored_symbols(ctx.store, args.exchange)
    if not names:
        raise DataError("data ingest: name the pairs, or use --universe FILE or --stored")
    return list(dict.fromkeys(names))


def cmd_ingest(ctx: Context, args: argparse.Namespace) -> int:
    symbols = _symbols(ctx, args)
    start, end = parse_time(args.start, "--start"), parse_time(args.end, "--end")
    out: dict[str, Any] = {}
    if args.archives:
        out["archives"] = _archives(ctx, args, symbols, start, end)
    if len(symbols) == 1 and not args.dry_run:
        return _ingest_one(ctx, args, symbols[0], start, end, out)
    return _batch(ctx, args, symbols, start, end, out)


def _archives(ctx: Context, args: argparse.Namespace, symbols: list[str], start, end) -> list:
    from threadx.data.binance import import_archives

    if start is None or end is None:
        raise DataError("--archives needs --start and --end (the archives to fetch)")
    if args.dry_run:
        raise DataError("--archives and --dry-run: the dry run plans the REST requests only")
    where = {"period": args.archives, "base_url": args.archive_url, "exchange": args.exchange}
    lines = [line for s in symbols for line in import_archives(ctx.store, s, start, end, **where)]
    for line in lines:
        print(
            f"  archive {line['archive']}: {line['status']} "
            f"{line.get('reason') or line.get('error') or ''}".rstrip()
        )
    return lines


def _ingest_one(ctx: Context, args: argparse.Namespace, symbol: str, start, end, out) -> int:
    from threadx.data.binance import ingest
    from threadx.data.ingest_batch import EXCHANGE_URLS

    rep = ingest(
        ctx.store,
        symbol,
        start,
        end,
        base_url=args.base_url or EXCHANGE_URLS.get(args.exchange, BINANCE_URL),
        exchange=args.exchange,
        recheck_confirmed=args.recheck_gaps,
        progress=_progress,
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    c = rep.client
    print(
        f"{args.exchange}/{symbol} {rep.start} -> {rep.end}: {rep.rows_added:,} new row(s) in "
        f"{c.get('requests', 0)} request(s) ({c.get('retries', 0)} retries, "
        f"{c.get('rate_limited', 0)} rate-limited); months written: "
        f"{', '.join(rep.months_written) or 'none'}"
    )
    for a, b, n in rep.confirmed_gaps:
        print(f"  confirmed missing at the exchange: {a} -> {b} ({n} min); not asked again")
    if rep.skipped_confirmed:
        print(f"  {rep.skipped_confirmed:,} minute(s) skipped: confirmed missing earlier")
    write_json(args.json, {**out, "ingest": rep.to_dict()})
    return 0


def _batch(ctx: Context, args: argparse.Namespace, symbols: list[str], start, end, out=None) -> int:
    """Several pairs under one weight budget; a per-pair summary; exit 1 if any failed."""
    from threadx.data.ingest_batch import ingest_many

    rep = ingest_many(
        ctx.store,
        symbols,
        start,
        end,
        exchange=args.exchange,
        base_url=args.base_url,
        workers=args.workers,
        dry_run=args.dry_run,
        progress=_progress,
        recheck_confirmed=bool(getattr(args, "recheck_gaps", False)),
    )
    if sys.stderr.isatty():
        print(file=sys.stderr)
    print("\n".join(rep.lines()))
    write_json(args.json, {**(out or {}), "batch": rep.to_dict()})
    return 1 if rep.failed else 0


def cmd_update(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.data.ingest_batch import to_update

    return _batch(ctx, args, to_update(ctx.store, args.exchange), None, None)


def cmd_verify(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.data.binance_verify import verify

    intervals = tuple(s.strip() for s in args.intervals.split(",") if s.strip())
    rep = verify(
        ctx.store,
        args.symbol.upper(),
        exchange=args.exchange,
        intervals=intervals,
        start=parse_time(args.start, "--start"),
        end=parse_time(args.end, "--end"),
        base_url=args.base_url,
        rtol=args.rtol,
        atol=args.atol,
    )
    counts = ", ".join(f"{k}: {v}" for k, v in rep.compared.items())
    print(
        f"{rep.exchange}/{rep.symbol} {rep.start} -> {rep.end}: bars compared {counts}; "
        f"tolerance |diff| <= {rep.atol:g} + {rep.rtol:g} * |exchange|"
    )
    for a in rep.anomalies[:50]:
        what = a.get("field", "")
        rel = "exchange 0" if a.get("rel_diff") is None else f"rel {a['rel_diff']:.3g}"
        detail = (
            f"local {a['local']!r} vs exchange {a['exchange']!r} ({rel})"
            if a["kind"] == "mismatch"
            else ""
        )
        print(f"  ANOMALY {a['interval']} {a['time']} {a['kind']} {what} {detail}".rstrip())
    if rep.warnings:
        print(f"  {len(rep.warnings)} warning(s) on bars with missing local minutes")
    print("OK" if rep.ok else f"{len(rep.anomalies)} anomaly(ies)")
    write_json(args.json, rep.to_dict())
    return 0 if rep.ok else 1


def _universe_inputs(args: argparse.Namespace) -> tuple[list, list]:
    from threadx.data.universe import fetch_markets, fetch_tickers, load_snapshot

    markets = (
        load_snapshot(args.markets, "markets")
        if args.markets
        else fetch_markets(args.coingecko_url)
    )
    url = args.base_url or BINANCE_URL
    tickers = load_snapshot(args.tickers, "tickers") if args.tickers else fetch_tickers(url)
    if args.save_snapshots:
        from threadx.core.io import atomic_write_json

        for name, doc in (("markets.json", markets), ("tickers.json", tickers)):
            atomic_write_json(args.save_snapshots / name, doc)
        print(f"inputs saved in {args.save_snapshots} (re-run offline with --markets/--tickers)")
    return markets, tickers


def cmd_universe(ctx: Context, args: argparse.Namespace) -> int:
    from threadx.core.config import project_root
    from threadx.data.universe import load_rules, select_universe

    path = (
        args.categories
        or project_root(Path(ctx.cfg.base_dir)) / "configs" / "universe_categories.toml"
    )
    rules = load_rules(path, per_category=args.per_category, top_n=args.top_n, size=args.size)
    markets, tickers = _universe_inputs(args)
    uni = select_universe(markets, tickers, rules)
    for p in uni.picks:
        cats = ",".join(p["categories"]) or "-"
        print(
            f"{p['rank']:>3} {p['symbol']:<8} {p['pair']:<10} {p['score']:>7.2f}  [{cats}] "
            f"{p['chosen_by']}: {'; '.join(p['reasons'])}"
        )
    for cat, s in uni.shortfalls.items():
        print(
            f"  shortfall: category {cat!r} has {s['eligible']} eligible token(s), "
            f"{s['required']} required (not padded)"
        )
    print(f"{len(uni.picks)} token(s); {len(uni.excluded)} rejected (see --out for reasons)")
    write_json(args.out, uni.to_dict())
    if not args.ingest:
        return 0
    start = parse_time(args.start, "--start")
    if start is None:
        raise DataError("data universe --ingest needs --start (how much history to fetch)")
    pairs = [p["pair"] for p in uni.picks]
    return _batch(ctx, args, pairs, start, parse_time(args.end, "--end"))
