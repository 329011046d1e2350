"""STRATEGY.md, the strategy semantics the code cites, agrees with the code (issue 13).

* the "Parameters" table lists exactly ``PARAM_NAMES`` in order, with ``StrategyParams()``'s
  defaults (value and type);
* the "Metrics" table lists exactly ``METRIC_NAMES`` in order and the "Overfitting statistics"
  section names every ``STAT_NAMES`` entry;
* every citation of STRATEGY.md in the code resolves: a cited section (``STRATEGY.md "Signals"``,
  ``STRATEGY.md ("Indicators")``, ``STRATEGY.md "Simulation" and "Precise points"``) is a heading
  of STRATEGY.md, a quoted phrase (``STRATEGY.md: "..."``) occurs in its text, and a bare
  ``STRATEGY.md`` needs the file to exist.

Each check is a function returning a list of problems; the ``*_can_fail`` tests feed it a
deliberately broken copy of the text, so none of the checks is vacuous.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from threadx.strategy.metrics import METRIC_NAMES, STAT_NAMES
from threadx.strategy.params import PARAM_NAMES, StrategyParams

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "STRATEGY.md"
#: Where citations are looked for: the library (the issue's scope) and the other code that cites it.
CITING_DIRS = ("threadx", "gui", "actors", "benchmarks", "tests")
CITING_FILES = ("README.md",)

_TABLE_ROW = re.compile(r"^\| `([a-z_]+)` \|(.*)$", flags=re.M)
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", flags=re.M)
_QUOTED = r'"([^"\n]+)"'
_QUOTED_NC = r'"[^"\n]+"'
# STRATEGY.md "A"  /  ``STRATEGY.md`` ("A")  /  STRATEGY.md "A" and "B"  /  STRATEGY.md "A" / "B"
_SECTION_CITE = re.compile(
    r"STRATEGY\.md`{0,2}\s*\(?\s*" + _QUOTED + r"((?:\s*(?:,|/|and|or)\s*" + _QUOTED_NC + r")*)"
)
# STRATEGY.md: "a phrase of the text"
_PHRASE_CITE = re.compile(r"STRATEGY\.md`{0,2}\s*:\s*" + _QUOTED)


def _section(text: str, heading: str) -> str | None:
    """The body of the ``## heading`` section (up to the next ``## ``), or None."""
    match = re.search(rf"^## {re.escape(heading)}[ \t]*$", text, flags=re.M)
    if match is None:
        return None
    rest = text[match.end() :]
    end = re.search(r"^## ", rest, flags=re.M)
    return rest if end is None else rest[: end.start()]


def _cells(rest_of_row: str) -> list[str]:
    return [c.strip() for c in rest_of_row.strip().strip("|").split("|")]


def _literal(cell: str) -> object:
    """A default as written in the table: `20`, `2.0`, `"ema"`, `true`."""
    value = cell.strip().strip("`")
    if value in ("true", "false"):
        return value == "true"
    if value.startswith('"'):
        return json.loads(value)
    try:
        return int(value)
    except ValueError:
        return float(value)


# --------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------


def param_table_problems(text: str) -> list[str]:
    """Differences between the "Parameters" table and ``PARAM_NAMES`` / ``StrategyParams()``."""
    section = _section(text, "Parameters")
    if section is None:
        return ["no '## Parameters' section"]
    rows = _TABLE_ROW.findall(section)
    names = [name for name, _ in rows]
    if names != list(PARAM_NAMES):
        return [f"parameter table lists {names}, PARAM_NAMES is {list(PARAM_NAMES)}"]
    problems = []
    defaults = StrategyParams().model_dump()
    for name, rest in rows:
        cells = _cells(rest)
        if len(cells) < 3:
            problems.append(f"{name}: expected name | type | default | rule | meaning")
            continue
        type_cell, default_cell = cells[0], cells[1]
        expected = defaults[name]
        try:
            written = _literal(default_cell)
        except ValueError:
            problems.append(f"{name}: unreadable default {default_cell!r}")
            continue
        if written != expected or type(written) is not type(expected):
            problems.append(
                f"{name}: table default {default_cell} != StrategyParams() {expected!r}"
            )
        if type_cell != type(expected).__name__:
            problems.append(f"{name}: table type {type_cell!r} != {type(expected).__name__!r}")
    return problems


