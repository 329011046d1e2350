"""Many symbols at once against the local fake exchange: concurrent = sequential, one shared
weight budget, a failing symbol reported while the others complete, and the daily update."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.fake_exchange import FakeClock, FakeExchange, Faults, load_rows, sliding_max_weight
from threadx.core.errors import DataError
from threadx.data.binance import ingest
from threadx.data.binance_http import BinanceClient, WeightBudget
from threadx.data.ingest_batch import ingest_many, stored_symbols, update_stored
from threadx.data.store import OHLCVStore

EXCH = "binance_us"
START, END = "2023-03-01", "2023-03-08"
LIMIT = 40  # weight per 60 s: 20 klines requests, so the budget binds for a 5-symbol batch
CSVS = (
    "binance_us/BTCUSDT_1m_2023-03-01_2023-03-21.csv",
    "binance_us/BTCUSDC_1m_2023-03-01_2023-03-21.csv",
)
NAMES = ("BTCUSDT", "BTCUSDC", "ETHUSDT", "SOLUSDT", "XRPUSDT")


@pytest.fixture(scope="module")
def data(real_data: Path) -> dict[str, list]:
    """Five symbols served by the fake exchange (the two real files, three of them again shifted
    by a factor so that every symbol's store differs)."""
    usdt, usdc = (load_rows(real_data / c) for c in CSVS)
    out = {"BTCUSDT": usdt, "BTCUSDC": usdc}
    for k, name in enumerate(NAMES[2:], start=2):
        out[name] = [[r[0], *(str(float(v) / k) for v in r[1:5]), *r[5:]] for r in usdt]
    return out


class SimClock(FakeClock):
    """Simulated seconds shared by concurrent clients: a sleep moves time only while no request is
    in flight, so a request arrives at the time its weight was reserved, as it does in real time
    (a plain FakeClock lets one thread's sleep jump time under another's request)."""

    def __init__(self) -> None:
        super().__init__()
        self.cond = threading.Condition()
        self.in_flight = 0

    def sleep(self, seconds: float) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: self.in_flight == 0, timeout=60)
            super().sleep(seconds)

    def flight(self, delta: int) -> None:
        with self.cond:
            self.in_flight += delta
            self.cond.notify_all()


class SimBudget(WeightBudget):
    def __init__(self, limit: int, clock: SimClock) -> None:
        super().__init__(limit, 60.0, clock=clock, sleep=clock.sleep)
        self.sim = clock

    def acquire(self, weight: int) -> int:
        seq = super().acquire(weight)
        self.sim.flight(+1)  # from the reservation until the response
        return seq


class SimClient(BinanceClient):
    def _send(self, url: str):
        try:
            return super()._send(url)
        finally:
            self.budget.sim.flight(-1)


def _factory(ex: FakeExchange, clock: FakeClock, budget: WeightBudget):
    kind = SimClient if isinstance(budget, SimBudget) else BinanceClient
    return lambda: kind(ex.base_url, budget=budget, timeout_s=5.0, backoff_s=0.01, seed=7)


def _frames(store: OHLCVStore, names) -> dict[str, pd.DataFrame]:
    return {s: store.read(s, EXCH) for s in names}


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.index.equals(b.index) and np.array_equal(
        a.to_numpy().view(np.int64), b.to_numpy().view(np.int64)
    )


def test_five_symbols_concurrently_equal_five_sequential_ingests_within_one_budget(tmp_path, data):
    clock = SimClock()
    with FakeExchange(data, clock=clock, faults=Faults(weight_limit=LIMIT)) as ex:
        budget = SimBudget(LIMIT, clock)
        seq = OHLCVStore(tmp_path / "seq")
        for s in NAMES:
            ingest(seq, s, START, END, exchange=EXCH, client=_factory(ex, clock, budget)())
        ex.hits.clear()
        conc = OHLCVStore(tmp_path / "conc")
        rep = ingest_many(
            conc,
            [s.lower() for s in NAMES],  # names are normalised as the single ingest does
            START,
            END,
            exchange=EXCH,
            workers=5,
            client_factory=_factory(ex, clock, budget),
        )
        hits = ex.klines_hits()
    assert not rep.failed and [o.symbol for o in rep.outcomes] == list(NAMES)
    a, b = _frames(seq, NAMES), _frames(conc, NAMES)
    assert all(_same(a[s], b[s]) for s in NAMES)
    assert len(a["BTCUSDT"]) > 9_000 and not _same(a["ETHUSDT"], a["SOLUSDT"])
    # one shared budget: never more than LIMIT weight in any 60 s of the server's clock, no 429
    assert sliding_max_weight(hits, 60.0) <= LIMIT and ex.max_window_weight() <= LIMIT
    assert not [h for h in hits if h.status != 200]
    assert sum(o.report["client"]["budget_waits"] for o in rep.outcomes) > 0  # the budget bound
    assert {h.params["symbol"] for h in hits} == set(NAMES)
    assert rep.lines()[-1].startswith("5 of 5 symbols ingested")


def test_a_failing_symbol_is_reported_and_the_others_complete(tmp_path, data):
    clock = FakeClock()
    with FakeExchange(data, clock=clock) as ex:
        budget = WeightBudget(1200, 60.0, clock=clock, sleep=clock.sleep)
        store = OHLCVStore(tmp_path)
        names = [*NAMES[:2], "NOSUCHUSDT", *NAMES[2:4]]
        rep = ingest_many(
            store, names, START, END, exchange=EXCH, client_factory=_factory(ex, clock, budget)
        )
    assert [o.symbol for o in rep.failed] == ["NOSUCHUSDT"]
    assert "HTTP 400" in rep.failed[0].error and "Invalid symbol" in rep.failed[0].error
    assert stored_symbols(store, EXCH) == sorted([*NAMES[:4]])
    lines = rep.lines()
    assert lines[2].startswith("NOSUCHUSDT") and "FAILED" in lines[2]
    assert lines[-1].endswith("1 failed: NOSUCHUSDT") and lines[-1].startswith("4 of 5")


