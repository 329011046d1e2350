"""Token universe: which coins to download and sweep, chosen from market cap and liquidity.

Inputs are two JSON documents, live or saved as snapshots (so the choice is reproducible
offline): a market-cap ranking (CoinGecko ``/api/v3/coins/markets``: ``id``, ``symbol``,
``name``, ``market_cap_rank``, ``market_cap``) and Binance 24h tickers (``/api/v3/ticker/24hr``:
``symbol``, ``lastPrice``, ``quoteVolume``, ``count``); plus a category map
(``configs/universe_categories.toml``).

Rules, in order:

1. **Eligible** tokens have a live USDT or USDC market (a ticker ``BASE+QUOTE`` with trades,
   price and quote volume > 0), a market-cap record (rank and cap > 0), and are neither
   stablecoins (configured list, or ``USD``/"stable"/"dollar" in symbol or name) nor placeholders
   (wrapped, bridged, staked, pegged or tokenized copies, ``W`` + a better-ranked symbol such as
   ``WETH``; leveraged tokens like ``BTCUP``).
2. **Score** = ``(101 - rank)`` when in the top ``top_n`` by market cap, + ``min(100, quote
   volume / 1e6)`` (volume summed over the token's live USDT and USDC markets), + 20 when in both
   the market-cap top ``top_n`` and the quote-volume top ``top_n`` of eligible tokens.
3. **Candidates** are the eligible tokens in either top list, best score first (ties: volume,
   then symbol), cut to ``size`` when given.
4. **Quotas**: every category keeps at least ``per_category`` of its eligible members, the best
   scored; a category without enough eligible members is reported as a shortfall, never padded.

Every pick carries the reasons it was chosen; every rejected token the rule that rejected it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from threadx.core.errors import ConfigError, DataError
from threadx.core.models import load_toml

QUOTES = ("USDT", "USDC")
DEFAULT_STABLECOINS = (
    "USDT USDC FDUSD TUSD DAI USDP USDE USDS PYUSD BUSD USD1 USDD GUSD LUSD FRAX RLUSD EURC EURI "
    "AEUR XUSD USDX SUSD BFUSD USD0 EUR TRY BRL"
).split()
_PLACEHOLDER = re.compile(
    r"wrapped|bridged|staked|\bpeg\b|-peg|tokenized|restaked|liquid stak", re.I
)
_STABLE_NAME = re.compile(r"stable|dollar|\busd\b", re.I)
_LEVERAGED = re.compile(r"^(.+?)(UP|DOWN|BULL|BEAR)$")


@dataclass(frozen=True)
class UniverseRules:
    """The knobs of the selection (from the category file, overridable on the command line)."""

    categories: dict[str, list[str]]
    per_category: int = 3
    top_n: int = 100
    size: int | None = None
    quotes: tuple[str, ...] = QUOTES
    stablecoins: tuple[str, ...] = tuple(DEFAULT_STABLECOINS)
    exclude: tuple[str, ...] = ()


@dataclass
class Token:
    symbol: str
    name: str = ""
    cap_rank: int | None = None
    market_cap: float = 0.0
    markets: dict[str, float] = field(default_factory=dict)  # live pair -> 24h quote volume
    categories: list[str] = field(default_factory=list)
    score: float = 0.0
    in_cap_top: bool = False
    in_volume_top: bool = False

    @property
    def volume(self) -> float:
        return sum(self.markets.values())


@dataclass
class Universe:
    picks: list[dict[str, Any]]
    excluded: list[dict[str, str]]
    shortfalls: dict[str, dict[str, int]]
    rules: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_rules(path: Path, **overrides: Any) -> UniverseRules:
    """Read a category map (TOML or JSON): ``[categories] name = ["BTC", ...]`` and optional
    ``per_category``, ``top_n``, ``size``, ``quotes``, ``stablecoins``, ``exclude``."""
    path = Path(path)
    if path.suffix != ".json":
        doc = load_toml(path, "category map")
    else:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # JSONDecodeError is a ValueError
            raise ConfigError(f"{path}: cannot read the category map ({err})") from None
    cats = doc.get("categories")
    if not isinstance(cats, dict) or not cats:
        raise ConfigError(f"{path}: key 'categories': must be a table of name -> [symbols]")
    for name, members in cats.items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ConfigError(f"{path}: key 'categories.{name}': must be a list of symbols")
    known = {"categories", "per_category", "top_n", "size", "quotes", "stablecoins", "exclude"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown}; known: {sorted(known)}")
    values = {k: doc[k] for k in known - {"categories"} if k in doc}
    values.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("quotes", "stablecoins", "exclude"):
        if key in values:
            values[key] = tuple(str(s).upper() for s in values[key])
    for key in ("per_category", "top_n"):
        if key in values and (not isinstance(values[key], int) or values[key] < 1):
            raise ConfigError(f"{path}: key '{key}': must be an integer >= 1, got {values[key]!r}")
    cats = {n: sorted({m.upper() for m in ms}) for n, ms in sorted(cats.items())}
    return UniverseRules(categories=cats, **values)


def load_snapshot(path: Path, what: str) -> list[dict[str, Any]]:
    """A saved JSON list (``what``: 'markets' or 'tickers'); DataError naming the file."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the {what} snapshot ({err})") from None
    if not isinstance(doc, list) or not all(isinstance(d, dict) for d in doc):
        raise DataError(f"{path}: the {what} snapshot must be a JSON list of objects")
    return doc


