"""bench_pipeline.py's verdicts and printed report: every target of issue 12 against its
measurement, then the tables."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))


# --- targets (issue 12) -------------------------------------------------------------------------
TARGETS = {
    "A1_kernel_over_e2e": (">=", 0.85),
    "A2_kernel_over_e2e": (">=", 0.80),
    "B_kernel_over_ray": (">=", 0.75),
    "C_warm_local_s": ("<=", 2.0),
    "C_resubmit_cluster_s": ("<=", 3.0),
    "D1_host_us_per_combo": ("<=", 5.0),
    "D3_host_us_per_combo": ("<=", 5.0),
    "E_peak_over_estimate": ("within", (0.75, 1.25)),
    "F_backtests_per_min": (">=", 2_000_000.0),
    "G_threadx_over_vectorbt": (">=", 150.0),
}


def verdict(name: str, value: float | None) -> str:
    op, target = TARGETS[name.split(":")[0]]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    ok = {
        ">=": lambda: value >= target,
        "<=": lambda: value <= target,
        "within": lambda: target[0] <= value <= target[1],
    }[op]()
    return "PASS" if ok else "FAIL"


def target_text(name: str) -> str:
    op, target = TARGETS[name.split(":")[0]]
    if op == "within":
        return f"{target[0]:g}..{target[1]:g}"
    return f"{op} {target:,g}"


Row = tuple[str, str, float | None]  # check id, what it measures, the measurement


def _per_shape(
    values: dict[str, dict[str, Any]], sids: Iterable[str], check: str, what: str, field: str
) -> list[Row]:
    """A row per shape of ``sids`` that ``values`` holds: ``check`` and ``what`` with the shape
    filled in, ``values[sid][field]``."""
    return [
        (check.format(sid), what.format(sid), values[sid][field]) for sid in sids if sid in values
    ]


def checks(out: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target with its measured value and verdict."""
    rows: list[Row] = []
    sh = out["shapes"]
    rows += _per_shape(
        sh, ("1", "2"), "A{}_kernel_over_e2e", "A shape {} kernel / e2e", "ratio_kernel_over_e2e"
    )
    if out.get("ray"):
        rows.append(
            (
                "B_kernel_over_ray",
                "B shape 1 kernel / Ray submit->completed",
                out["ray"]["ratio_kernel_over_ray"],
            )
        )
    st = out.get("startup") or {}
    if st:
        rows.append(("C_warm_local_s", "C warm one-combination --local, s", st["warm_s"]))
        if "resubmit_s" in st:
            rows.append(
                (
                    "C_resubmit_cluster_s",
                    "C completed run re-submitted, no --local, s",
                    st["resubmit_s"],
                )
            )
    rows += _per_shape(
        sh,
        ("1", "3"),
        "D{}_host_us_per_combo",
        "D shape {} host us / combination",
        "host_us_per_combo",
    )
    mem = out.get("memory") or {}
    rows += _per_shape(
        mem,
        [key for key in mem if key in sh],
        "E_peak_over_estimate:{}",
        "E shape {} peak RSS / estimate",
        "peak_over_estimate",
    )
    if "1" in sh:
        rows.append(
            ("F_backtests_per_min", "F shape 1 backtests / min e2e", sh["1"]["backtests_per_min"])
        )
    if out.get("vectorbt"):
        rows.append(
            (
                "G_threadx_over_vectorbt",
                "G shape 2 ThreadX e2e / vectorbt bar-steps/s",
                out["vectorbt"]["ratio_threadx_over_vectorbt"],
            )
        )
    return [
        {
            "id": key,
            "what": what,
            "value": val,
            "target": target_text(key),
            "verdict": verdict(key, val),
        }
        for key, what, val in rows
    ]


