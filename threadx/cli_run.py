"""``threadx demo`` (and, as they land, backtest / sweep verbs)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from threadx.cli import Context


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
    print(pd.concat([bars.head(5), bars.tail(5)]).to_string())
    return 0
