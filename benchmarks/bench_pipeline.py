"""One sweep pipeline at kernel speed (issue 12): ``threadx sweep run`` end to end vs the kernel.

    .venv/bin/python benchmarks/bench_pipeline.py [--shapes 1,2,3] [--repeat 3] [--json PATH]
        [--skip-ray] [--skip-vectorbt] [--vbt-combos N] [--skip-cold] [--quick]

Everything is measured in ONE run, side by side, on data and spec TOMLs the script writes into a
temporary data root (synthetic GBM series stored with ``OHLCVStore.write(exchange="synth")``, and
the bundled BTCUSDT sample). Each measurement that needs a clean process runs in a subprocess
(``_harness.py``'s protocol); timed pairs are alternated ``--repeat`` times, best kept.

Shapes (``--quick`` shrinks all of them to a few bars and combinations, for the smoke test):

1. one year of 1m GBM (``gbm_ohlcv(525_960, seed=11)``, symbol GBMA) resampled to 1h = 8,766 bars
   x 215,280 combinations (bb_period 10..100/2, bb_std 1.0..3.5/0.1, atr_period 7/14/21/28,
   atr_multiplier 1.0..3.0/0.5, max_hold_bars 24/72/168, direction both/long/short);
2. 100,000 1m bars (``gbm_ohlcv(100_000, seed=12)``, GBMB) x 1,134 combinations (bb_period
   10..60/10 + 80, bb_std 1.5/2.0/2.5, atr_period 7/14/21, atr_multiplier 1.0..3.5/0.5, direction);
3. the bundled BTCUSDT sample (30,240 1m bars) at 15m = 2,016 bars x 324,000 combinations
   (bb_period 10..108/2, bb_std 1.0..3.25/0.25, atr_period 4, atr_multiplier 6, max_hold_bars 3,
   spacing_bars 0/6/12, direction 3).

Parts (targets of issue 12 printed beside the numbers, PASS/FAIL):

A. **end to end vs kernel**, per shape, in one warm subprocess: ``threadx.cli.main(["--data-root",
   root, "sweep", "run", SPEC, "--local", "--fresh"])`` in-process (stdout/stderr captured, after
   an untimed warm-up run) vs :func:`kernel_only` (``pack`` + ``run_sweep`` over the whole grid
   in one call; ``spec.param_frame()`` and the bars are built before the timer). Ratio =
   kernel / e2e (>= 0.85 shape 1, >= 0.80 shape 2).
B. **through the embedded Ray cluster** (shape 1): submit -> ``completed`` as ``threadx sweep
   run SPEC`` without ``--local`` does it (``ThreadXClient.submit`` + ``wait`` at the CLI's poll
   interval), alternated with :func:`kernel_only` in the same process; ratio kernel / that
   (>= 0.75). The fixed cost of the path is reported apart: cluster start (``connect``), driver
   actor, worker pool (first small sweep minus the same sweep warm), teardown (``close``).
C. **start-up** (subprocesses, wall from start to exit): ``threadx sweep run ONE.toml --local
   --fresh`` on a one-combination spec, warm (best of 3, <= 2 s) and cold (``NUMBA_CACHE_DIR`` =
   an empty folder: the kernels compile); the completed run re-submitted without ``--local``
   (best of 3, <= 3 s; before 715cff4 that started and stopped an embedded cluster, since then
   ``sweep run`` shows a completed run from disk first).
D. **host time per combination** = (e2e - kernel) / combinations, shapes 1 and 3 (<= 5 us).
E. **memory**: each shape's e2e sweep alone in a fresh subprocess, warmed by the one-combination
   spec first (kernels loaded), whose peak RSS is then reset to the current RSS (Linux
   ``/proc/self/clear_refs`` 5) so that ``VmHWM`` after the sweep is the sweep's own peak
   (``ru_maxrss`` of the whole process is kept as ``process_peak_rss_mib``): peak RSS vs the
   pre-flight estimate (``check_memory``), within +-25 %; RSS growth (peak - RSS before the sweep)
   of shape 1 with 1/4 of the combinations (atr_period 7 only) vs all, and 1/4 of the combinations
   at 15m vs 1h: it should grow with combinations, not with bars x combinations.
F. **backtests per minute** end to end, shape 1 (>= 2,000,000).
G. **vs vectorbt** (shape 2): ThreadX end-to-end bar-steps/s vs vectorbt's ``from_signals`` on the
   same bars and grid (``--vbt-combos N``: vectorbt runs a deterministic subset, whole
   bb_periods evenly spaced, and bar-steps/s are compared), alternated with part A's runs
   (>= 150x). vectorbt is a throughput peer only; see bench_cpu_vs_vectorbt.py for what its
   ``from_signals`` cannot express (max_hold_bars, spacing, the ATR trailing rule). A garbage
   collection after each ``from_signals`` call (not counted) keeps its peak RSS near one batch's.

The reference "indicators + kernel" is one function, :func:`kernel_only`: when the library gains
a dedicated prepare / banks step, switch it there and nowhere else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))

import _harness as h  # noqa: E402 -- after the path set-up
from _pipeline_paths import setup_root  # noqa: E402
from _pipeline_report import checks, report  # noqa: E402
from _pipeline_workers import WORKERS  # noqa: E402

REPO = h.REPO
SCRIPT = Path(__file__).resolve()
DIRECTIONS = ["both", "long", "short"]


# --- parent ---------------------------------------------------------------------------------------
class Worker(h.PeerProcess):
    """A worker subprocess answering named commands (``_harness.PeerProcess`` + ``ask``)."""

    def __init__(self, kind: str, argv: list[str]) -> None:
        super().__init__(kind, SCRIPT, argv, threads=None)

    def ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        return self._read()


def best(runs: list[dict[str, Any]], key: str) -> float:
    return min(r[key] for r in runs)


def part_a(
    paths: dict[str, Any], sid: str, repeat: int, vbt_argv: list[str] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Shape ``sid``: e2e and kernel alternated (and the vectorbt peer, when given)."""
    root, spec = paths["data_root"], paths["shapes"][sid]
    print(f"[A] shape {sid}: warming up ...", file=sys.stderr, flush=True)
    peers: dict[str, Worker] = {}
    try:
        peers["tx"] = Worker("pipeline", ["--data-root", root, "--spec", spec])
        if vbt_argv is not None:
            peers["vbt"] = Worker("vectorbt", ["--data-root", root, "--spec", spec, *vbt_argv])
        runs: dict[str, list[dict[str, Any]]] = {"e2e": [], "kernel": [], "vbt": []}
        for i in range(repeat):
            print(f"[A] shape {sid}: round {i + 1}/{repeat}", file=sys.stderr, flush=True)
            runs["e2e"].append(peers["tx"].ask("e2e"))
            runs["kernel"].append(peers["tx"].ask("kernel"))
            if "vbt" in peers:
                runs["vbt"].append(peers["vbt"].ask("vbt"))
        ready = peers["tx"].ready
        bars, combos = ready["bars"], ready["combos"]
        e2e_s, kern_s = best(runs["e2e"], "e2e_s"), best(runs["kernel"], "kernel_s")
        tx_rss = peers["tx"].close()["peak_rss_mib"]
        a = {
            "bars": bars,
            "combos": combos,
            "bar_steps": bars * combos,
            "e2e_s": e2e_s,
            "kernel_s": kern_s,
            "ratio_kernel_over_e2e": kern_s / e2e_s,
            "e2e_bar_steps_per_s": bars * combos / e2e_s,
            "kernel_bar_steps_per_s": bars * combos / kern_s,
            "host_s": e2e_s - kern_s,
            "host_us_per_combo": (e2e_s - kern_s) / combos * 1e6,
            "backtests_per_min": combos / e2e_s * 60,
            "param_frame_s": ready["param_frame_s"],
            "warm_e2e_s": ready["warm_e2e_s"],
            "warm_kernel_s": ready["warm_kernel_s"],
            "manifest_wall_s": min(
                (r["manifest_wall_s"] for r in runs["e2e"] if r.get("manifest_wall_s")),
                default=None,
            ),
            "n_trades_total": runs["kernel"][-1]["n_trades_total"],
            "all_e2e_s": [r["e2e_s"] for r in runs["e2e"]],
            "all_kernel_s": [r["kernel_s"] for r in runs["kernel"]],
            "worker_peak_rss_mib": tx_rss,
        }
        g = None
        if "vbt" in peers:
            v = min(runs["vbt"], key=lambda r: r["total_s"])
            vr = peers["vbt"].ready
            v_steps = v["bars"] * v["combos"]
            g = {
                "threadx_e2e_bar_steps_per_s": a["e2e_bar_steps_per_s"],
                "vectorbt_s": v["total_s"],
                "vectorbt_bars": v["bars"],
                "vectorbt_combos": v["combos"],
                "vectorbt_bb_periods": vr["bb_periods"],
                "subset": v["combos"] < combos,
                "vectorbt_bar_steps_per_s": v_steps / v["total_s"],
                "ratio_threadx_over_vectorbt": a["e2e_bar_steps_per_s"] / (v_steps / v["total_s"]),
                "vectorbt_stages_s": {k: v[k] for k in ("signals_s", "simulate_s", "metrics_s")},
                "vectorbt_gc_s_not_counted": v["gc_s"],
                "vectorbt_n_trades_total": v["n_trades_total"],
                "vectorbt_from_signals_calls": v["from_signals_calls"],
                "all_vectorbt_s": [r["total_s"] for r in runs["vbt"]],
                "vectorbt_version": vr["vectorbt"],
                "pandas_version": vr["pandas"],
                "vectorbt_peak_rss_mib": peers["vbt"].close()["peak_rss_mib"],
            }
        return a, g
    finally:
        for p in peers.values():
            p.kill()


