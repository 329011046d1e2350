"""The overfitting report of a sweep: PSR / DSR of the top-K and PBO by CSCV, per dataset.

A sweep of many combinations always finds a good Sharpe ratio by luck; this report says how
likely that is (formulas in :mod:`threadx.sweep.robust`) from one row per combination (the metrics,
``skewness``, ``kurtosis``, the S block return sums ``block_00..``): memory O(combinations x S).

* Sharpe ratios are **per bar** (``sharpe / sqrt(periods_per_year)``); a dataset has
  ``n_returns = bars - 1`` returns (``bars`` from the run manifest). **Groups**: one per
  (symbol, timeframe) of the results (and per walk-forward ``fold`` when rows carry one).
* **PSR** of a top-K row is against a Sharpe of 0, with the row's own skewness and kurtosis.
* **DSR** deflates against the expected best Sharpe of ``N`` unskilled trials, ``N`` = the number
  of combinations of the **whole sweep** (every row a user could have picked; under successive
  halving every trial evaluated at any stage, the rows being the full-length ones); for a
  walk-forward fold ``N`` = **that fold's** trials (its train window's pick is made among them
  alone, as the out-of-sample test uses it; the other folds' trials are the same strategies on
  other windows, not more tries), the group's ``dsr_trials``, with ``V`` =
  the sample variance (ddof 1) of the per-bar Sharpe over the **group's** combinations (Sharpe
  ratios of different datasets have different sampling variances, so they are not pooled). The
  null's mean Sharpe is 0 (Bailey & López de Prado 2014).
* **PBO** by CSCV over all the group's (full-length) combinations' block returns, exact
  duplicates (e.g. all that never trade) merged: ties would count as losses. All ``C(S, S/2)``
  splits (exact, standard error 0) while ``strategies x splits <= pbo_exact_work``
  (:data:`PBO_EXACT_WORK`); beyond, splits are drawn at random (seeded: the same report every
  time) in complementary pairs until the standard error of PBO
  (:func:`threadx.sweep.robust.pbo_se`) is at most :data:`PBO_SE_TARGET`, or, after at least
  :data:`PBO_MIN_SPLITS`, its 95% interval lies clear of both verdict thresholds
  (:data:`PBO_GOOD`, :data:`PBO_BAD`): more splits could not change the verdict. ``pbo_work``
  caps strategies x splits (``pbo_stop`` says which rule stopped). Memory O(combos x S).
* **Verdict** on the top-ranked row (``[rank] by``): *overfit* when DSR < :data:`DSR_BAD` or
  PBO >= :data:`PBO_BAD`; *survives* when DSR >= :data:`DSR_GOOD` and PBO < :data:`PBO_GOOD`;
  else *inconclusive*. Degenerate groups (one combination, no trades, identical results, unknown
  bar count, results without the statistics) get a "not enough ..." line instead of numbers.

Schema (``report.json`` in the run folder, ``<name>.report.json`` beside exports; the GUI reads
it through :func:`load_report`); numbers under the JSON policy of :mod:`threadx.core.jsonio`
(±inf as ``"inf"``/``"-inf"``, NaN as ``null``; reports written before it hold ``null`` for
±inf too)::

    {"version": 1, "run_id": str, "n_trials": int, "blocks": S, "rank_by": [str], "top_k": int,
     "thresholds": {"dsr_good", "pbo_good", "dsr_bad", "pbo_bad"}, "finished": str, "verdict",
     "groups": [{"symbol", "timeframe", ("fold"), "n_trials", "dsr_trials" (DSR's N), "n_returns",
                 "bar_minutes", "sr_mean", "sr_var" (per bar), "expected_max_sr" (per bar),
                 "expected_max_sr_annual", "pbo", "pbo_se" (0: exact), "pbo_se_target",
                 "pbo_splits", "pbo_splits_total", "pbo_stop" ("all" | "se" | "clear" | "max"),
                 "pbo_strategies", "pbo_note", "oos_rank_hist": [10 ints over (0, 1)],
                 "logit_mean", "logit_median", "verdict", "verdict_class",
                 "top": [{"combo_id", "rank", <swept params>, "sharpe" (annualised),
                          "sharpe_per_bar", "skewness", "kurtosis", "psr", "dsr"}]}]}
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from threadx.core.errors import StoreError
from threadx.core.io import atomic_write_json
from threadx.core.jsonio import to_jsonable
from threadx.core.log import get_logger
from threadx.data.resample import timeframe_minutes
from threadx.kernels.layout import block_columns
from threadx.strategy.metrics import STAT_NAMES, periods_per_year
from threadx.strategy.params import PARAM_NAMES
from threadx.sweep.results import RunStore, rank, trials_started
from threadx.sweep.robust import distinct_columns, dsr, expected_max_sharpe, pbo_cscv, psr
from threadx.sweep.states import RunState

if TYPE_CHECKING:
    from threadx.sweep.spec import MonteCarloSpec

log = get_logger(__name__)
REPORT_VERSION = 1
REPORT_FILE = "report.json"
N_BINS = 10
DSR_GOOD, PBO_GOOD = 0.95, 0.2
DSR_BAD, PBO_BAD = 0.5, 0.4
# strategies x splits up to which every split is used (exact PBO, a few ms); beyond, splits are
# drawn until the stated precision: a sweep of 1,134 combinations x 12,870 splits (S = 16) needs
# about 600 of them for SE <= 0.02, 1/20 of the exact pass
PBO_EXACT_WORK = 2e6
PBO_WORK = 2e8  # strategies x splits at most per group (a cap on the splits drawn)
PBO_SE_TARGET = 0.02  # standard error of PBO at which the random draw of splits stops
PBO_MIN_SPLITS = 200  # splits drawn at least before a stop
PBO_SEED = 0


def build_report(
    frame: pd.DataFrame,
    datasets: list[dict],
    rank_by: list[str],
    top_k: int,
    blocks: int,
    *,
    pbo_work: float = PBO_WORK,
    pbo_exact_work: float = PBO_EXACT_WORK,
    pbo_se_target: float = PBO_SE_TARGET,
    n_trials: int | None = None,
) -> dict[str, Any]:
    """The report of a sweep's results ``frame`` (schema above). ``datasets``: the manifest's
    (``symbol``, ``timeframe``, ``bars`` or ``n_bars``, optional ``bar_minutes`` and ``fold``).
    ``n_trials``: the strategies tried (default: the rows; a halving search's frame holds its
    full-length rows and says in ``attrs["trials"]`` how many trials it evaluated at all, and
    in ``attrs["group_trials"]`` how many per (symbol, timeframe, fold): a fold's DSR counts
    its own)."""
    n_trials = int(frame.attrs.get("trials", len(frame)) if n_trials is None else n_trials)
    info = {_key(d): d for d in datasets}
    swept = [c for c in PARAM_NAMES if c in frame.columns and _varies(frame[c])]
    pbo = {"work": pbo_work, "exact_work": pbo_exact_work, "se_target": pbo_se_target}
    ctx = {
        "n_trials": n_trials,
        "rank_by": list(rank_by),
        "top_k": int(top_k),
        "blocks": int(blocks),
        "swept": swept,
        "pbo": pbo,
    }
    groups = [
        _group_report(frame, pos, key, info.get(key, {}), ctx)
        for key, pos in _group_positions(frame, list(info))
    ]
    return to_jsonable(
        {
            "version": REPORT_VERSION,
            "n_trials": n_trials,
            "blocks": int(blocks),
            "rank_by": list(rank_by),
            "top_k": int(top_k),
            "thresholds": {
                "dsr_good": DSR_GOOD,
                "pbo_good": PBO_GOOD,
                "dsr_bad": DSR_BAD,
                "pbo_bad": PBO_BAD,
            },
            "groups": groups,
            "verdict": _overall_verdict(groups),
        }
    )


def _varies(col: pd.Series) -> bool:
    """More than one distinct value (NaN counts as one), without hashing numeric columns."""
    if len(col) < 2:
        return False
    if not isinstance(col.dtype, np.dtype) or col.dtype.kind not in "biuf":
        na = col.isna()  # strings, objects, extension types: NaN / NA counts as one value
        if na.any():
            return not na.all()
        return bool((col != col.iloc[0]).any())
    a = col.to_numpy()
    if a.dtype.kind in "biu" or a[0] == a[0]:
        return bool((a != a[0]).any())  # a NaN differs from the (defined) first value
    return not np.isnan(a).all()


def _key(d: dict) -> tuple:
    return (str(d.get("symbol")), str(d.get("timeframe")), d["fold"] if "fold" in d else None)


def _group_positions(frame: pd.DataFrame, order: list[tuple]) -> list[tuple[tuple, np.ndarray]]:
    """(key, row positions) per (symbol, timeframe[, fold]); manifest order first, then sorted
    (as ``groupby``, rows with a missing key left out, but by codes: no per-group frames)."""
    if frame.empty:
        return []
    cols = ["symbol", "timeframe", *(["fold"] if "fold" in frame.columns else [])]
    codes = np.zeros(len(frame), dtype=np.int64)
    ok = np.ones(len(frame), dtype=bool)
    parts: list[tuple[np.ndarray | None, Any]] = []
    for c in cols:
        if not _varies(frame[c]):  # one value (the usual case): nothing to factorize
            first = frame[c].iloc[0]
            if pd.isna(first):
                return []
            parts.append((None, first))
            continue
        k, u = pd.factorize(frame[c], sort=True)
        parts.append((k, u))
        ok &= k >= 0
        codes = pd.factorize(codes * len(u) + k, sort=True)[0]  # lexicographic, < n each step
    rows = np.arange(len(frame)) if ok.all() else np.flatnonzero(ok)
    sub = codes[rows]
    groups = [rows]
    if len(sub) and sub.max() > 0:
        srt = np.argsort(sub, kind="stable")
        groups = np.split(rows[srt], np.flatnonzero(np.diff(sub[srt])) + 1)
    found = {}
    for grp in groups:
        if not len(grp):
            continue
        vals = [u if k is None else u[k[grp[0]]] for k, u in parts]
        key = (str(vals[0]), str(vals[1]), int(vals[2]) if len(vals) > 2 else None)
        found[key] = grp.astype(np.int64, copy=False)
    keys = [k for k in order if k in found] + [k for k in found if k not in order]
    return [(k, found[k]) for k in keys]


def _group_report(
    frame: pd.DataFrame, pos: np.ndarray, key: tuple, ds: dict, ctx: dict[str, Any]
) -> dict[str, Any]:
    sym, tf, fold = key
    bars = ds.get("bars", ds.get("n_bars"))
    n_returns = int(bars) - 1 if bars is not None else None
    minutes = ds.get("bar_minutes") or timeframe_minutes(tf)
    root = math.sqrt(periods_per_year(minutes))
    sr = frame["sharpe"].to_numpy(dtype=np.float64)[pos] / root
    sr = sr[np.isfinite(sr)]
    sr_var = float(np.var(sr, ddof=1)) if len(sr) > 1 else 0.0
    if fold is not None:  # a fold's pick is made among its own trials (module docstring)
        ctx = {**ctx, "n_trials": trials_started(frame, key, len(pos))}
    emax = expected_max_sharpe(sr_var, ctx["n_trials"])
    g: dict[str, Any] = {"symbol": sym, "timeframe": tf, **({} if fold is None else {"fold": fold})}
    g.update(
        {
            "n_trials": len(pos),
            "dsr_trials": ctx["n_trials"],
            "n_returns": n_returns,
            "bar_minutes": minutes,
            "sr_mean": float(sr.mean()) if len(sr) else None,
            "sr_var": sr_var,
            "expected_max_sr": emax,
            "expected_max_sr_annual": emax * root,
        }
    )
    g.update(_pbo(frame, pos, block_columns(ctx["blocks"]), **ctx["pbo"]))
    g["top"] = _top_rows(frame, pos, ctx, root, n_returns, sr_var)
    g["verdict_class"], g["verdict"] = group_verdict(g, ctx["n_trials"], ctx["rank_by"])
    return g


def _top_rows(
    frame: pd.DataFrame,
    pos: np.ndarray,
    ctx: dict[str, Any],
    root: float,
    n_returns: int | None,
    sr_var: float,
) -> list[dict[str, Any]]:
    """The group's top-K by ``rank_by`` with PSR (vs 0) and DSR; ranking sorts only the rows
    that can be in the top-K (:func:`_top_candidates`) and reads only the ranked and tie-break
    columns, not the whole frame."""
    keys = [k.lstrip("+-") for k in ctx["rank_by"]]
    need = list(
        dict.fromkeys(
            [
                *keys,
                *(
                    c
                    for c in ("symbol", "timeframe", *PARAM_NAMES, "combo_id")
                    if c in frame.columns
                ),
            ]
        )
    )
    cand = _top_candidates(frame, pos, ctx["rank_by"][0], ctx["top_k"])
    sub = frame.iloc[cand][need]  # the candidate rows first: a few rows, not whole columns
    sub.insert(len(need), "_pos", cand)
    top = rank(sub, ctx["rank_by"]).head(ctx["top_k"])
    have_stats = all(c in frame.columns for c in STAT_NAMES)
    best = frame.iloc[top["_pos"].to_numpy()]
    cols = ["sharpe", "combo_id", *ctx["swept"], *(STAT_NAMES if have_stats else ())]
    val = {c: best[c].to_numpy() for c in dict.fromkeys(cols)}
    rows = []
    for i, rk in enumerate(top["rank"].to_numpy()):
        sharpe = float(val["sharpe"][i])
        sr = sharpe / root
        row: dict[str, Any] = {"rank": int(rk), "combo_id": int(val["combo_id"][i])}
        row.update({c: val[c][i] for c in ctx["swept"]}, sharpe=sharpe, sharpe_per_bar=sr)
        row.update(_psr_dsr(val, i, sr, n_returns, sr_var, ctx["n_trials"], have_stats))
        rows.append(row)
    return rows


def _top_candidates(frame: pd.DataFrame, pos: np.ndarray, key: str, k: int) -> np.ndarray:
    """The positions (of ``pos``, in order) that can be among the best ``k`` by the first
    ranking key: every row at least as good as the ``k``-th best value (ties included); all of
    ``pos`` when fewer than ``k`` values are defined (NaN ranks last) or the key is not numeric."""
    col = frame[key.lstrip("+-")]
    if not isinstance(col.dtype, np.dtype) or col.dtype.kind not in "biuf" or len(pos) <= k:
        return pos
    v = col.to_numpy(dtype=np.float64)
    v = v if len(pos) == len(v) else v[pos]
    defined = ~np.isnan(v)
    vd = v[defined]
    if len(vd) <= k:
        return pos
    if key.startswith("-"):
        return pos[defined & (v <= np.partition(vd, k - 1)[k - 1])]
    return pos[defined & (v >= np.partition(vd, len(vd) - k)[len(vd) - k])]


def _psr_dsr(
    val: dict[str, np.ndarray],
    i: int,
    sr: float,
    n_returns: int | None,
    sr_var: float,
    n_trials: int,
    have_stats: bool,
) -> dict[str, Any]:
    out = dict.fromkeys(("skewness", "kurtosis", "psr", "dsr"))
    if not have_stats:
        return out
    out["skewness"] = skew = float(val["skewness"][i])
    out["kurtosis"] = kurt = float(val["kurtosis"][i])
    if n_returns is not None and math.isfinite(sr):
        out["psr"] = psr(sr, n_returns, skew, kurt, 0.0)
        out["dsr"] = dsr(sr, n_returns, skew, kurt, sr_var, n_trials)
    return out


def _pbo(
    frame: pd.DataFrame,
    pos: np.ndarray,
    cols: Sequence[str],
    *,
    work: float,
    exact_work: float,
    se_target: float,
) -> dict[str, Any]:
    """PBO over the group's block returns (one S x n matrix, duplicates merged)."""
    s = len(cols)
    total = math.comb(s, s // 2)
    out: dict[str, Any] = {
        "pbo": None,
        "pbo_se": None,
        "pbo_se_target": se_target,
        "pbo_splits": 0,
        "pbo_splits_total": total,
        "pbo_stop": "",
        "pbo_strategies": 0,
        "pbo_note": "",
        "oos_rank_hist": [0] * N_BINS,
        "logit_mean": None,
        "logit_median": None,
    }
    if not cols or not all(c in frame.columns for c in cols):
        out["pbo_note"] = "not enough data: the results carry no block returns (older run)"
        return out
    # blocks x rows, C order: usually a view of the frame's float block (read only), no copy
    bt = np.ascontiguousarray(frame[list(cols)].to_numpy(dtype=np.float64).T)
    if len(pos) != len(frame):  # positions are sorted and distinct: else all rows, in order
        bt = np.take(bt, pos, axis=1)
    if not np.isfinite(bt).all():
        bt = np.where(np.isfinite(bt), bt, 0.0)
    keep = distinct_columns(bt)
    out["pbo_strategies"] = n = len(keep)
    if n < 2:
        what = ("no trades" if not np.any(bt) else "identical results") if len(pos) > 1 else "one"
        out["pbo_note"] = f"not enough combinations: {len(pos)} combination(s), {what}"
        return out
    b = np.take(bt, keep, axis=1).T  # strategies x blocks, a view of a blocks-major array
    if n * total <= exact_work:
        res = pbo_cscv(b)
    else:
        cap = min(total, max(PBO_MIN_SPLITS, int(work // n)))
        res = pbo_cscv(
            b,
            max_splits=cap,
            se_target=se_target,
            min_splits=PBO_MIN_SPLITS,
            clear_of=(PBO_GOOD, PBO_BAD),
            seed=PBO_SEED,
        )
    out.update(
        {
            "pbo": res.pbo,
            "pbo_se": res.se,
            "pbo_splits": res.n_splits,
            "pbo_stop": res.stop,
            "oos_rank_hist": res.rank_histogram(N_BINS),
            "logit_mean": np.mean(res.logits),
            "logit_median": np.median(res.logits),
        }
    )
    return out


def classify(dsr_value: float | None, pbo_value: float | None) -> str:
    """``overfit`` | ``survives`` | ``inconclusive`` | ``not_enough`` (thresholds above); a
    missing PBO (one distinct strategy: nothing was selected) leaves the call to DSR alone."""
    if dsr_value is None:
        return "not_enough"
    if dsr_value < DSR_BAD or (pbo_value is not None and pbo_value >= PBO_BAD):
        return "overfit"
    if dsr_value >= DSR_GOOD and (pbo_value is None or pbo_value < PBO_GOOD):
        return "survives"
    return "inconclusive"


#: class -> (how the best compares with luck, the line's ending, the word in counts)
_WORDS = {
    "overfit": ("is not distinguishable from", "likely overfit", "likely overfit"),
    "survives": ("stands out from", "the edge survives deflation", "surviving deflation"),
    "inconclusive": ("against", "inconclusive", "inconclusive"),
    "not_enough": ("", "", "without enough data"),
}


def group_verdict(g: dict[str, Any], n_trials: int, rank_by: list[str]) -> tuple[str, str]:
    """(class, one plain-language line) for one group of the report."""
    top = g.get("top") or []
    best = top[0] if top else {}
    reason = _not_enough(g, best)
    if reason:
        return "not_enough", reason
    d, p = best.get("dsr"), g.get("pbo")
    cls = classify(d, p)
    what = "best Sharpe" if rank_by and rank_by[0].lstrip("+") == "sharpe" else "top-ranked Sharpe"
    pbo_txt = f"PBO {_prob(p)}" if p is not None else f"PBO n/a ({g.get('pbo_note')})"
    stands, ending, _ = _WORDS[cls]
    if not best["sharpe"] > 0:  # nothing beats cash: there is no edge to deflate
        return "overfit", (
            f"{what} {best['sharpe']:.2f} (annualised) is not above 0: none of "
            f"the {n_trials:,} combinations has an edge (DSR {_prob(d)}, "
            f"{pbo_txt}) — no edge"
        )
    return cls, (
        f"{what} {best['sharpe']:.2f} (annualised) {stands} the best of {n_trials:,} "
        f"random strategies: DSR {_prob(d)}, {pbo_txt} — {ending}"
    )


def _prob(x: float) -> str:
    """Two decimals, more near 0 and 1 (0.9977 is not 1.00)."""
    return f"{x:.2f}" if x == 0 or 0.01 <= x <= 0.99 else f"{x:.2g}" if x < 0.01 else f"{x:.4f}"


def _not_enough(g: dict[str, Any], best: dict[str, Any]) -> str:
    if not best:
        return "not enough results: no combination to judge"
    if g.get("n_returns") is None:
        return "not enough information: the dataset's number of bars is unknown"
    if (g.get("n_returns") or 0) < 2:
        return f"not enough data: {g.get('n_returns')} bar return(s)"
    if best.get("skewness") is None:
        return "not enough data: the results carry no return statistics (older run; re-run it)"
    if g.get("sr_var") == 0 and g.get("n_trials", 0) > 1:
        return (
            f"not enough variation: all {g['n_trials']:,} combinations have the same Sharpe "
            f"ratio {best['sharpe']:.2f}; deflation and PBO say nothing"
        )
    if best.get("dsr") is None:
        return "not enough data: DSR undefined for the top combination"
    return ""


def _overall_verdict(groups: list[dict[str, Any]]) -> str:
    """One line for the whole sweep: the group's line, or a count and the worst group."""
    if not groups:
        return "not enough results: the run has no result rows"
    if len(groups) == 1:
        return str(groups[0]["verdict"])
    order = ("overfit", "inconclusive", "not_enough", "survives")
    counts = {c: sum(g["verdict_class"] == c for g in groups) for c in order}
    worst = min(groups, key=lambda g: order.index(g["verdict_class"]))
    words = ", ".join(f"{v} {_WORDS[c][2]}" for c, v in counts.items() if v)
    return f"{len(groups)} datasets: {words}; worst {_label(worst)}: {worst['verdict']}"


def _label(g: dict[str, Any]) -> str:
    fold = f" fold {g['fold']}" if g.get("fold") is not None else ""
    return f"{g['symbol']} {g['timeframe']}{fold}"


def manifest_datasets(manifest: dict[str, Any]) -> list[dict]:
    """The manifest's datasets; for a walk-forward run one entry per fold's train window."""
    ds = list(manifest.get("datasets") or [])
    folds = manifest.get("walk_forward") or []
    if not folds:
        return ds
    return [
        {**ds[f["dataset"]], "fold": f["fold"], "bars": f["train_bars"]}
        for f in folds
        if 0 <= int(f.get("dataset", -1)) < len(ds)
    ]


def compute_report(
    run_dir: Path | str,
    *,
    frame: pd.DataFrame | None = None,
    manifest: dict[str, Any] | None = None,
    spec: Any = None,
) -> dict[str, Any]:
    """Build the report of a run folder from its stored results, spec and manifest; ``frame``:
    the run's results already in memory (all of them, as :meth:`RunStore.load` returns them),
    used instead of reading the parts again; ``manifest`` / ``spec`` likewise (the manifest as
    it is, or is being, written: its datasets and ``finished``)."""
    from threadx.sweep.spec import load_spec

    store = RunStore(Path(run_dir))
    man = store.read_manifest() if manifest is None else manifest
    spec = load_spec(store.spec_path) if spec is None else spec
    frame = store.load() if frame is None else frame
    rep = build_report(
        frame, manifest_datasets(man), spec.rank.by, spec.rank.top_k, spec.report.blocks
    )
    mc = spec.report.monte_carlo
    if mc.enabled:  # opt-in: it re-runs the top-K (see threadx.sweep.montecarlo)
        from threadx.sweep.montecarlo import run_monte_carlo

        rep["monte_carlo"] = to_jsonable(run_monte_carlo(run_dir, rep, mc, frame=frame, spec=spec))
    return {"run_id": store.run_id, "finished": man.get("finished"), **rep}


def write_report(
    run_dir: Path | str,
    *,
    frame: pd.DataFrame | None = None,
    manifest: dict[str, Any] | None = None,
    spec: Any = None,
    before_write: Any = None,
) -> dict[str, Any]:
    """Compute and store ``report.json`` (atomically) in the run folder (``frame``,
    ``manifest``, ``spec``: see :func:`compute_report`; ``before_write()`` is called between
    computing and writing, e.g. to wait for the manifest that says the run completed)."""
    rep = compute_report(run_dir, frame=frame, manifest=manifest, spec=spec)
    if before_write is not None:
        before_write()
    # derived data, rebuilt by load_report when missing or unreadable: no fsync needed
    atomic_write_json(Path(run_dir) / REPORT_FILE, rep, durable=False)
    return rep


def finish_report(
    run_dir: Path | str, *, frame: pd.DataFrame | None = None, **known: Any
) -> dict[str, Any] | None:
    """:func:`write_report` for a run that just completed (``frame`` and ``known``: what the
    caller holds already, see :func:`write_report`); a failure is logged, never raised (the
    report is derived data: :func:`load_report` rebuilds it on demand)."""
    try:
        rep = write_report(run_dir, frame=frame, **known)
    except Exception as err:  # noqa: BLE001 - the run itself succeeded
        log.warning("overfitting report of %s not written: %r", Path(run_dir).name, err)
        return None
    log.info("overfitting report of %s: %s", Path(run_dir).name, rep["verdict"])
    return rep


def load_report(run_dir: Path | str, compute: bool = True) -> dict[str, Any] | None:
    """The stored report of a completed run; when it is missing or stale (an older run, a
    re-run) it is computed from the stored results and written (``compute``). None for a run
    that is not completed (partial results), not a run folder, or whose report failed (logged)."""
    try:
        man = RunStore(Path(run_dir)).read_manifest()
    except StoreError:
        return None
    if man.get("status") != RunState.COMPLETED:
        return None
    try:
        rep = json.loads((Path(run_dir) / REPORT_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        rep = None  # missing, or torn by a power loss (written without fsync): recomputed
    fresh = isinstance(rep, dict) and rep.get("version") == REPORT_VERSION
    if fresh and rep.get("finished") == man.get("finished"):
        return rep
    return finish_report(run_dir) if compute else None


def add_monte_carlo(run_dir: Path | str, settings: MonteCarloSpec) -> dict[str, Any] | None:
    """The completed run's report with its Monte Carlo section for ``settings`` (``enabled`` is
    not read: asking is enabling): computed and stored in ``report.json`` (atomically) unless the
    stored one was made with the same settings. None when the run has no report (not
    completed). The run's parts are read at most once: a missing or stale report is computed
    from the frame the Monte Carlo then uses."""
    from threadx.sweep.montecarlo import run_monte_carlo

    frame = None
    rep = load_report(run_dir, compute=False)
    if rep is None:
        try:
            completed = RunStore(Path(run_dir)).read_manifest().get("status") == RunState.COMPLETED
        except StoreError:
            return None
        if not completed:
            return None
        frame = RunStore(Path(run_dir)).load()
        rep = finish_report(run_dir, frame=frame)
        if rep is None:
            return None
    have = rep.get("monte_carlo") or {}
    want = {"paths": settings.paths, "block": settings.block or "n^(1/3)", "seed": settings.seed}
    if all(have.get(k) == v for k, v in want.items()) and have.get("top_k", 0) >= settings.top_k:
        return rep
    rep["monte_carlo"] = to_jsonable(run_monte_carlo(run_dir, rep, settings, frame=frame))
    atomic_write_json(Path(run_dir) / REPORT_FILE, rep, durable=False)
    return rep