def report(out: dict[str, Any]) -> None:
    m = out["machine"]
    print(
        f"bench_pipeline {'(quick) ' if out['quick'] else ''}commit {out['git']['commit']}"
        + (f" [{out['label']}]" if out.get("label") else "")
        + (
            f" + {len(out['git']['dirty_library_files'])} uncommitted library file(s)"
            if out["git"]["dirty_library_files"]
            else ""
        )
        + f"; {m['date']}, {m['host_cpus']} CPUs, Python {m['python']}, numba {m['numba']}; "
        f"best of {out['repeat']}; load average (1 min) {out['load_avg']['start'][0]:.1f} at "
        f"start, {out['load_avg']['end'][0]:.1f} at end"
    )
    print(
        "\nA/D/F  end to end (threadx sweep run SPEC --local --fresh, in-process) vs "
        "kernel_only (pack + run_sweep, whole grid)"
    )
    print(
        f"{'shape':<6}{'bars':>8}{'combos':>10}{'e2e s':>9}{'kernel s':>10}{'kern/e2e':>10}"
        f"{'host us/c':>11}{'e2e bar-steps/s':>17}{'backtests/min':>15}"
    )
    for sid, a in out["shapes"].items():
        print(
            f"{sid:<6}{a['bars']:>8,}{a['combos']:>10,}{a['e2e_s']:>9.3f}{a['kernel_s']:>10.3f}"
            f"{a['ratio_kernel_over_e2e']:>10.3f}{a['host_us_per_combo']:>11.2f}"
            f"{a['e2e_bar_steps_per_s']:>17.3e}{a['backtests_per_min']:>15,.0f}"
        )
    r = out.get("ray")
    if r:
        f = r["fixed_s"]
        print(
            f"\nB  Ray ({'embedded' if r['embedded'] else 'JOINED an existing'} cluster), shape "
            f"1: submit->completed {r['ray_s']:.3f} s (CLI poll interval included), kernel "
            f"{r['kernel_s']:.3f} s, ratio {r['ratio_kernel_over_ray']:.3f}; + ranking/report "
            f"printed {r['report_s']:.3f} s"
        )
        print(
            f"   fixed cost: start {f['start_s']:.2f} s, driver {f['driver_s']:.2f} s, workers "
            f"{f['workers_s']:.2f} s (first small sweep {r['first_small_sweep_s']:.2f} s - warm "
            f"{r['warm_small_sweep_s']:.2f} s), teardown {f['teardown_s']:.2f} s = "
            f"{r['fixed_total_s']:.2f} s"
        )
    st = out.get("startup")
    if st:
        cold = f"{st['cold_s']:.2f} s" if "cold_s" in st else "skipped"
        resub = f"{st['resubmit_s']:.2f} s" if "resubmit_s" in st else "skipped"
        print(
            f"\nC  start-up (process start to exit): warm --local {st['warm_s']:.2f} s, cold "
            f"(empty NUMBA_CACHE_DIR) {cold}, completed run re-submitted without --local "
            f"{resub}"
        )
    mem = out.get("memory")
    if mem:
        print("\nE  peak RSS of a fresh process running the e2e sweep vs the pre-flight estimate")
        print(
            f"{'run':<6}{'bars':>8}{'combos':>10}{'estimate MiB':>14}{'peak MiB':>10}"
            f"{'peak/est':>10}{'RSS before':>12}{'growth MiB':>12}"
            f"{'warm-up peak':>14}"
        )
        for key, e in mem.items():
            if key == "growth":
                continue
            print(
                f"{key:<6}{e['bars']:>8,}{e['combos']:>10,}{e['estimate_mib']:>14,.0f}"
                f"{e['sweep_peak_rss_mib']:>10,.0f}{e['peak_over_estimate']:>10.2f}"
                f"{e['rss_before_mib']:>12,.0f}{e['growth_mib']:>12,.0f}"
                f"{e['peak_before_mib']:>14,.0f}"
            )
        gr = mem.get("growth")
        if gr:
            print(
                f"   growth: x{gr['combos_ratio_full_over_quarter']:.0f} combinations -> "
                f"x{gr['growth_ratio_full_over_quarter']:.2f} RSS growth; "
                f"x{gr['bars_ratio_15m_over_1h']:.1f} bars (15m vs 1h, same combinations) -> "
                f"x{gr['growth_ratio_15m_over_1h']:.2f}"
            )
    g = out.get("vectorbt")
    if g:
        n2 = out["shapes"]["2"]["combos"]
        sub = (
            f" (vectorbt on a subset: {g['vectorbt_combos']:,} of {n2:,} combinations, "
            f"bb_period {g['vectorbt_bb_periods']}; bar-steps/s compared)"
            if g["subset"]
            else ""
        )
        print(
            f"\nG  shape 2 vs vectorbt {g['vectorbt_version']}: ThreadX e2e "
            f"{g['threadx_e2e_bar_steps_per_s']:.3e} bar-steps/s, vectorbt "
            f"{g['vectorbt_bar_steps_per_s']:.3e} ({g['vectorbt_s']:.2f} s, peak RSS "
            f"{g['vectorbt_peak_rss_mib']:,.0f} MiB), ratio "
            f"{g['ratio_threadx_over_vectorbt']:.1f}x{sub}"
        )
    print(f"\n{'target':<52}{'measured':>14}  {'target':<12}verdict")
    for c in out["checks"]:
        v = c["value"]
        val = "n/a" if v is None else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3f}")
        print(f"{c['what']:<52}{val:>14}  {c['target']:<12}{c['verdict']}")