def part_b(paths: dict[str, Any], repeat: int) -> dict[str, Any]:
    print("[B] embedded Ray cluster: starting ...", file=sys.stderr, flush=True)
    w = Worker(
        "ray",
        [
            "--data-root",
            paths["data_root"],
            "--spec",
            paths["shapes"]["1"],
            "--warm-spec",
            paths["ray_warm"],
        ],
    )
    try:
        ray_runs, kern_runs = [], []
        for i in range(repeat):
            print(f"[B] round {i + 1}/{repeat}", file=sys.stderr, flush=True)
            kern_runs.append(w.ask("kernel"))
            ray_runs.append(w.ask("ray"))
        ready = w.ready
        end = w.close()
    finally:
        w.kill()
    ray_s, kern_s = best(ray_runs, "ray_s"), best(kern_runs, "kernel_s")
    fixed = {k: ready[k] for k in ("start_s", "driver_s", "workers_s")}
    fixed["teardown_s"] = end["teardown_s"]
    steps = ready["bars"] * ready["combos"]
    return {
        "bars": ready["bars"],
        "combos": ready["combos"],
        "embedded": ready["embedded"],
        "ray_s": ray_s,
        "kernel_s": kern_s,
        "ratio_kernel_over_ray": kern_s / ray_s,
        "ray_bar_steps_per_s": steps / ray_s,
        "report_s": min(r["report_s"] for r in ray_runs),
        "ratio_kernel_over_ray_and_report": kern_s / (ray_s + min(r["report_s"] for r in ray_runs)),
        "driver_manifest_wall_s": min(
            (r["manifest_wall_s"] for r in ray_runs if r.get("manifest_wall_s")), default=None
        ),
        "fixed_s": fixed,
        "fixed_total_s": sum(fixed.values()),
        "first_small_sweep_s": ready["first_small_sweep_s"],
        "warm_small_sweep_s": ready["warm_small_sweep_s"],
        "all_ray_s": [r["ray_s"] for r in ray_runs],
        "all_kernel_s": [r["kernel_s"] for r in kern_runs],
        "client_peak_rss_mib": end["peak_rss_mib"],
    }