def metric_table_problems(text: str) -> list[str]:
    """Differences between the "Metrics" table and ``METRIC_NAMES``; STAT_NAMES not named."""
    problems = []
    section = _section(text, "Metrics")
    if section is None:
        problems.append("no '## Metrics' section")
    else:
        names = [name for name, _ in _TABLE_ROW.findall(section)]
        if names != list(METRIC_NAMES):
            problems.append(f"metric table lists {names}, METRIC_NAMES is {list(METRIC_NAMES)}")
    stats = _section(text, "Overfitting statistics")
    if stats is None:
        problems.append("no '## Overfitting statistics' section")
    else:
        problems += [f"statistic `{s}` not named" for s in STAT_NAMES if f"`{s}`" not in stats]
    return problems


def headings(text: str) -> set[str]:
    return set(_HEADING.findall(text))


def citations(source: str) -> tuple[set[str], set[str], bool]:
    """(cited section names, quoted phrases, whether STRATEGY.md is cited at all) of ``source``."""
    sections: set[str] = set()
    for match in _SECTION_CITE.finditer(source):
        sections.add(match.group(1))
        sections.update(re.findall(_QUOTED, match.group(2)))
    phrases = set(_PHRASE_CITE.findall(source))
    return sections, phrases, "STRATEGY.md" in source


def _normalise(text: str) -> str:
    return " ".join(text.replace("`", "").split()).lower()


def citation_problems(doc: str | None, sources: dict[str, str]) -> list[str]:
    """Citations in ``sources`` (name -> text) that ``doc`` (STRATEGY.md, None if absent) lacks."""
    problems = []
    titles = headings(doc) if doc is not None else set()
    body = _normalise(doc) if doc is not None else ""
    for name, source in sorted(sources.items()):
        sections, phrases, cited = citations(source)
        if cited and doc is None:
            problems.append(f"{name} cites STRATEGY.md, which does not exist")
            continue
        problems += [f"{name}: no heading {s!r} in STRATEGY.md" for s in sorted(sections - titles)]
        problems += [
            f"{name}: phrase {p!r} not in STRATEGY.md"
            for p in sorted(phrases)
            if _normalise(p) not in body
        ]
    return problems


def citing_sources() -> dict[str, str]:
    """Every scanned file that mentions STRATEGY.md (not this file: it cites on purpose)."""
    paths = [REPO / f for f in CITING_FILES]
    for folder in CITING_DIRS:
        paths += sorted((REPO / folder).rglob("*.py"))
    out = {}
    for path in paths:
        if path.resolve() == Path(__file__).resolve() or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if "STRATEGY.md" in text:
            out[str(path.relative_to(REPO))] = text
    return out


# --------------------------------------------------------------------------------------------
# the real document
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def doc() -> str:
    assert DOC.is_file(), "STRATEGY.md is missing from the repository root"
    return DOC.read_text(encoding="utf-8")


def test_parameter_table_matches_strategy_params(doc: str) -> None:
    assert param_table_problems(doc) == []


def test_metric_table_matches_metrics_module(doc: str) -> None:
    assert metric_table_problems(doc) == []


def test_every_citation_in_the_code_resolves(doc: str) -> None:
    sources = citing_sources()
    library = {k: v for k, v in sources.items() if k.startswith("threadx")}
    assert library, "no file under threadx/ cites STRATEGY.md: the scan is broken"
    # the scan does see section citations (not only bare mentions)
    assert any(citations(text)[0] for text in library.values())
    assert citation_problems(doc, sources) == []


def test_the_citation_scanner_reads_the_known_forms() -> None:
    text = (
        'It follows STRATEGY.md "Simulation" and "Precise points" line by line\n'
        '``STRATEGY.md`` ("Indicators"); (STRATEGY.md: "rolling sums must not drift")\n'
        'STRATEGY.md "Signals" / "Metrics". (STRATEGY.md order) STRATEGY.md\'s defaults\n'
        '(STRATEGY.md "Parameters"), STRATEGY.md\n"Trade record"\n'
    )
    sections, phrases, cited = citations(text)
    assert sections == {
        "Simulation",
        "Precise points",
        "Indicators",
        "Signals",
        "Metrics",
        "Parameters",
        "Trade record",
    }
    assert phrases == {"rolling sums must not drift"}
    assert cited
    assert citations("no citation here") == (set(), set(), False)


# --------------------------------------------------------------------------------------------
# each check fails on a broken copy
# --------------------------------------------------------------------------------------------


