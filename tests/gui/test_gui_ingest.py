"""The GUI's ingest of several symbols at once: its pure models (the form, the per-symbol
progress table and summary; no Ray), and the backend driving the DataStore actor through a dry
run and a batch with per-symbol progress where one symbol fails (against the local fake
exchange; real Ray, no display needed)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from gui import ingest
from tests.fake_exchange import FakeExchange, Faults, load_rows
from threadx.core.errors import ConfigError, DataError
from threadx.data.store import OHLCVStore

CSV = "binance_us/{}_1m_2023-03-01_2023-03-21.csv"  # under the `real_data` fixture
DAYS = 3
WINDOW = {"start": "2023-03-01", "end": "2023-03-04"}
ASKED = ("BTCUSDT", "BTCUSDC", "NOSUCHUSDT")  # the fake exchange does not serve the third


# ------------------------------------------------------------------------------------ models


def test_ingest_form_gives_the_batch_arguments(tmp_path):
    import json

    form = ingest.IngestForm(symbols="btcusdt, ETHUSDT  btcusdt", start=" 2024-01-01 ")
    assert form.needs() == "" and ingest.parse_symbols("a b,, A") == ("A", "B")
    assert form.ask(dry_run=True) == {
        "symbols": ("BTCUSDT", "ETHUSDT"),
        "start": "2024-01-01",
        "end": None,
        "base_url": None,
        "exchange": "binance",
        "workers": 4,
        "dry_run": True,
        "stored": False,
    }
    assert "give one or more symbols" in ingest.IngestForm().needs()
    with pytest.raises(ConfigError, match="ingest: give one or more symbols"):
        ingest.IngestForm().ask()
    with pytest.raises(DataError, match="only upper-case"):
        ingest.IngestForm(symbols="BTC+USDT").ask()
    stored = ingest.IngestForm(source=ingest.source_of("every stored pair (daily update)"))
    assert stored.needs() == "" and stored.ask()["symbols"] == () and stored.ask()["stored"]
    universe = tmp_path / "universe.json"
    universe.write_text(json.dumps({"picks": [{"pair": "solusdt"}, {"pair": "BTCUSDT"}]}))
    pick = ingest.IngestForm(source="universe", universe=str(universe), symbols="IGNORED")
    assert pick.ask()["symbols"] == ("SOLUSDT", "BTCUSDT") and not pick.ask()["stored"]
    assert "give a universe file" in ingest.IngestForm(source="universe").needs()
    universe.write_text("{}")
    with pytest.raises(DataError, match="key 'picks'"):
        pick.ask()
    assert ingest.IngestForm(symbols="X", workers=0).needs() == "workers must be at least 1"
    assert ingest.source_of("bogus") == "typed"
    cat = pd.DataFrame({"exchange": ["binance", "binance", "kraken"], "symbol": ["B", "A", "A"]})
    assert ingest.stored_pairs(cat) == {"binance": ("A", "B"), "kraken": ("A",)}
    assert ingest.stored_pairs(None) == {}


def _batch_report(dry_run: bool) -> dict:
    """A batch report dict as the DataStore answers it: BTCUSDT done, NOSUCHUSDT failed."""
    from threadx.data.ingest_batch import BatchReport, SymbolOutcome

    plan = {"start": "2024-01-01 00:00:00+00:00", "end": "2024-01-04 00:00:00+00:00"}
    ok = SymbolOutcome(
        "BTCUSDT",
        True,
        2.5,
        {**plan, "missing_before": 4320, "rows_added": 4320},
        requests=5,
        est_seconds=0.1,
    )
    bad = SymbolOutcome("NOSUCHUSDT", False, 0.1, error="HTTP 400: Invalid symbol.")
    return BatchReport("binance", "http://x", dry_run, 6000, [ok, bad], 3.0).to_dict()


def test_batch_progress_rows_then_the_summary():
    b = ingest.BatchProgress(("BTCUSDT", "NOSUCHUSDT", "ETHUSDT"))
    assert b.table().columns == ingest.PROGRESS_COLUMNS
    assert b.table().column("phase") == ("waiting",) * 3 and not b.finished
    p = {"symbol": "BTCUSDT", "phase": "download", "done_minutes": 1000}
    p |= {"total_minutes": 4000, "rows": 1000, "requests": 1, "done": False}
    stale = {**p, "symbol": "ETHUSDT", "done": True}  # an earlier ingest's last word
    b = b.with_progress([p, None, stale])
    assert b.table().rows[0] == ("BTCUSDT", "download", "25.0%", 1000, 1, "running", "")
    assert b.table().rows[2][1:] == ("waiting", "", None, None, "", "")
    assert b.text() == "ingest of 3 symbol(s): 1 started, 2 waiting; 1 requests so far"
    done = b.done(_batch_report(dry_run=False))
    assert done.finished and done.table().column("symbol") == ("BTCUSDT", "NOSUCHUSDT")
    assert done.table().rows[0] == ("BTCUSDT", "done", "100.0%", 4320, 5, "ok", "")
    failed = done.table().rows[1]
    assert failed[1:6] == (None, "", None, None, "FAILED")
    assert failed[6] == "HTTP 400: Invalid symbol."
    lines = done.text().splitlines()
    assert lines[0] == "ingest done:" and lines[2].startswith("NOSUCHUSDT") and "FAILED" in lines[2]
    assert lines[-1].startswith("1 of 2 symbols ingested: 4,320 rows added")
    assert lines[-1].endswith("1 failed: NOSUCHUSDT")


def test_batch_dry_run_rows():
    b = ingest.BatchProgress(("BTCUSDT", "NOSUCHUSDT"), dry_run=True)
    assert b.table().columns == ingest.DRY_RUN_COLUMNS
    assert b.table().column("state") == ("planning", "planning")
    assert b.text() == "dry run of 2 symbol(s): planning..."
    done = b.done(_batch_report(dry_run=True))
    assert done.table().rows[0] == (
        "BTCUSDT",
        5,
        4320,
        "00:00",
        "2024-01-01 00:00:00+00:00 .. 2024-01-04 00:00:00+00:00",
        "ok",
        "",
    )
    assert done.table().rows[1][5:] == ("FAILED", "HTTP 400: Invalid symbol.")
    lines = done.text().splitlines()
    assert lines[0] == "dry run (nothing downloaded):"
    assert "5 requests" in lines[1] and "4,320 rows" in lines[1]
    assert lines[-1].startswith("1 symbols: 5 requests") and lines[-1].endswith("NOSUCHUSDT")


class _Store:
    """The DataStore side of a fake client: each call answered at once (a ref is its answer);
    the batch's ref is ready only once ``report`` is set."""

    def __init__(self) -> None:
        self.asked: list[tuple] = []
        self.report: dict | None = None
        self.progress: dict[str, dict] = {}

    def ingest_many_async(self, **kwargs) -> str:
        self.asked.append(("ingest_many", kwargs))
        return "batch"

    def ingest_progress_async(self, symbol: str) -> dict | None:
        self.asked.append(("progress", symbol))
        return self.progress.get(symbol)

    def catalog_async(self, timeframes: bool = False) -> str:
        self.asked.append(("catalog", timeframes))
        return "catalog"

    def data_root_async(self) -> str:
        return "root"

    def ready(self, refs: list, timeout: float) -> set:
        return {r for r in refs if r != "batch" or self.report is not None}

    def __call__(self) -> _Store:  # Requests.client: the typed client
        return self