def threadx_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "threadx"
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "threadx.cli"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def timed_cli(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [*threadx_cmd(), *argv], capture_output=True, text=True, env=env, cwd=str(REPO)
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"threadx {' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]}"
        )
    return wall


def part_c(paths: dict[str, Any], n: int, cold: bool, resubmit: bool) -> dict[str, Any]:
    print("[C] start-up ...", file=sys.stderr, flush=True)
    local = ["--data-root", paths["data_root"], "sweep", "run", paths["one"], "--local", "--fresh"]
    env = child_env()
    timed_cli(local, env)  # untimed: refreshes numba's on-disk cache if the kernels changed
    warm = [timed_cli(local, env) for _ in range(n)]
    out: dict[str, Any] = {
        "command": " ".join(["threadx", *local]),
        "warm_s": min(warm),
        "all_warm_s": warm,
    }
    if cold:
        empty = tempfile.mkdtemp(prefix="threadx-bench-numba-")
        try:
            out["cold_s"] = timed_cli(local, child_env(NUMBA_CACHE_DIR=empty))
        finally:
            shutil.rmtree(empty, ignore_errors=True)
    if resubmit:
        again = ["--data-root", paths["data_root"], "sweep", "run", paths["one"]]
        resub = [timed_cli(again, env) for _ in range(n)]
        out.update(
            resubmit_command=" ".join(["threadx", *again]),
            resubmit_s=min(resub),
            all_resubmit_s=resub,
        )
    return out