def universe_pairs(path: Path) -> list[str]:
    """The pairs of a universe file written by ``threadx data universe --out``, in rank order;
    DataError naming the file and the pick where it is not one."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the universe file ({err})") from None
    picks = doc.get("picks") if isinstance(doc, dict) else None
    if not isinstance(picks, list):
        raise DataError(f"{path}: key 'picks': must be a list (a `data universe --out` file)")
    pairs = []
    for i, p in enumerate(picks):
        if not isinstance(p, dict) or not isinstance(p.get("pair"), str) or not p["pair"]:
            raise DataError(f"{path}: picks[{i}]: must be an object with a 'pair' name")
        pairs.append(p["pair"].upper())
    return pairs


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _tokens(
    markets: list[dict[str, Any]], tickers: list[dict[str, Any]], rules: UniverseRules
) -> dict[str, Token]:
    tokens: dict[str, Token] = {}
    ranked = sorted(markets, key=lambda m: (m.get("market_cap_rank") or 10**9, str(m.get("id"))))
    for m in ranked:  # a symbol shared by several coins belongs to the best-ranked one
        sym = str(m.get("symbol", "")).upper()
        if sym and sym not in tokens:
            rank = m.get("market_cap_rank")
            tokens[sym] = Token(
                sym,
                str(m.get("name", "")),
                rank if isinstance(rank, int) else None,
                _num(m.get("market_cap")),
            )
    for t in tickers:
        pair = str(t.get("symbol", "")).upper()
        quote = next((q for q in rules.quotes if pair.endswith(q) and len(pair) > len(q)), None)
        live = _num(t.get("lastPrice")) > 0 and _num(t.get("quoteVolume")) > 0
        if quote and live and _num(t.get("count", 1)) > 0:
            base = pair[: -len(quote)]
            tokens.setdefault(base, Token(base)).markets[pair] = _num(t.get("quoteVolume"))
    for cat, members in rules.categories.items():
        for sym in members:
            tokens.setdefault(sym, Token(sym)).categories.append(cat)
    return tokens


def _rejection(tok: Token, tokens: dict[str, Token], rules: UniverseRules) -> str | None:
    """The rule that makes ``tok`` ineligible, or None."""
    lev = _LEVERAGED.match(tok.symbol)
    under = tokens.get(tok.symbol[1:]) if tok.symbol.startswith("W") else None
    checks = [
        (tok.symbol in rules.exclude, "excluded by the category file"),
        (
            tok.symbol in rules.stablecoins
            or "USD" in tok.symbol
            or bool(_STABLE_NAME.search(tok.name)),
            "stablecoin",
        ),
        (bool(_PLACEHOLDER.search(tok.name)), f"placeholder (wrapped/staked/pegged: {tok.name!r})"),
        (
            bool(lev) and lev[1] in tokens and tokens[lev[1]].cap_rank is not None,
            "placeholder (leveraged token)",
        ),
        (
            under is not None
            and under.cap_rank is not None
            and (tok.cap_rank is None or under.cap_rank < tok.cap_rank),
            f"placeholder (wrapped {tok.symbol[1:]})",
        ),
        (
            tok.cap_rank is None or tok.market_cap <= 0,
            "no market-cap record (unknown or placeholder)",
        ),
        (not tok.markets, f"no live {'/'.join(rules.quotes)} market"),
    ]
    return next((why for bad, why in checks if bad), None)


def _key(tok: Token) -> tuple[float, float, str]:
    return (-tok.score, -tok.volume, tok.symbol)


def _reasons(tok: Token, rules: UniverseRules) -> list[str]:
    out = []
    if tok.in_cap_top:
        out.append(f"market-cap rank {tok.cap_rank} (+{101 - tok.cap_rank})")
    else:
        out.append(f"market-cap rank {tok.cap_rank} (outside the top {rules.top_n}, +0)")
    pairs = "+".join(sorted(tok.markets))
    out.append(
        f"24h quote volume {tok.volume / 1e6:,.1f}M on {pairs} "
        f"(+{min(100.0, tok.volume / 1e6):.1f})"
    )
    if tok.in_cap_top and tok.in_volume_top:
        out.append(f"in both top-{rules.top_n} lists (+20)")
    return out


def select_universe(
    markets: list[dict[str, Any]], tickers: list[dict[str, Any]], rules: UniverseRules
) -> Universe:
    """Apply the rules of this module; deterministic for the same inputs."""
    tokens = _tokens(markets, tickers, rules)
    excluded, eligible = [], []
    for sym in sorted(tokens):
        why = _rejection(tokens[sym], tokens, rules)
        if why is None:
            eligible.append(tokens[sym])
        elif tokens[sym].categories or tokens[sym].cap_rank is not None:
            excluded.append({"symbol": sym, "reason": why})
    by_volume = sorted(eligible, key=lambda t: (-t.volume, t.symbol))[: rules.top_n]
    top_volume = {t.symbol for t in by_volume}
    for t in eligible:
        t.in_cap_top = t.cap_rank is not None and t.cap_rank <= rules.top_n
        t.in_volume_top = t.symbol in top_volume
        t.score = round(
            (101 - t.cap_rank if t.in_cap_top else 0)
            + min(100.0, t.volume / 1e6)
            + (20 if t.in_cap_top and t.in_volume_top else 0),
            6,
        )
    candidates = sorted((t for t in eligible if t.in_cap_top or t.in_volume_top), key=_key)
    quota: dict[str, list[str]] = {}
    shortfalls = {}
    for cat, members in rules.categories.items():
        best = sorted((t for t in eligible if t.symbol in members), key=_key)[: rules.per_category]
        for t in best:
            quota.setdefault(t.symbol, []).append(cat)
        if len(best) < rules.per_category:
            shortfalls[cat] = {"eligible": len(best), "required": rules.per_category}
    chosen = {s: tokens[s] for s in quota}
    for t in candidates:
        if rules.size is not None and len(chosen) >= rules.size:
            break
        chosen.setdefault(t.symbol, t)
    scored = {t.symbol for t in candidates[: rules.size]}
    picks = []
    for pos, t in enumerate(sorted(chosen.values(), key=_key), 1):
        reasons = _reasons(t, rules)
        if t.symbol in quota:
            best = ", ".join(quota[t.symbol])
            reasons.append(f"among the best {rules.per_category} eligible of category: {best}")
        picks.append(
            {
                "rank": pos,
                "symbol": t.symbol,
                "name": t.name,
                "pair": max(sorted(t.markets), key=lambda p: t.markets[p]),
                "score": t.score,
                "cap_rank": t.cap_rank,
                "quote_volume": t.volume,
                "categories": sorted(t.categories),
                "chosen_by": "score" if t.symbol in scored else "category quota",
                "reasons": reasons,
            }
        )
    rules_out = {
        **asdict(rules),
        "quotes": list(rules.quotes),
        "stablecoins": list(rules.stablecoins),
        "exclude": list(rules.exclude),
    }
    return Universe(picks, excluded, shortfalls, rules_out)


def fetch_markets(
    base_url: str = "https://api.coingecko.com", pages: int = 1, per_page: int = 250
) -> list[dict[str, Any]]:
    """Live market-cap ranking from CoinGecko ``/api/v3/coins/markets`` (USD, by market cap)."""
    from threadx.data.binance_http import BinanceClient, WeightBudget

    client = BinanceClient(base_url, budget=WeightBudget(30, 60.0))  # 30 calls/min public limit
    out: list[dict[str, Any]] = []
    for page in range(1, pages + 1):
        params = {
            "vs_currency": "usd",
            "order": "market_cap_desc",
            "per_page": per_page,
            "page": page,
        }
        out += client.get("/api/v3/coins/markets", params, 1)
    return out


def fetch_tickers(base_url: str = "https://api.binance.com") -> list[dict[str, Any]]:
    """Live 24h tickers of every Binance spot pair (request weight 80)."""
    from threadx.data.binance_http import BinanceClient

    return BinanceClient(base_url).get("/api/v3/ticker/24hr", {}, 80)
