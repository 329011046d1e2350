"""The bundled real sample: Binance.US BTC/USDT 1-minute candles, 2023-03-01 .. 2023-03-21 UTC."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

SAMPLE_EXCHANGE = "binance_us"
SAMPLE_SYMBOL = "BTCUSDT"
_FILE = "binance_us_BTCUSDT_1m.parquet"


def sample_path() -> Path:
    return Path(str(resources.files(__package__).joinpath(_FILE)))


def load_sample() -> pd.DataFrame:
    """The sample as a schema frame (UTC index ``time``, float64 open/high/low/close/volume)."""
    from threadx.data.schema import INDEX_NAME, validate_ohlcv

    frame = pd.read_parquet(sample_path())
    frame.index = pd.DatetimeIndex(frame.index, name=INDEX_NAME).as_unit("ns")
    return validate_ohlcv(frame, source=str(sample_path()))


def ensure_sample(store) -> None:  # noqa: ANN001 - OHLCVStore, imported lazily
    """Import the sample into ``store`` (idempotent: unchanged months are not rewritten)."""
    store.write(
        load_sample(),
        exchange=SAMPLE_EXCHANGE,
        symbol=SAMPLE_SYMBOL,
        source=f"bundled sample {_FILE}",
    )