def part_e(paths: dict[str, Any], sids: list[str], growth: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    todo = [(sid, paths["shapes"][sid]) for sid in sids]
    if growth:
        todo += [("q1h", paths["q1h"]), ("q15m", paths["q15m"])]
    for key, spec in todo:
        print(f"[E] peak RSS: {key}", file=sys.stderr, flush=True)
        w = Worker(
            "rss", ["--data-root", paths["data_root"], "--spec", spec, "--warm-spec", paths["one"]]
        )
        try:
            out[key] = w.ready
            w.close()
        finally:
            w.kill()
        out[key].pop("ready", None)
    if growth and "1" in out:
        full, q1h, q15m = out["1"], out["q1h"], out["q15m"]
        out["growth"] = {
            "combos_ratio_full_over_quarter": full["combos"] / q1h["combos"],
            "growth_ratio_full_over_quarter": full["growth_mib"] / q1h["growth_mib"],
            "bars_ratio_15m_over_1h": q15m["bars"] / q1h["bars"],
            "growth_ratio_15m_over_1h": q15m["growth_mib"] / q1h["growth_mib"],
        }
    return out


def git_state() -> dict[str, Any]:
    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", *a], capture_output=True, text=True, cwd=str(REPO), timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "threadx", "actors").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD") or None, "dirty_library_files": dirty}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default="1,2,3", help="shapes to run (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3, help="alternated timed runs, best kept")
    ap.add_argument("--json", type=Path, help="write the numbers to this JSON file")
    ap.add_argument("--skip-ray", action="store_true", help="skip part B (and C's re-submit)")
    ap.add_argument("--skip-vectorbt", action="store_true", help="skip part G")
    ap.add_argument("--skip-cold", action="store_true", help="skip C's cold (compiling) start")
    ap.add_argument(
        "--vbt-combos",
        type=int,
        default=0,
        help="vectorbt runs whole bb_periods covering at least this many of shape "
        "2's combinations (0 = all; bar-steps/s are compared)",
    )
    ap.add_argument("--startup-repeat", type=int, default=3, help="best of N for part C")
    ap.add_argument("--root", help="data root to reuse (default: a new temporary folder)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data root")
    ap.add_argument("--label", help="free text stored in the JSON and printed (e.g. which code)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--data-root", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    ap.add_argument("--warm-spec", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse(argv)
    if args.worker:
        WORKERS[args.worker](args)
        return {}
    sids = [s.strip() for s in args.shapes.split(",") if s.strip()]
    if not sids or any(s not in ("1", "2", "3") for s in sids):
        raise SystemExit(f"--shapes: a comma-separated subset of 1,2,3, got {args.shapes!r}")
    if args.repeat < 1 or args.startup_repeat < 1:
        raise SystemExit("--repeat and --startup-repeat must be >= 1")
    vbt = not args.skip_vectorbt and "2" in sids
    if vbt:
        try:
            import vectorbt  # noqa: F401
        except ImportError as exc:
            raise SystemExit(
                f"vectorbt is not importable ({exc}); `.venv/bin/pip install "
                "vectorbt` or pass --skip-vectorbt"
            ) from None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    tmp = None if args.root else tempfile.mkdtemp(prefix="threadx-bench-pipeline-")
    root = Path(args.root or tmp)
    try:
        load_start = os.getloadavg()  # the machine may be shared: say how busy it was
        t0 = time.perf_counter()
        paths = setup_root(root, args.quick)
        print(
            f"data and specs written to {root} in {time.perf_counter() - t0:.1f} s", file=sys.stderr
        )
        out: dict[str, Any] = {
            "benchmark": "bench_pipeline",
            "label": args.label,
            "quick": args.quick,
            "repeat": args.repeat,
            "machine": h.machine(),
            "git": git_state(),
            "specs": paths,
            "shapes": {},
            "ray": None,
            "startup": None,
            "memory": None,
            "vectorbt": None,
        }
        vbt_argv = ["--vbt-combos", str(args.vbt_combos)]
        for sid in sids:
            a, g = part_a(paths, sid, args.repeat, vbt_argv if vbt and sid == "2" else None)
            out["shapes"][sid] = a
            if g is not None:
                out["vectorbt"] = g
        if "1" in sids and not args.skip_ray:
            out["ray"] = part_b(paths, args.repeat)
        out["startup"] = part_c(paths, args.startup_repeat, not args.skip_cold, not args.skip_ray)
        out["memory"] = part_e(paths, sids, growth="1" in sids)
        out["checks"] = checks(out)
        out["load_avg"] = {"start": load_start, "end": os.getloadavg()}
        return h.publish(out, report, args.json)
    finally:
        if tmp and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