def test_controller_follows_a_stored_batch_until_its_report():
    """The stored pairs of the catalog are followed, one batch at a time, the report asked for
    only once it is in (no Ray: a fake client and request loop)."""
    from gui.data_controller import DataController
    from gui.requests import Requests

    fake, posted, said, pending = _Store(), [], [], {}

    def ask(key, refs, on_done, what) -> bool:
        pending[key] = (refs, on_done)
        return True

    def answer_all() -> None:
        for refs, on_done in [pending.pop(k) for k in list(pending)]:
            on_done(*[fake.report if r == "batch" else r for r in refs])

    due: dict[str, float] = {}
    unique = iter(range(100))

    def say(level: str, text: str) -> None:
        said.append(level)

    r = Requests(ask, pending.pop, lambda p: f"{p}#{next(unique)}", posted.append, say, fake, due)
    ctl = DataController(r)
    ctl.stored = ingest.stored_pairs(
        pd.DataFrame({"exchange": ["binance", "kraken"], "symbol": ["ETHUSDT", "XBTUSDC"]})
    )
    ctl.ingest(ingest.IngestForm(source="stored", exchange="binance"))
    assert fake.asked[0][1]["stored"] and fake.asked[0][1]["symbols"] == ()
    assert posted[-1].table.column("symbol") == ("ETHUSDT",) and due["ingest"] == 0.0
    ctl.ingest(ingest.IngestForm(symbols="BTCUSDT"))  # refused while one runs
    assert said[-1] == "warning" and len(fake.asked) == 1
    fake.progress["ETHUSDT"] = {"symbol": "ETHUSDT", "phase": "download", "done": False}
    ctl.poll_ingest()
    answer_all()
    assert fake.asked[-1] == ("progress", "ETHUSDT")
    assert posted[-1].table.column("state") == ("running",)
    fake.report = {
        "exchange": "binance",
        "base_url": "u",
        "dry_run": False,
        "weight_limit": 6000,
        "seconds": 1.0,
        "outcomes": [{"symbol": "ETHUSDT", "ok": True, "seconds": 1.0, "report": {}}],
    }
    ctl.poll_ingest()  # the report is in: asked now, no progress any more
    answer_all()
    assert ctl.batch is None and posted[-1].text.startswith("ingest done:")
    assert posted[-1].table.column("state") == ("ok",)
    assert fake.asked[-1] == ("catalog", True) and "catalog" in pending  # every timeframe
    ctl.poll_ingest()
    assert due["ingest"] == float("inf")


# ------------------------------------------------------------------------------------ backend


@pytest.fixture
def exchange_rows(real_data: Path) -> dict[str, list]:
    """Three days of real minutes of the two symbols the fake exchange serves."""
    return {s: load_rows(real_data / CSV.format(s))[: DAYS * 1440] for s in ASKED[:2]}


