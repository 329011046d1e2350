"""Token universe on hand-written snapshots (tests/data/universe): rules, quotas, explanations."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.fake_exchange import FakeExchange, data_cli
from threadx.core.errors import ConfigError, DataError
from threadx.data.universe import (
    fetch_markets,
    fetch_tickers,
    load_rules,
    load_snapshot,
    select_universe,
)

REPO = Path(__file__).resolve().parents[2]
SNAP = REPO / "tests" / "data" / "universe"
NEVER = {
    "USDT",
    "USDC",
    "DAI",
    "USDE",
    "FDUSD",
    "LEO",
    "XMR",
    "MKR",
    "WBTC",
    "STETH",
    "WETH",
    "BTCUP",
    "POL",
    "XYZ",
}  # stablecoins, market-less, placeholders


@pytest.fixture(scope="module")
def markets() -> list:
    return load_snapshot(SNAP / "markets.json", "markets")


@pytest.fixture(scope="module")
def tickers() -> list:
    return load_snapshot(SNAP / "tickers.json", "tickers")


@pytest.fixture(scope="module")
def rules():
    return load_rules(SNAP / "categories.json")


def _expected_score(sym: str, markets: list, tickers: list, top_n: int, in_vol_top: bool) -> float:
    """The issue's formula, computed directly from the snapshots."""
    rank = min(
        m["market_cap_rank"] for m in markets if m["symbol"].upper() == sym and m["market_cap_rank"]
    )
    pairs = (sym + "USDT", sym + "USDC")
    vol = sum(float(t["quoteVolume"]) for t in tickers if t["symbol"] in pairs)
    cap = 101 - rank if rank <= top_n else 0
    return cap + min(100.0, vol / 1e6) + (20 if cap and in_vol_top else 0)


def test_deterministic_whatever_the_input_order(markets, tickers, rules):
    first = json.dumps(select_universe(markets, tickers, rules).to_dict(), sort_keys=True)
    rng = random.Random(3)
    for _ in range(3):
        m, t = markets[:], tickers[:]
        rng.shuffle(m)
        rng.shuffle(t)
        assert json.dumps(select_universe(m, t, rules).to_dict(), sort_keys=True) == first


def test_quotas_met_or_reported_never_padded(markets, tickers, rules):
    u = select_universe(markets, tickers, rules)
    for cat in rules.categories:
        n = sum(cat in p["categories"] for p in u.picks)
        if cat in u.shortfalls:
            assert n == u.shortfalls[cat]["eligible"] < 3
        else:
            assert n >= 3, cat
    assert u.shortfalls == {
        "exchange": {"eligible": 1, "required": 3},
        "stable_trap": {"eligible": 0, "required": 3},
    }
    # IMX is outside both top-30 lists: it is there only for the layer2 quota
    imx = next(p for p in u.picks if p["symbol"] == "IMX")
    assert imx["chosen_by"] == "category quota" and "layer2" in imx["reasons"][-1]


def test_no_stablecoin_placeholder_or_marketless_token(markets, tickers, rules):
    u = select_universe(markets, tickers, rules)
    picked = {p["symbol"] for p in u.picks}
    assert not picked & NEVER
    reasons = {e["symbol"]: e["reason"] for e in u.excluded}
    assert reasons["USDT"] == reasons["DAI"] == reasons["USDE"] == "stablecoin"
    assert reasons["LEO"] == reasons["XMR"] == "no live USDT/USDC market"
    assert reasons["MKR"] == "no live USDT/USDC market"  # delisted: ticker without trades
    assert reasons["WBTC"].startswith("placeholder") and reasons["STETH"].startswith("placeholder")
    assert reasons["WETH"] == "placeholder (wrapped ETH)"
    assert reasons["POL"].startswith("no market-cap record")
    for p in u.picks:  # every pick has a live USDT/USDC pair it can be downloaded from
        assert p["pair"] in {t["symbol"] for t in tickers} and p["pair"][-4:] in ("USDT", "USDC")


def test_each_pick_explained_and_scored_by_the_formula(markets, tickers, rules):
    u = select_universe(markets, tickers, rules)
    assert [p["rank"] for p in u.picks] == list(range(1, len(u.picks) + 1))
    assert [p["score"] for p in u.picks] == sorted((p["score"] for p in u.picks), reverse=True)
    by = {p["symbol"]: p for p in u.picks}
    assert by["BTC"]["score"] == 220.0  # rank 1 (+100), 1,900M volume (+100), both lists (+20)
    assert by["BTC"]["reasons"][:3] == [
        "market-cap rank 1 (+100)",
        "24h quote volume 1,900.0M on BTCUSDC+BTCUSDT (+100.0)",
        "in both top-30 lists (+20)",
    ]
    for sym, in_vol_top in (("ADA", True), ("PEPE", True), ("WIF", True), ("IMX", False)):
        expected = _expected_score(sym, markets, tickers, 30, in_vol_top)
        assert by[sym]["score"] == pytest.approx(expected), sym
    for p in u.picks:
        assert len(p["reasons"]) >= 2 and p["chosen_by"] in ("score", "category quota")


