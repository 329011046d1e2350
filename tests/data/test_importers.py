"""Tests of threadx.data.importers on the real files of tests/data/real/ and on small files
written here."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from threadx.core.errors import DataError
from threadx.data.importers import (
    ParsedFile,
    detect_format,
    infer_symbol_exchange,
    read_file,
    sha256_file,
    validate_symbol,
)
from threadx.data.schema import COLUMNS, validate_ohlcv

BTCUSDT = "binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv"  # under the `real_data` fixture
KRAKEN = "kraken/XBTUSDC_1m_2023-01-01_2023-03-31.csv"
SAMPLE = (
    Path(__file__).resolve().parents[2] / "threadx" / "sample" / "binance_us_BTCUSDT_1m.parquet"
)
LATER = pd.Timestamp("2030-01-01", tz="UTC")  # a `now` after every fixture row
HEADER = "open_time,open,high,low,close,volume\n"


def _bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.int64)


def _text_columns(path: Path, skip_header: bool) -> list[list[str]]:
    lines = path.read_text().splitlines()[1 if skip_header else 0 :]
    return [list(col) for col in zip(*(line.split(",") for line in lines), strict=True)]


def _one(path: Path, **kwargs: object) -> ParsedFile:
    parsed = read_file(path, now=LATER, **kwargs)
    assert len(parsed) == 1
    return parsed[0]


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _assert_normalised(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == list(COLUMNS)
    assert str(frame.index.dtype) == "datetime64[ns, UTC]"
    assert frame.index.name == "time"
    assert all(frame[c].dtype == np.float64 for c in COLUMNS)
    assert (frame.index.asi8 % 60_000_000_000 == 0).all()
    validate_ohlcv(frame)


@pytest.fixture(scope="module")
def btc(real_data: Path) -> ParsedFile:
    return _one(real_data / BTCUSDT)


@pytest.fixture(scope="module")
def btc_rows(real_data: Path) -> list[list[str]]:
    """The first day of BTCUSDT as CSV text fields: [iso time, o, h, l, c, v]."""
    return [line.split(",") for line in (real_data / BTCUSDT).read_text().splitlines()[1:1441]]


def _archive_csv(rows: list[list[str]], unit: str, header: bool = False) -> str:
    """Binance archive rows (12 columns) built from real rows, open time in ms or µs."""
    scale = {"ms": 1_000, "us": 1_000_000}[unit]
    out = []
    if header:
        out.append(
            "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
            "taker_buy_volume,taker_buy_quote_volume,ignore"
        )
    for t, o, h, lo, c, v in rows:
        start = int(pd.Timestamp(t).timestamp()) * scale
        out.append(
            f"{start},{o},{h},{lo},{c},{v},{start + 60 * scale - 1},"
            f"{float(c) * float(v):.8f},7,{v},0.5,0"
        )
    return "\n".join(out) + "\n"


def _expected(rows: list[list[str]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([r[0] for r in rows], name="time").as_unit("ns")
    return pd.DataFrame(
        {c: [float(r[j + 1]) for r in rows] for j, c in enumerate(COLUMNS)}, index=index
    )


def _zip_with_checksum(tmp_path: Path, name: str, members: dict[str, str]) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in members.items():
            archive.writestr(member, text)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_name(name + ".CHECKSUM").write_text(f"{digest}  {name}\n")
    return path


# ----------------------------------------------------------------------------- real files


def test_binance_us_csv_rows_span_and_exact_values(btc: ParsedFile, real_data: Path) -> None:
    frame = btc.frame
    _assert_normalised(frame)
    assert len(frame) == 30_240
    assert frame.index[0] == pd.Timestamp("2023-03-01 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2023-03-21 23:59", tz="UTC")
    assert (btc.symbol, btc.exchange, btc.timeframe, btc.kind) == (
        "BTCUSDT",
        "binance_us",
        "1m",
        "csv-header",
    )
    assert btc.duplicates_dropped == 0 and not btc.dropped_open_minute
    columns = _text_columns(real_data / BTCUSDT, skip_header=True)
    for j, name in enumerate(COLUMNS, start=1):
        expected = np.array([float(text) for text in columns[j]])
        np.testing.assert_array_equal(_bits(frame[name].to_numpy()), _bits(expected))


def test_kraken_headerless_unix_seconds(real_data: Path) -> None:
    parsed = _one(real_data / KRAKEN)
    frame = parsed.frame
    _assert_normalised(frame)
    assert len(frame) == 56_717
    assert frame.index[0] == pd.Timestamp("2023-01-01 00:00", tz="UTC")
    assert frame.index[-1] == pd.Timestamp("2023-03-31 23:59", tz="UTC")
    assert (parsed.symbol, parsed.exchange, parsed.kind) == ("XBTUSDC", "kraken", "csv-unix")
    columns = _text_columns(real_data / KRAKEN, skip_header=False)
    np.testing.assert_array_equal(frame.index.asi8, np.array(columns[0], dtype=np.int64) * 10**9)
    expected = np.array([float(text) for text in columns[4]])
    np.testing.assert_array_equal(_bits(frame["close"].to_numpy()), _bits(expected))


def test_detect_format_of_real_files(real_data: Path) -> None:
    assert detect_format(real_data / BTCUSDT) == "csv-header"
    assert detect_format(real_data / KRAKEN) == "csv-unix"
    assert detect_format(SAMPLE) == "parquet"


def test_sample_parquet_and_own_layout_round_trip(tmp_path: Path) -> None:
    sample = _one(SAMPLE)
    _assert_normalised(sample.frame)
    assert (sample.symbol, sample.exchange, sample.kind) == ("BTCUSDT", "binance_us", "parquet")
    store_file = tmp_path / "ohlcv" / "binance" / "ETHUSDT" / "1m" / "2023-03.parquet"
    store_file.parent.mkdir(parents=True)
    sample.frame.iloc[:500].to_parquet(store_file)
    again = _one(store_file)
    pd.testing.assert_frame_equal(again.frame, sample.frame.iloc[:500], check_exact=True)
    assert (again.symbol, again.exchange, again.timeframe) == ("ETHUSDT", "binance", "1m")


# ----------------------------------------------------------------------------- archives


@pytest.mark.parametrize("unit", ["ms", "us"])
def test_binance_archive_zip_with_good_checksum(tmp_path: Path, btc_rows, unit: str) -> None:
    path = _zip_with_checksum(
        tmp_path, "BTCUSDT-1m-2023-03.zip", {"BTCUSDT-1m-2023-03.csv": _archive_csv(btc_rows, unit)}
    )
    assert detect_format(path) == "binance-archive"
    parsed = _one(path)
    pd.testing.assert_frame_equal(parsed.frame, _expected(btc_rows), check_exact=True)
    assert (parsed.symbol, parsed.exchange, parsed.timeframe, parsed.kind) == (
        "BTCUSDT",
        "binance",
        "1m",
        "binance-archive",
    )
    assert parsed.source == path


def test_binance_archive_bad_checksum_rejected(tmp_path: Path, btc_rows) -> None:
    path = _zip_with_checksum(
        tmp_path,
        "BTCUSDT-1m-2023-03.zip",
        {"BTCUSDT-1m-2023-03.csv": _archive_csv(btc_rows[:10], "ms")},
    )
    path.with_name(path.name + ".CHECKSUM").write_text(f"{'0' * 64}  {path.name}\n")
    with pytest.raises(
        DataError,
        match=r"BTCUSDT-1m-2023-03\.zip: checksum mismatch: expected "
        r"0{64}, got [0-9a-f]{64}",
    ):
        read_file(path, now=LATER)
    assert len(read_file(path, now=LATER, verify_checksum=False)[0].frame) == 10
    path.with_name(path.name + ".CHECKSUM").unlink()
    _write(tmp_path, "BTCUSDT-1m-2023-03.CHECKSUM", "not-a-digest  x.zip\n")
    with pytest.raises(DataError, match="malformed checksum file"):
        read_file(path, now=LATER)
    _write(tmp_path, "BTCUSDT-1m-2023-03.CHECKSUM", f"{sha256_file(path).upper()}  x.zip\n")
    assert len(_one(path).frame) == 10


def test_zip_with_several_csvs_gives_several_frames(tmp_path: Path, btc_rows) -> None:
    path = _zip_with_checksum(
        tmp_path,
        "bundle.zip",
        {
            "BTCUSDT-1m-2023-03-01.csv": _archive_csv(btc_rows[:60], "ms"),
            "ETHUSDT-1m-2023-03-01.csv": _archive_csv(btc_rows[60:90], "us", header=True),
            "README.txt": "ignored",
        },
    )
    first, second = read_file(path, now=LATER)
    assert (first.symbol, len(first.frame)) == ("BTCUSDT", 60)
    assert (second.symbol, len(second.frame)) == ("ETHUSDT", 30)
    pd.testing.assert_frame_equal(second.frame, _expected(btc_rows[60:90]), check_exact=True)


@pytest.mark.parametrize("header", [False, True])
def test_archive_csv_with_and_without_header(tmp_path: Path, btc_rows, header: bool) -> None:
    path = _write(
        tmp_path, "BTCUSDT-1m-2023-03-01.csv", _archive_csv(btc_rows[:100], "ms", header=header)
    )
    assert detect_format(path) == "binance-archive"
    parsed = _one(path)
    assert parsed.kind == "binance-archive" and parsed.exchange == "binance"
    pd.testing.assert_frame_equal(parsed.frame, _expected(btc_rows[:100]), check_exact=True)


def test_corrupt_zip_and_empty_zip(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT-1m-2023-03.zip"
    bad.write_bytes(b"PK\x03\x04" + bytes(range(200)))
    with pytest.raises(DataError, match="not a valid zip archive"):
        read_file(bad)
    empty = _zip_with_checksum(tmp_path, "empty.zip", {"notes.txt": "x"})
    with pytest.raises(DataError, match="holds no CSV"):
        read_file(empty)


# ----------------------------------------------------------------------------- json and csv


def test_json_records_iso_and_epoch(tmp_path: Path) -> None:
    records = [
        {
            "open_time": "2023-03-01T00:01:00Z",
            "open": 2,
            "high": 3.5,
            "low": 1,
            "close": "2.5",
            "volume": 0.1,
            "trades": 3,
        },
        {
            "open_time": "2023-03-01T00:00:00Z",
            "open": 1,
            "high": 2,
            "low": 0.5,
            "close": 1.5,
            "volume": 0.0,
        },
    ]
    frame = _one(_write(tmp_path, "BTCUSDT_1m.json", json.dumps(records))).frame
    _assert_normalised(frame)
    assert list(frame.index) == list(
        pd.to_datetime(["2023-03-01 00:00", "2023-03-01 00:01"], utc=True)
    )
    assert frame["close"].tolist() == [1.5, 2.5]
    epoch = [
        {"Time": 1677628800 + 60 * i, "O": 1, "H": 2, "L": 1, "C": 2, "V": 5} for i in range(3)
    ]
    frame = _one(_write(tmp_path, "epoch.json", json.dumps({"data": epoch}))).frame
    assert frame.index[0] == pd.Timestamp("2023-03-01", tz="UTC") and len(frame) == 3


def test_json_kline_arrays_with_string_numbers(tmp_path: Path) -> None:
    klines = [
        [
            1677628800000 + 60_000 * i,
            "23140.48",
            "23150.77",
            "23128.52",
            "23142.31",
            "2.131777",
            1677628859999,
            "49330.1",
            100,
            "1.0",
            "2.0",
            "0",
        ]
        for i in range(5)
    ]
    path = _write(tmp_path, "BTCUSDT_1m_rest.json", json.dumps(klines))
    assert detect_format(path) == "json"
    parsed = _one(path)
    assert parsed.kind == "json" and parsed.symbol == "BTCUSDT" and len(parsed.frame) == 5
    assert parsed.frame.index[4] == pd.Timestamp("2023-03-01 00:04", tz="UTC")
    assert parsed.frame["close"].iloc[0] == float("23142.31")


def test_csv_header_aliases_extra_columns_and_flooring(tmp_path: Path) -> None:
    text = (
        "Timestamp , OPEN,High,Low,Close,Volume,Trades\n"
        "2023-03-01 00:00:30+00:00,1,2,0.5,1.5,3,9\n"
        "2023-03-01T02:01:00+01:00,1.5,2,1,2,0,1\n"
    )
    frame = _one(_write(tmp_path, "kraken_XBTUSDC_1m.csv", text)).frame
    assert list(frame.index) == list(
        pd.to_datetime(["2023-03-01 00:00", "2023-03-01 01:01"], utc=True)
    )


def test_exact_duplicates_dropped_and_counted(tmp_path: Path) -> None:
    row = "2023-03-01 00:00:00+00:00,1,2,0.5,1.5,3\n"
    later = "2023-03-01 00:01:00+00:00,1,2,0.5,1.5,3\n"
    parsed = _one(_write(tmp_path, "d.csv", HEADER + later + row + row + later))
    assert parsed.duplicates_dropped == 2 and len(parsed.frame) == 2


def test_open_current_minute_dropped_and_flagged(tmp_path: Path) -> None:
    rows = [f"2023-03-01 00:0{i}:00+00:00,1,2,0.5,1.5,3\n" for i in range(4)]
    path = _write(tmp_path, "BTCUSDT_1m.csv", HEADER + "".join(rows))
    parsed = read_file(path, now=pd.Timestamp("2023-03-01 00:03:25", tz="UTC"))[0]
    assert parsed.dropped_open_minute and len(parsed.frame) == 3
    assert parsed.frame.index[-1] == pd.Timestamp("2023-03-01 00:02", tz="UTC")
    assert not _one(path).dropped_open_minute
    now = pd.Timestamp.now("UTC").floor("min")
    next_minute = now + pd.Timedelta("1min")
    fresh = _write(
        tmp_path,
        "fresh.csv",
        HEADER + f"{now - pd.Timedelta('5min')},1,2,0.5,1.5,3\n{next_minute},1,2,0.5,1.5,3\n",
    )
    parsed = read_file(fresh)[0]  # default now: the wall clock (robust to a minute tick)
    assert parsed.dropped_open_minute and len(parsed.frame) == 1
    assert parsed.frame.index[0] == now - pd.Timedelta("5min")


HARD_FLOATS = [
    "0.1",
    "23142.31",
    "2.2250738585072011e-308",
    "9007199254740993",
    "4.9e-324",
    "0.1000000000000000055511151231257827021181583404541015625",
    "1e22",
    "+1.5",
    "123456789012345678901234567890",
    "0.30000000000000004",
    "1.",
    ".5",
    "7E-10",
]


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(min_value=1e-300, max_value=1e300).map(repr),
            st.from_regex(r"[1-9][0-9]{0,24}\.[0-9]{1,30}", fullmatch=True),
            st.sampled_from(HARD_FLOATS),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_csv_floats_round_trip_bit_exact(
    tmp_path_factory: pytest.TempPathFactory, texts: list[str]
) -> None:
    lines = [f"{1677628800 + 60 * i},{t},{t},{t},{t},{t}\n" for i, t in enumerate(texts)]
    path = _write(tmp_path_factory.mktemp("floats"), "exact.csv", "".join(lines))
    frame = _one(path).frame
    expected = np.array([float(t) for t in texts])
    for name in COLUMNS:
        np.testing.assert_array_equal(_bits(frame[name].to_numpy()), _bits(expected))


def test_detect_format_by_sniffing(tmp_path: Path, btc_rows) -> None:
    assert detect_format(_write(tmp_path, "a.txt", " [[1,2]]")) == "json"
    assert detect_format(_write(tmp_path, "b.dat", "1677628800,1,2,0.5,1.5,3,7\n")) == "csv-unix"
    assert detect_format(_write(tmp_path, "c", HEADER)) == "csv-header"
    _expected(btc_rows[:3]).to_parquet(tmp_path / "d.bin")
    assert detect_format(tmp_path / "d.bin") == "parquet"
    assert len(_one(tmp_path / "d.bin").frame) == 3
    with pytest.raises(DataError, match="empty file"):
        detect_format(_write(tmp_path, "e.csv", ""))


def test_parquet_with_timestamp_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2023-03-01", periods=4, freq="min"),
            "open": [1.0] * 4,
            "high": [2] * 4,
            "low": [0.5] * 4,
            "close": ["1.5"] * 4,
            "volume": [0.0] * 4,
        }
    )
    frame.to_parquet(tmp_path / "okx_BTC-USDT_1m.parquet")
    parsed = _one(tmp_path / "okx_BTC-USDT_1m.parquet")
    assert (parsed.symbol, parsed.exchange, len(parsed.frame)) == ("BTC-USDT", "okx", 4)
    assert parsed.frame.index[0] == pd.Timestamp("2023-03-01", tz="UTC")


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "open_time,open,high,low,volume\n2023-03-01,1,2,0.5,3\n",
            r"bad\.csv: row 1 \(header\): missing column 'close'",
        ),
        (
            HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\n2023-03-01 00:01,1,2,0.5,abc,3\n",
            r"bad\.csv: row 3: column 'close' is not numeric \('abc'\)",
        ),
        (
            HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\n\n2023-03-01 00:01,1,,0.5,1.5,3\n",
            r"bad\.csv: row 4: column 'high' has a missing value",
        ),
        (
            HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\n2023-03-01 00:01,1,2,0.5\n",
            r"bad\.csv: row 3: expected 6 columns, got 4",
        ),
        (
            HEADER + "2023-03-01 00:00,1,0.5,2,1.5,3\n",
            r"bad\.csv: rule 'high >= low' violated by 1 row\(s\), first at: 2023-03-01 00:00:00",
        ),
        (
            HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\n2023-03-01 00:01,1,2,0.5,1.5,3\n"
            "2023-03-01 00:00:40,1,2,0.5,1.4,3\n",
            r"bad\.csv: rule 'one candle per minute'.*2023-03-01 00:00:00\+00:00 \(row 2, row 4\)",
        ),
        (
            HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\nyesterday,1,2,0.5,1.5,3\n",
            r"bad\.csv: row 3: column 'open_time' is not an ISO-8601 timestamp \('yesterday'\)",
        ),
        (
            "1677628800,1,2,0.5,1.5,3\n1677628860000,1,2,0.5,1.5,3\n",
            r"bad\.csv: row 2: column 'time' mixes timestamp units \(milliseconds here, seconds",
        ),
        ("1677628800,1,2,0.5,1e999,3\n", r"bad\.csv: row 1: column 'close' is not within float64"),
        ("1677628800,1,2,0.5,nan,3\n", r"bad\.csv: row 1: column 'close' is not numeric \('nan'\)"),
        ("1677628800,1,2,0.5\n", r"bad\.csv: row 1: expected at least 6 columns"),
    ],
)
def test_bad_csv_raises_helpful_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_file(_write(tmp_path, "bad.csv", text), now=LATER)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('[{"time": 1677628800, "open": 1}', r"bad\.json: row 1: invalid JSON"),
        (
            {"code": -1121, "msg": "Invalid symbol."},
            r"expected a list of candles or .*'code', 'msg'",
        ),
        ([[1677628800000, "1", "2", "0.5"]], r"bad\.json: record 1: expected an array"),
        (
            [
                {"time": 1677628800, "open": 1, "high": 2, "low": 0.5, "close": 1, "volume": 1},
                {"time": 1677628860, "open": 1, "high": 2, "low": 0.5, "close": True, "volume": 1},
            ],
            r"bad\.json: record 2: column 'close' is not numeric \(True\)",
        ),
        (
            [{"time": 1677628800, "open": 1, "high": 2, "low": 0.5, "close": 1}],
            r"bad\.json: record 1: missing column 'volume'",
        ),
    ],
)
def test_bad_json_raises_helpful_error(tmp_path: Path, doc: object, message: str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(DataError, match=message):
        read_file(_write(tmp_path, "bad.json", text), now=LATER)


def test_corrupted_parquet_raises(tmp_path: Path) -> None:
    path = tmp_path / "binance_BTCUSDT_1m.parquet"
    path.write_bytes(np.random.default_rng(7).bytes(4096))
    with pytest.raises(DataError, match=r"binance_BTCUSDT_1m\.parquet: not a readable Parquet"):
        read_file(path)
    pd.DataFrame({"a": [1.0]}).to_parquet(path)
    with pytest.raises(DataError, match=r"columns: missing column 'time'"):
        read_file(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_file(tmp_path / "nope.csv")


# ----------------------------------------------------------------------------- names


def test_validate_symbol_rules() -> None:
    assert validate_symbol("BTCUSDT") == "BTCUSDT"
    assert validate_symbol("btc-usd") == "BTC-USD"
    for bad, rule in [
        ("../etc", "path separator"),
        ("BTC/USDT", "path separator"),
        ("a\\b", "path separator"),
        ("A..B", r"'\.\.'"),
        ("", "1 to 40"),
        ("X" * 41, "1 to 40"),
        ("BTC USDT", "only A-Z"),
        (".hidden", "only A-Z"),
        ("ıNCH", "only A-Z"),
        (None, "must be a string"),
    ]:
        with pytest.raises(DataError, match=rule):
            validate_symbol(bad)  # type: ignore[arg-type]


def test_read_file_rejects_unsafe_symbol_and_exchange(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.csv", HEADER + "2023-03-01 00:00,1,2,0.5,1.5,3\n")
    with pytest.raises(DataError, match=r"symbol '\.\./\.\./etc': must not contain a path sep"):
        read_file(path, symbol="../../etc")
    with pytest.raises(DataError, match="exchange 'a/b'"):
        read_file(path, exchange="a/b")
    parsed = _one(path, symbol="ethusdt", exchange="Kraken")
    assert (parsed.symbol, parsed.exchange) == ("ETHUSDT", "kraken")
    assert (_one(path).symbol, _one(path).exchange) == (None, None)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv", ("BTCUSDT", "binance_us", "1m")),
        ("kraken/XBTUSDC_1m_2023-01-01_2023-03-31.csv", ("XBTUSDC", "kraken", "1m")),
        ("x/BTCUSDT-1m-2023-03.zip", ("BTCUSDT", "binance", "1m")),
        ("BTCUSDT-5m-2023-03-01.csv", ("BTCUSDT", "binance", "5m")),
        ("binance_us/ETHUSDT-1m-2023-03.zip", ("ETHUSDT", "binance_us", "1m")),
        ("sample/binance_us_BTCUSDT_1m.parquet", ("BTCUSDT", "binance_us", "1m")),
        ("BinanceUS/btcusdt_1h.csv", ("BTCUSDT", "binance_us", "1h")),
        ("data/ohlcv/bybit/SOLUSDT/1m/2024-02.parquet", ("SOLUSDT", "bybit", "1m")),
        ("TradXPro/binance/crypto_data_json/ETHUSDT_4h.json", ("ETHUSDT", "binance", "4h")),
        ("old/Kraken/crypto_data_parquet/XBTUSDC_15m.parquet", ("XBTUSDC", "kraken", "15m")),
        ("old/crypto_data_json/ETHUSDT_1h.json", ("ETHUSDT", None, "1h")),
        ("downloads/prices.csv", (None, None, None)),
        ("coinbase/prices.csv", (None, "coinbase", None)),
    ],
)
def test_infer_symbol_exchange(path: str, expected: tuple) -> None:
    assert infer_symbol_exchange(Path(path)) == expected


def test_sha256_file(tmp_path: Path) -> None:
    path = tmp_path / "blob"
    path.write_bytes(b"threadx" * 100_000)
    assert sha256_file(path) == hashlib.sha256(b"threadx" * 100_000).hexdigest()


def test_header_only_csv_and_empty_json_give_empty_frames(tmp_path: Path) -> None:
    for path in (_write(tmp_path, "BTCUSDT_1m.csv", HEADER), _write(tmp_path, "e.json", "[]")):
        parsed = _one(path)
        assert len(parsed.frame) == 0 and parsed.symbol in ("BTCUSDT", None)
        _assert_normalised(parsed.frame)