@pytest.fixture
def backend_of(tmp_path) -> Iterator[Callable[[], object]]:
    """A started GUI backend over a fresh data root on its own local Ray (stopped after)."""
    ray = pytest.importorskip("ray")
    from gui.backend import Backend, Intervals
    from tests.ray_helpers import make_cfg

    cfg = make_cfg(tmp_path / "data")
    ray.init(num_cpus=2, include_dashboard=False, namespace="threadx", logging_level="ERROR")
    started: list[Backend] = []

    def start() -> Backend:
        started.append(Backend(cfg, intervals=Intervals(ingest=0.05)).start())
        return started[-1]

    try:
        yield start
    finally:
        for backend in started:
            backend.stop()
        ray.shutdown()


def _ingest_results(backend, until: Callable[[str], bool], step=lambda seen: None) -> list:
    """The ingest DataResults the backend posts until one's text passes ``until`` (``step``
    sees them all after every drain)."""
    from gui.snapshots import DataResult

    seen: list[DataResult] = []
    t0 = time.monotonic()
    while not any(until(s.text) for s in seen) and time.monotonic() - t0 < 180:
        seen += [s for s in backend.drain() if isinstance(s, DataResult) and s.kind == "ingest"]
        step(seen)
        time.sleep(0.05)
    assert any(until(s.text) for s in seen), [s.text for s in seen]
    return seen


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_backend_dry_run_reports_each_symbol(tmp_path, exchange_rows, backend_of):
    with FakeExchange(exchange_rows) as ex:
        backend = backend_of()
        # no start: each symbol's first kline is asked for (the unknown one fails there)
        form = ingest.IngestForm(symbols=", ".join(ASKED), base_url=ex.base_url, end=WINDOW["end"])
        backend.send("ingest", form=form, dry_run=True)
        seen = _ingest_results(backend, lambda t: t.startswith("dry run (nothing downloaded)"))
    final = seen[-1]
    assert final.table.columns == ingest.DRY_RUN_COLUMNS
    assert final.table.column("symbol") == ASKED
    assert final.table.column("state") == ("ok", "ok", "FAILED")
    assert final.table.column("rows")[:2] == (DAYS * 1440, DAYS * 1440)
    assert final.table.column("requests")[:2] == (6, 6)  # 5 pages of 1,000 + the first kline
    assert "Invalid symbol" in final.table.column("error")[2]
    lines = final.text.splitlines()
    assert lines[1].startswith("BTCUSDT") and "requests" in lines[1] and "rows" in lines[1]
    assert lines[-1].startswith("2 symbols:") and lines[-1].endswith("1 failed: NOSUCHUSDT")
    assert [h.params["limit"] for h in ex.klines_hits()] == ["1"] * 3  # first klines only
    assert ("binance", "BTCUSDT") not in OHLCVStore(tmp_path / "data").symbols()  # no download


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_backend_batch_ingest_shows_progress_per_symbol_and_a_summary(
    tmp_path, exchange_rows, backend_of
):
    def live(seen) -> list:
        """The tables shown while the batch runs with a symbol downloading."""
        return [
            s.table
            for s in seen
            if "download" in s.table.column("phase") and "running" in s.table.column("state")
        ]

    def release(seen) -> None:
        if ex.held.is_set() and live(seen):
            ex.release.set()

    # the second page request is held open until a progress row has been shown, so the batch
    # cannot finish between two progress polls
    with FakeExchange(exchange_rows, faults=Faults(hold_at=2)) as ex:
        backend = backend_of()
        form = ingest.IngestForm(
            symbols="btcusdt BTCUSDC, NOSUCHUSDT", base_url=ex.base_url, **WINDOW
        )
        backend.send("ingest", form=form)
        seen = _ingest_results(backend, lambda t: t.startswith("ingest done:"), release)
    running = live(seen)
    assert running, [s.text for s in seen]  # live progress, one row per symbol asked for
    assert all(
        t.columns == ingest.PROGRESS_COLUMNS and t.column("symbol") == ASKED for t in running
    )
    row = next(r for r in running[0].rows if r[5] == "running")
    assert row[2].endswith("%") and row[4] > 0
    assert seen[0].text.startswith("ingest of 3 symbol(s):")
    final = seen[-1].table
    assert final.column("symbol") == ASKED
    assert final.column("state") == ("ok", "ok", "FAILED")
    assert final.column("rows")[:2] == (DAYS * 1440, DAYS * 1440)  # rows added
    assert final.column("done")[:2] == ("100.0%", "100.0%")
    assert "HTTP 400" in final.column("error")[2] and "Invalid symbol" in final.column("error")[2]
    total = seen[-1].text.splitlines()[-1]
    assert total.startswith("2 of 3 symbols ingested: 8,640 rows added"), total
    assert total.endswith("1 failed: NOSUCHUSDT")
    store = OHLCVStore(tmp_path / "data")
    assert [len(store.read(s, "binance")) for s in ASKED[:2]] == [DAYS * 1440] * 2