def test_usdc_only_market_is_eligible_and_size_keeps_quotas(markets, tickers, rules):
    from dataclasses import replace

    small = replace(rules, size=5)
    u = select_universe(markets, tickers, small)
    quota_syms = {p["symbol"] for p in u.picks if "category" in p["reasons"][-1]}
    assert {"BTC", "ETH", "SOL", "DOGE", "PEPE", "SHIB"} <= quota_syms
    assert len(u.picks) == len(quota_syms)  # quota picks alone already exceed size=5
    only_usdc = replace(rules, categories={"rwa": ["ONDO"]}, per_category=1)
    ondo = next(
        p for p in select_universe(markets, tickers, only_usdc).picks if p["symbol"] == "ONDO"
    )
    assert ondo["pair"] == "ONDOUSDC"


def test_shipped_category_map_loads_and_runs(markets, tickers):
    rules = load_rules(REPO / "configs" / "universe_categories.toml")
    assert len(rules.categories) == 10 and rules.per_category == 3 and rules.top_n == 100
    u = select_universe(markets, tickers, rules)
    assert not {p["symbol"] for p in u.picks} & NEVER
    assert set(u.shortfalls) == {
        "exchange_tokens",
        "gaming_metaverse",
        "oracles_data",
        "storage_infra",
    }


def test_bad_inputs_name_file_and_rule(tmp_path):
    bad = tmp_path / "cats.json"
    bad.write_text(json.dumps({"categories": {"x": "BTC"}}))
    with pytest.raises(ConfigError, match=r"cats.json: key 'categories.x': must be a list"):
        load_rules(bad)
    bad.write_text(json.dumps({"categories": {"x": ["BTC"]}, "per_categroy": 3}))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['per_categroy'\]"):
        load_rules(bad)
    with pytest.raises(ConfigError, match="'per_category': must be an integer >= 1"):
        load_rules(SNAP / "categories.json", per_category=0)
    snap = tmp_path / "m.json"
    snap.write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="m.json: the markets snapshot must be a JSON list"):
        load_snapshot(snap, "markets")


def test_live_fetch_from_a_local_server(markets, tickers):
    with FakeExchange({}, markets=markets, tickers=tickers) as ex:
        got_m = fetch_markets(ex.base_url, pages=1, per_page=250)
        got_t = fetch_tickers(ex.base_url)
        weights = [h.weight for h in ex.hits]
    assert got_m == markets and got_t == tickers
    assert weights == [0, 80]


def _cli(argv: list[str], data_root: Path) -> int:
    return data_cli(argv, data_root, REPO / "configs")


def test_cli_offline_snapshots_and_live_save(tmp_path, markets, tickers, capsys):
    out = tmp_path / "universe.json"
    argv = [
        "universe",
        "--markets",
        str(SNAP / "markets.json"),
        "--tickers",
        str(SNAP / "tickers.json"),
        "--categories",
        str(SNAP / "categories.json"),
        "--out",
        str(out),
    ]
    assert _cli(argv, tmp_path) == 0
    text = capsys.readouterr().out
    assert "  1 BTC      BTCUSDT     220.00  [layer1] score: market-cap rank 1 (+100)" in text
    assert "shortfall: category 'exchange' has 1 eligible token(s), 3 required" in text
    saved = json.loads(out.read_text())
    rules = load_rules(SNAP / "categories.json")
    assert saved == json.loads(json.dumps(select_universe(markets, tickers, rules).to_dict()))
    # live inputs from a local server, saved as snapshots, give the same universe offline
    with FakeExchange({}, markets=markets, tickers=tickers) as ex:
        live = [
            "universe",
            "--base-url",
            ex.base_url,
            "--coingecko-url",
            ex.base_url,
            "--save-snapshots",
            str(tmp_path / "snap"),
            "--out",
            str(tmp_path / "live.json"),
        ]
        assert _cli(live, tmp_path) == 0  # default category map: configs/universe_categories.toml
    again = [
        "universe",
        "--markets",
        str(tmp_path / "snap" / "markets.json"),
        "--tickers",
        str(tmp_path / "snap" / "tickers.json"),
        "--out",
        str(tmp_path / "offline.json"),
    ]
    assert _cli(again, tmp_path) == 0
    live_doc = json.loads((tmp_path / "live.json").read_text())
    assert live_doc == json.loads((tmp_path / "offline.json").read_text())
    assert len(live_doc["rules"]["categories"]) == 10
