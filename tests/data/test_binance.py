"""Binance client, incremental ingest, archives and verification against a local fake exchange.

Every request goes to a real HTTP server on 127.0.0.1 (tests/fake_exchange.py) serving the real
BTCUSDT minutes of tests/data/real/. Budget tests run on a simulated clock: the client sleeps by
advancing it, the server stamps every request with it, so "never more than the budget in any
window" is checked on the server's side without waiting real minutes.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fake_exchange import (
    FakeClock,
    FakeExchange,
    Faults,
    data_cli,
    load_rows,
    sliding_max_weight,
)
from threadx.core.errors import DataError, ThreadXError
from threadx.data.binance import (
    import_archives,
    ingest,
    load_confirmed,
    missing_runs,
    subtract_runs,
)
from threadx.data.binance_http import BinanceClient, WeightBudget
from threadx.data.binance_verify import verify
from threadx.data.importers import read_file
from threadx.data.store import OHLCVStore

REPO = Path(__file__).resolve().parents[2]
CSV = "binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv"  # under the `real_data` fixture
SYM, EXCH = "BTCUSDT", "binance_us"
START, END = "2023-03-01", "2023-03-22"
HOUR = ("2023-03-10 05:00", "2023-03-10 06:00")


@pytest.fixture(scope="module")
def rows(real_data: Path) -> list:
    return load_rows(real_data / CSV)


@pytest.fixture(scope="module")
def truth(real_data: Path) -> pd.DataFrame:
    """The original file's rows (``real_data`` checked its bytes against SHA256SUMS)."""
    return read_file(real_data / CSV, symbol=SYM, exchange=EXCH)[0].frame


