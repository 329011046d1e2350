"""``threadx demo`` (and, as they land, backtest / sweep verbs)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadx.cli.args import Context


SAMPLE_SYMBOL_TF = "BTCUSDT 15m"
# The demo grid (same as configs/sweeps/demo.toml, kept here so `threadx demo` works anywhere).
DEMO_SPEC = {
    "name": "demo",
    "data": {"symbols": ["BTCUSDT"], "timeframes": ["15m"]},
    "grid": {
        "bb_period": {"start": 10, "stop": 40, "step": 10},
        "bb_std": {"start": 1.5, "stop": 3.0, "step": 0.5},
        "atr_period": [7, 14, 21],
        "atr_multiplier": [1.0, 1.5, 2.0, 3.0],
        "max_hold_bars": [24, 72],
        "trailing_stop": [True, False],
        "direction": ["both", "long", "short"],
    },
    "fixed": {"fee_bps": 4.5, "slippage_bps": 1.0, "risk_per_trade": 0.01},
    "rank": {"by": ["sharpe", "-max_drawdown"], "top_k": 10},
}


def register(verbs: argparse._SubParsersAction) -> None:
    demo = verbs.add_parser("demo", help="import the bundled sample and run the demo")
    demo.add_argument("--timeframe", default="1h", help="timeframe to resample to (default 1h)")
    demo.set_defaults(func=cmd_demo)


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    import pandas as pd

    from threadx.data.resample import resample
    from threadx.sample import SAMPLE_EXCHANGE, SAMPLE_SYMBOL, ensure_sample

    store = ctx.store
    ensure_sample(store)
    print(f"== ThreadX demo: data root {store.data_root}")
    print("\n-- catalog")
    print(store.list_frame().drop(columns=["bytes"]).to_string(index=False))
    frame = store.read(SAMPLE_SYMBOL, SAMPLE_EXCHANGE)
    res = resample(frame, args.timeframe)
    print(
        f"\n-- {SAMPLE_SYMBOL} resampled to {res.timeframe}: {len(res.frame):,} bars from "
        f"{len(frame):,} 1m bars"
    )
    bars = res.frame
    print(pd.concat([bars.head(3), bars.tail(3)]).to_string())
    return _demo_sweep(ctx)


def _demo_sweep(ctx: Context) -> int:
    """The demo sweep through the Ray actor system; a demo run already complete in the store is
    shown from disk (no cluster started)."""
    from threadx.cli.sweep import (
        _preflight,
        complete_line,
        completed_run,
        print_ranking,
        print_verdict,
        run_on_cluster,
    )
    from threadx.sweep import spec_from_dict
    from threadx.sweep.plan import load_datasets

    spec = spec_from_dict(DEMO_SPEC, "demo spec")
    print(f"\n-- demo sweep on {SAMPLE_SYMBOL_TF} through the Ray actor system")
    datasets = load_datasets(spec, ctx.store)
    result = completed_run(spec, datasets, ctx.cfg.data_root)
    if result is not None:
        print(complete_line(result))
    else:
        _preflight(spec, ctx.store, ctx.cfg.sweep.memory_budget_gb, datasets)
        result = run_on_cluster(ctx, spec, None)
        m = result.manifest
        shares = ", ".join(f"{d} {v:.0%}" for d, v in (m.get("device_shares") or {}).items())
        print(
            f"run {result.run_id}: {m['status']}, {m['total_combos']:,} combinations, "
            f"{m.get('bar_steps_per_s') or 0:,.4g} bar-steps/s, devices: {shares}"
        )
    print_ranking(result, 10)
    print_verdict(result)
    print(f"\nrun folder: {result.run_dir}")
    return 0