def test_dry_run_plans_requests_rows_and_time_without_downloading(tmp_path, data):
    clock = FakeClock()
    with FakeExchange(data, clock=clock) as ex:
        budget = WeightBudget(1200, 60.0, clock=clock, sleep=clock.sleep)
        store = OHLCVStore(tmp_path)
        factory = _factory(ex, clock, budget)
        ingest(store, "BTCUSDT", START, "2023-03-04", exchange=EXCH, client=factory())
        ex.hits.clear()
        rep = ingest_many(
            store, NAMES[:2], START, END, exchange=EXCH, dry_run=True, client_factory=factory
        )
        assert ex.klines_hits() == []  # a start was given: nothing to ask the exchange
    usdt, usdc = rep.outcomes
    assert usdc.report["missing_before"] == 7 * 1440 and usdc.requests == 11
    assert usdt.report["missing_before"] == 4 * 1440 and usdt.requests == 6
    assert usdc.est_seconds == pytest.approx(11 * 2 / 1200 * 60)
    assert "11 requests" in rep.lines()[1] and rep.lines()[-1].startswith("2 symbols: 17 requests")
    assert stored_symbols(store, EXCH) == ["BTCUSDT"]


def test_update_after_three_more_days_fetches_only_those_days(tmp_path, data):
    clock = FakeClock()
    day = pd.Timedelta(days=1)
    with FakeExchange(data, clock=clock) as ex:
        budget = WeightBudget(1200, 60.0, clock=clock, sleep=clock.sleep)
        factory = _factory(ex, clock, budget)
        store = OHLCVStore(tmp_path)
        first = pd.Timestamp("2023-03-10", tz="UTC")
        ingest_many(store, NAMES[:3], START, None, exchange=EXCH, now=first, client_factory=factory)
        ex.hits.clear()
        rep = update_stored(store, exchange=EXCH, now=first + 3 * day, client_factory=factory)
        hits = ex.klines_hits()
    assert not rep.failed and [o.symbol for o in rep.outcomes] == sorted(NAMES[:3])
    first_ms = int(first.value // 1_000_000)
    assert hits and all(int(h.params["startTime"]) >= first_ms for h in hits)
    assert {h.params["symbol"] for h in hits} == set(NAMES[:3])
    for s in NAMES[:3]:
        frame = store.read(s, EXCH)
        assert frame.index[-1] == first + 3 * day - pd.Timedelta(minutes=1)
    assert sum(o.requests for o in rep.outcomes) == len(hits)


def test_cli_ingest_several_universe_and_update(tmp_path, data, capsys):
    """`data ingest A B --dry-run`, `data ingest --universe FILE`, `data update`, the summary
    lines and the exit status (1 when a pair failed)."""
    import json

    from tests.fake_exchange import data_cli

    root = tmp_path / "data"
    uni = tmp_path / "universe.json"
    uni.write_text(json.dumps({"picks": [{"pair": "ethusdt"}, {"pair": "BTCUSDT"}]}))
    with FakeExchange(data) as ex:
        common = ["--exchange", EXCH, "--base-url", ex.base_url, "--start", START, "--end", END]
        assert data_cli(["ingest", "BTCUSDT", "SOLUSDT", "--dry-run", *common], root) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0].startswith("BTCUSDT") and "11 requests" in out[0] and "10,080 rows" in out[0]
        assert out[-1].startswith("2 symbols: 22 requests") and not ex.klines_hits()
        assert data_cli(["ingest", "--universe", str(uni), "NOSUCHUSDT", *common], root) == 1
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in out[:3]] == ["NOSUCHUSDT", "ETHUSDT", "BTCUSDT"]
        assert out[-1].startswith("2 of 3 symbols ingested") and "1 failed: NOSUCHUSDT" in out[-1]
        update = ["update", "--exchange", EXCH, "--base-url", ex.base_url, "--dry-run"]
        assert data_cli(update, root) == 0
        out = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in out[:2]] == ["BTCUSDT", "ETHUSDT"]
        with pytest.raises(DataError, match="holds no pair of exchange 'kraken'"):
            data_cli(["update", "--exchange", "kraken"], root)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_data_store_actor_ingests_several_symbols(tmp_path, data):
    """Through the DataStore actor (what the GUI's Data view uses): the batch report and each
    symbol's progress, and the same stores as the library's batch."""
    import ray

    from actors.data_store import DataStore, IngestManyRequest

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        with FakeExchange(data) as ex:
            actor = DataStore.remote(str(tmp_path / "actor"))
            req = IngestManyRequest(NAMES[:3], START, END, ex.base_url, EXCH, workers=3)
            rep = ray.get(actor.ingest_many.remote(req), timeout=240)
            progress = ray.get([actor.ingest_progress.remote(s) for s in NAMES[:3]])
            lib = ingest_many(
                OHLCVStore(tmp_path / "lib"),
                NAMES[:3],
                START,
                END,
                exchange=EXCH,
                base_url=ex.base_url,
            )
    finally:
        ray.shutdown()
    assert rep["failed"] == [] and [o["symbol"] for o in rep["outcomes"]] == list(NAMES[:3])
    assert all(p["done"] and p["done_minutes"] == p["total_minutes"] for p in progress)
    a = _frames(OHLCVStore(tmp_path / "actor"), NAMES[:3])
    b = _frames(OHLCVStore(tmp_path / "lib"), NAMES[:3])
    assert all(_same(a[s], b[s]) for s in NAMES[:3]) and not lib.failed