def _client(ex: FakeExchange, clock: FakeClock, limit: int = 1200, **kw) -> BinanceClient:
    budget = WeightBudget(limit, 60.0, clock=clock, sleep=clock.sleep)
    return BinanceClient(
        ex.base_url, budget=budget, timeout_s=kw.pop("timeout_s", 2.0), backoff_s=0.01, seed=7, **kw
    )


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Bit-identical frames (index and every float)."""
    return a.index.equals(b.index) and np.array_equal(
        a.to_numpy().view(np.int64), b.to_numpy().view(np.int64)
    )


def _pages(runs: list[tuple[int, int]]) -> int:
    return sum(math.ceil((b - a) / 1000) for a, b in runs)


def test_download_reproduces_shared_file_exactly(tmp_path, rows, truth):
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
    got = store.read(SYM, EXCH)
    assert len(got) == 30_240 and _same(got, truth)
    assert rep.client["requests"] == 31 and rep.client["retries"] == 0  # ceil(30240 / 1000)
    assert rep.pages == 31 and rep.rows_added == 30_240 and rep.confirmed_gaps == []
    assert store.gaps(SYM, EXCH).missing == 0
    assert [h.params["limit"] for h in ex.klines_hits()] == ["1000"] * 31


def test_misbehaving_exchange_gives_the_same_data_within_budget(tmp_path, rows, truth):
    faults = Faults(
        by_request={
            3: "429",
            5: "500",
            7: "timeout",
            9: "truncated",
            11: "503",
            13: "418",
            15: "incomplete",
            17: "short",
            19: "502",
        },
        retry_after=7,
        slow_s=2.0,
        duplicate_rows=True,
        missing=[HOUR],
    )
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, faults=faults, clock=clock) as ex:
        client = _client(ex, clock, limit=20, timeout_s=1.0)
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=client)
        hits = ex.klines_hits()
        again = ingest(store, SYM, START, END, exchange=EXCH, client=client)
    hour = truth.loc[pd.Timestamp(HOUR[0], tz="UTC") : pd.Timestamp(HOUR[1], tz="UTC")].index[:-1]
    assert len(hour) == 60
    assert _same(store.read(SYM, EXCH), truth.drop(hour))
    # each fault cost exactly one retry; Retry-After was honoured on the server's clock
    c = rep.client
    assert (c["retry_timeout"], c["retry_bad-body"], c["retry_connection"]) == (1, 1, 1)
    assert (c["retry_http-500"], c["retry_http-502"], c["retry_http-503"]) == (1, 1, 1)
    assert c["rate_limited"] == 2 and c["rate_limit_wait_s"] == 14
    for i, h in enumerate(hits[:-1]):
        if h.status in (429, 418):
            assert hits[i + 1].t - h.t >= 7
    assert rep.duplicates_dropped > 0
    # the missing hour: asked twice (download + recheck), then recorded, never asked again
    assert rep.confirmed_gaps == [["2023-03-10 05:00:00+00:00", "2023-03-10 06:00:00+00:00", 60]]
    assert [(r["start"], r["minutes"]) for r in load_confirmed(store, EXCH, SYM)] == [
        ("2023-03-10 05:00:00+00:00", 60)
    ]
    assert store.gaps(SYM, EXCH).runs == [(pd.Timestamp(HOUR[0], tz="UTC"), 60)]
    assert again.client.get("requests", 0) == 0 and again.skipped_confirmed == 60
    # the budget: 20 weight per 60 s, never exceeded on the server's clock, and it did bind
    assert sliding_max_weight(hits, 60.0) <= 20 and ex.max_window_weight() <= 20
    assert rep.client["budget_waits"] > 0
    assert not [h for h in hits if h.fault == "over-budget"]
    print(
        f"\nfaults run: {len(hits)} requests ({c['retries']} retries, {c['rate_limited']} "
        f"rate-limited), max weight in any 60 s: {sliding_max_weight(hits, 60.0)} of 20, "
        f"simulated time {clock():.0f}s"
    )


def test_used_weight_header_keeps_other_clients_usage_in_budget(tmp_path, rows, truth):
    """Other clients of the IP use 8 weight a window: the server enforces 20 in total."""
    results = {}
    for mode in ("headers", "ignored"):
        clock = FakeClock()
        faults = Faults(weight_limit=20, foreign_weight=8)
        store = OHLCVStore(tmp_path / mode)
        with FakeExchange({SYM: rows}, faults=faults, clock=clock) as ex:
            client = _client(ex, clock, limit=20, max_rate_limited=100)
            if mode == "ignored":
                client.budget.observe = lambda seq, used: None  # a client blind to the header
            ingest(store, SYM, START, END, exchange=EXCH, client=client)
            over = [h for h in ex.klines_hits() if h.fault == "over-budget"]
            results[mode] = (len(over), ex.max_window_weight())
        assert _same(store.read(SYM, EXCH), truth)
    assert results["headers"] == (0, 20)  # 8 foreign + 6 requests of weight 2
    assert results["ignored"][0] > 0  # without reading the header the server refuses requests
    print(
        f"\nforeign weight: header-aware over-budget answers {results['headers'][0]}, "
        f"header-blind {results['ignored'][0]}"
    )


def test_transient_missing_hour_is_recovered_by_the_recheck(tmp_path, rows, truth):
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, faults=Faults(missing_once=[HOUR]), clock=clock) as ex:
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
    assert _same(store.read(SYM, EXCH), truth)
    assert rep.confirmed_gaps == [] and rep.client["requests"] == 32  # 31 + one recheck page
    assert load_confirmed(store, EXCH, SYM) == []


def test_only_head_tail_and_internal_gaps_are_downloaded(tmp_path, rows, truth):
    store = OHLCVStore(tmp_path)
    keep = truth.loc["2023-03-03":"2023-03-20 23:59"]
    keep = keep.drop(keep.loc["2023-03-10 00:00":"2023-03-10 11:59"].index)
    store.write(keep, exchange=EXCH, symbol=SYM)
    have = keep.index.asi8 // 60_000_000_000
    lo, hi = truth.index.asi8[[0, -1]] // 60_000_000_000
    runs = missing_runs(have, int(lo), int(hi) + 1)
    assert [b - a for a, b in runs] == [2880, 720, 1440]
    clock = FakeClock()
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
        starts = [int(h.params["startTime"]) // 60_000 for h in ex.klines_hits()]
    assert rep.client["requests"] == _pages(runs) == 6
    assert all(any(a <= s < b for a, b in runs) for s in starts)
    assert rep.missing_before == 5040 and _same(store.read(SYM, EXCH), truth)


def test_start_defaults_to_the_first_kline(tmp_path, rows, truth):
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        rep = ingest(store, SYM, None, "2023-03-01 03:00", exchange=EXCH, client=_client(ex, clock))
        limits = [h.params["limit"] for h in ex.klines_hits()]
    assert limits == ["1", "1000"] and rep.start == "2023-03-01 00:00:00+00:00"
    assert _same(store.read(SYM, EXCH), truth.iloc[:180])


def test_interrupted_ingest_resumes_without_loss(tmp_path, rows, truth):
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    seen = []

    def stop_after_12_pages(p: dict) -> None:
        seen.append(p)
        if len(seen) == 12:
            raise KeyboardInterrupt

    with FakeExchange({SYM: rows}, clock=clock) as ex:
        client = _client(ex, clock)
        with pytest.raises(KeyboardInterrupt):
            ingest(
                store,
                SYM,
                START,
                END,
                exchange=EXCH,
                client=client,
                flush_rows=5000,
                progress=stop_after_12_pages,
            )
        kept = store.read(SYM, EXCH)
        assert len(kept) == 12_000 and _same(kept, truth.iloc[:12_000])  # nothing received lost
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=client)
    assert rep.missing_before == 18_240 and rep.client["requests"] == 19  # only what is missing
    assert _same(store.read(SYM, EXCH), truth)
    assert seen[-1]["done_minutes"] == 12_000 and seen[-1]["total_minutes"] == 30_240


def test_killed_ingest_process_resumes_without_loss(tmp_path, rows, truth):
    """SIGKILL an ingest in another process while a request is in flight; run it again."""
    store = OHLCVStore(tmp_path)
    code = (
        "import sys; from pathlib import Path; from threadx.data.binance import ingest;"
        "from threadx.data.store import OHLCVStore;"
        f"ingest(OHLCVStore(Path(sys.argv[1])), {SYM!r}, {START!r}, {END!r},"
        f" exchange={EXCH!r}, base_url=sys.argv[2], flush_rows=3000)"
    )
    with FakeExchange({SYM: rows}, faults=Faults(hold_at=15)) as ex:
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), ex.base_url],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        try:
            assert ex.held.wait(60), "the child never reached request 15"
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
        ex.release.set()
        kept = store.read(SYM, EXCH)
        assert len(kept) == 12_000 and _same(kept, truth.iloc[:12_000])  # 4 flushes of 3 pages
        clock = FakeClock()
        rep = ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
    assert rep.client["requests"] == 19 and _same(store.read(SYM, EXCH), truth)
    assert store.rebuild_catalog()[f"{EXCH}/{SYM}/2023-03"]["rows"] == 30_240


def test_client_errors_are_clear(tmp_path, rows):
    clock = FakeClock()
    store = OHLCVStore(tmp_path)
    with FakeExchange(
        {SYM: rows}, faults=Faults(by_request={1: "418"}, retry_after=86_400), clock=clock
    ) as ex:
        with pytest.raises(ThreadXError, match=r"IP banned \(418\), Retry-After 86400s"):
            ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
        with pytest.raises(DataError, match="HTTP 400.*Invalid symbol"):
            ingest(store, "ETHUSDT", START, END, exchange=EXCH, client=_client(ex, clock))
    always = Faults(by_request={i: "500" for i in range(1, 10)})
    with FakeExchange({SYM: rows}, faults=always, clock=clock) as ex:
        with pytest.raises(ThreadXError, match="gave up after 3 retries"):
            ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock, max_retries=3))
        assert len(ex.klines_hits()) == 4
    assert store.symbols() == []


def test_range_arithmetic():
    assert missing_runs(np.array([2, 3, 7]), 0, 10) == [(0, 2), (4, 7), (8, 10)]
    assert missing_runs(np.array([], dtype=np.int64), 5, 8) == [(5, 8)]
    assert subtract_runs([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]


# ----------------------------------------------------------------------------- archives


@pytest.mark.parametrize(("header", "unit"), [(False, "ms"), (True, "us")])
def test_archive_import_good_checksum(tmp_path, rows, truth, header, unit):
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, faults=Faults(archive_header=header, archive_unit=unit)) as ex:
        lines = import_archives(
            store, SYM, "2023-03-01", "2023-04-01", base_url=ex.base_url, exchange=EXCH
        )
    assert [(x["archive"], x["status"], x["rows"]) for x in lines] == [
        ("BTCUSDT-1m-2023-03.zip", "imported", 30_240)
    ]
    assert _same(store.read(SYM, EXCH), truth)


def test_archive_daily_and_unpublished(tmp_path, rows, truth):
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}) as ex:
        lines = import_archives(
            store,
            SYM,
            "2023-03-21",
            "2023-03-23",
            period="daily",
            base_url=ex.base_url,
            exchange=EXCH,
        )
    assert [x["status"] for x in lines] == ["imported", "skipped"]
    assert lines[1]["reason"] == "not published (404)"
    assert _same(store.read(SYM, EXCH), truth.loc["2023-03-21":])


def test_archive_bad_checksum_writes_nothing(tmp_path, rows):
    store = OHLCVStore(tmp_path)
    faults = Faults(bad_checksum={"BTCUSDT-1m-2023-03.zip"})
    with FakeExchange({SYM: rows}, faults=faults) as ex:
        lines = import_archives(
            store, SYM, "2023-03-01", "2023-04-01", base_url=ex.base_url, exchange=EXCH
        )
    assert lines[0]["status"] == "error" and "checksum mismatch" in lines[0]["error"]
    assert store.symbols() == [] and not list(store.root.rglob("*.parquet"))
    assert not list(store.root.rglob("*.zip")) and not list(store.root.rglob("archives.json"))


def _bump(rows: list) -> list:
    """A first publication with one wrong minute (prices +1)."""
    out = [list(r) for r in rows]
    out[100][1:5] = [f"{float(x) + 1:.8f}" for x in out[100][1:5]]
    return out


def test_republished_archive_replaces_month_only_after_verification(tmp_path, rows, truth):
    store = OHLCVStore(tmp_path)
    name = "BTCUSDT-1m-2023-03.zip"
    with FakeExchange({SYM: rows}) as ex:
        ex.archive_edits[name] = _bump

        def run() -> dict:
            return import_archives(
                store, SYM, "2023-03-01", "2023-04-01", base_url=ex.base_url, exchange=EXCH
            )[0]

        assert run()["status"] == "imported"
        stored = store.read(SYM, EXCH)
        assert stored.iloc[100]["close"] == truth.iloc[100]["close"] + 1
        # a corrected re-publication whose download fails verification changes nothing
        del ex.archive_edits[name]
        ex.faults.bad_checksum.add(name)
        assert run()["status"] == "error" and _same(store.read(SYM, EXCH), stored)
        # the verified re-publication replaces the month
        ex.faults.bad_checksum.clear()
        line = run()
        assert (line["status"], line["replaced"]) == ("republished", 1)
        assert _same(store.read(SYM, EXCH), truth)
        zips = len([h for h in ex.hits if h.path.endswith(".zip")])
        assert run()["status"] == "skipped"  # same checksum: not even downloaded
        assert len([h for h in ex.hits if h.path.endswith(".zip")]) == zips


# ----------------------------------------------------------------------------- verification


def _ingested(tmp_path: Path, rows: list, clock: FakeClock) -> OHLCVStore:
    store = OHLCVStore(tmp_path)
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        ingest(store, SYM, START, END, exchange=EXCH, client=_client(ex, clock))
    return store


def test_verify_passes_on_clean_data(tmp_path, rows):
    clock = FakeClock()
    store = _ingested(tmp_path, rows, clock)
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        rep = verify(store, SYM, exchange=EXCH, client=_client(ex, clock))
    assert rep.ok and rep.compared == {"1h": 504, "4h": 126, "1d": 21}
    assert rep.anomalies == [] and rep.warnings == []


def test_verify_flags_a_corrupted_exchange_bar(tmp_path, rows):
    clock = FakeClock()
    store = _ingested(tmp_path, rows, clock)
    faults = Faults(corrupt=("1h", "2023-03-13 14:00"))
    with FakeExchange({SYM: rows}, faults=faults, clock=clock) as ex:
        rep = verify(store, SYM, exchange=EXCH, client=_client(ex, clock))
        with pytest.raises(DataError, match="'3h'"):
            verify(store, SYM, exchange=EXCH, intervals=("3h",), client=_client(ex, clock))
    assert not rep.ok
    fields = {(a["interval"], a["time"], a["kind"], a["field"]) for a in rep.anomalies}
    assert ("1h", "2023-03-13 14:00:00+00:00", "mismatch", "close") in fields
    assert {a["interval"] for a in rep.anomalies} == {"1h"}
    close = next(a for a in rep.anomalies if a["field"] == "close")
    assert close["rel_diff"] == pytest.approx(1e-3 / 1.001, rel=1e-6) and close["complete"]


def test_verify_flags_a_corrupted_local_minute_at_every_interval(tmp_path, rows, truth):
    clock = FakeClock()
    store = _ingested(tmp_path, rows, clock)
    bad = truth.loc[["2023-03-15 09:37"]].copy()
    bad["volume"] += 5.0
    store.write(bad, exchange=EXCH, symbol=SYM, on_conflict="replace")
    with FakeExchange({SYM: rows}, clock=clock) as ex:
        rep = verify(store, SYM, exchange=EXCH, client=_client(ex, clock))
    got = sorted((a["interval"], a["time"], a["field"]) for a in rep.anomalies)
    assert got == [
        ("1d", "2023-03-15 00:00:00+00:00", "volume"),
        ("1h", "2023-03-15 09:00:00+00:00", "volume"),
        ("4h", "2023-03-15 08:00:00+00:00", "volume"),
    ]
    assert json.loads(json.dumps(rep.to_dict()))["ok"] is False


# ----------------------------------------------------------------------------- CLI


def _cli(argv: list[str], data_root: Path) -> int:
    return data_cli(argv, data_root)


def test_cli_ingest_then_verify(tmp_path, rows, truth, capsys):
    faults = Faults(missing=[HOUR])
    with FakeExchange({SYM: rows}, faults=faults) as ex:
        url = ex.base_url
        argv = [
            "ingest",
            "btcusdt",
            "--start",
            START,
            "--end",
            "2023-03-11",
            "--exchange",
            EXCH,
            "--base-url",
            url,
            "--json",
            str(tmp_path / "ingest.json"),
        ]
        assert _cli(argv, tmp_path / "data") == 0
        out = capsys.readouterr().out
        assert "14,340 new row(s) in 16 request(s)" in out  # 15 pages + the recheck
        assert "confirmed missing at the exchange: 2023-03-10 05:00:00+00:00" in out
        report = json.loads((tmp_path / "ingest.json").read_text())["ingest"]
        assert report["rows_added"] == 14_340 and report["confirmed_gaps"][0][2] == 60
        verify_argv = [
            "verify",
            "BTCUSDT",
            "--exchange",
            EXCH,
            "--base-url",
            url,
            "--intervals",
            "1h,1d",
        ]
        assert _cli(verify_argv, tmp_path / "data") == 0
        assert "bars compared 1h: 239, 1d: 10" in capsys.readouterr().out
        ex.faults.corrupt = ("1d", "2023-03-02")
        ex._agg.clear()
        assert _cli(verify_argv, tmp_path / "data") == 1
        assert "ANOMALY 1d 2023-03-02 00:00:00+00:00 mismatch close" in capsys.readouterr().out
    store = OHLCVStore(tmp_path / "data")
    assert _same(
        store.read(SYM, EXCH),
        truth.loc[:"2023-03-10 23:59"].drop(truth.loc["2023-03-10 05:00":"2023-03-10 05:59"].index),
    )


def test_cli_ingest_from_archives_then_rest(tmp_path, rows, truth, capsys):
    with FakeExchange({SYM: rows}) as ex:
        argv = [
            "ingest",
            SYM,
            "--start",
            START,
            "--end",
            END,
            "--exchange",
            EXCH,
            "--base-url",
            ex.base_url,
            "--archives",
            "daily",
            "--archive-url",
            ex.base_url,
        ]
        ex.faults.bad_checksum.add("BTCUSDT-1m-2023-03-05.zip")
        assert _cli(argv, tmp_path) == 0
        out = capsys.readouterr().out
        rest = [h for h in ex.klines_hits()]
    assert "archive BTCUSDT-1m-2023-03-05.zip: error" in out and "checksum mismatch" in out
    assert "1,440 new row(s) in 2 request(s)" in out  # only the rejected day came by REST
    assert all(h.params["startTime"] >= "1677974400000" for h in rest)
    assert _same(OHLCVStore(tmp_path).read(SYM, EXCH), truth)