def _swap_rows(text: str, a: str, b: str) -> str:
    lines = text.split("\n")
    ia = next(i for i, line in enumerate(lines) if line.startswith(f"| `{a}` |"))
    ib = next(i for i, line in enumerate(lines) if line.startswith(f"| `{b}` |"))
    lines[ia], lines[ib] = lines[ib], lines[ia]
    return "\n".join(lines)


def _drop_row(text: str, name: str) -> str:
    return "\n".join(line for line in text.split("\n") if not line.startswith(f"| `{name}` |"))


def _edit_row(text: str, name: str, old: str, new: str) -> str:
    lines = text.split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith(f"| `{name}` |"))
    assert old in lines[i]
    lines[i] = lines[i].replace(old, new, 1)
    return "\n".join(lines)


def _add_row_after(text: str, name: str, row: str) -> str:
    lines = text.split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith(f"| `{name}` |"))
    lines.insert(i + 1, row)
    return "\n".join(lines)


PARAM_BREAKS = {
    "row dropped": lambda t: _drop_row(t, "bb_std"),
    "rows swapped": lambda t: _swap_rows(t, "fee_bps", "slippage_bps"),
    "extra row": lambda t: _add_row_after(
        t, "leverage", "| `take_profit` | bool | `true` | - | - |"
    ),
    "wrong default": lambda t: _edit_row(t, "bb_period", "`20`", "`21`"),
    "default of the wrong type": lambda t: _edit_row(t, "bb_std", "`2.0`", "`2`"),
    "wrong bool default": lambda t: _edit_row(t, "trailing_stop", "`true`", "`false`"),
    "wrong string default": lambda t: _edit_row(t, "atr_method", '`"ema"`', '`"sma"`'),
    "wrong type column": lambda t: _edit_row(t, "atr_period", "| int |", "| float |"),
    "no section": lambda t: t.replace("## Parameters\n", "## Settings\n"),
}


METRIC_BREAKS = {
    "row dropped": lambda t: _drop_row(t, "sortino"),
    "rows swapped": lambda t: _swap_rows(t, "avg_win", "avg_loss"),
    "row renamed": lambda t: _edit_row(t, "calmar", "`calmar`", "`mar_ratio`"),
    "extra row": lambda t: _add_row_after(t, "ruined", "| `omega` | x | y |"),
    "statistic not named": lambda t: t.replace("`kurtosis`", "kurtosis"),
    "no statistics section": lambda t: t.replace(
        "## Overfitting statistics", "## Other statistics"
    ),
    "no section": lambda t: t.replace("## Metrics\n", "## Measures\n"),
}

# each break with the check that must see it
TABLE_BREAKS = {
    **{f"parameters, {n}": (param_table_problems, b) for n, b in PARAM_BREAKS.items()},
    **{f"metrics, {n}": (metric_table_problems, b) for n, b in METRIC_BREAKS.items()},
}


@pytest.mark.parametrize("name", list(TABLE_BREAKS))
def test_table_check_can_fail(doc: str, name: str) -> None:
    check, break_doc = TABLE_BREAKS[name]
    broken = break_doc(doc)
    assert broken != doc
    assert check(broken) != []


CITATION_BREAKS = {
    # the document loses a heading the code cites
    "heading renamed": (
        lambda d: d.replace("## Precise points\n", "## Precise notes\n"),
        lambda s: s,
    ),
    "heading demoted to text": (lambda d: d.replace("## Signals\n", "Signals\n"), lambda s: s),
    # the code cites what the document does not have
    "unknown section cited": (
        lambda d: d,
        lambda s: {**s, "threadx/fake.py": '"""See STRATEGY.md "Order book"."""'},
    ),
    "second of two sections unknown": (
        lambda d: d,
        lambda s: {**s, "threadx/fake.py": '"""STRATEGY.md "Signals" and "Fills"."""'},
    ),
    "quoted phrase absent": (
        lambda d: d,
        lambda s: {**s, "threadx/fake.py": '"""(STRATEGY.md: "stops never move")"""'},
    ),
    "document missing": (lambda d: None, lambda s: s),
}


@pytest.mark.parametrize("name", list(CITATION_BREAKS))
def test_citation_check_can_fail(doc: str, name: str) -> None:
    break_doc, break_sources = CITATION_BREAKS[name]
    assert citation_problems(break_doc(doc), break_sources(citing_sources())) != []
