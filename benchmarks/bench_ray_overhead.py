"""Throughput through the Ray actor system vs calling the CPU kernel directly, same cores.

    .venv/bin/python benchmarks/bench_ray_overhead.py [--combos 60000] [--cpus 2] [--repeat 2]

Both sides run the same grid on the same data (the bundled BTCUSDT 1m sample, 30,240 bars) with
the same chunking: *direct* packs each chunk and calls ``run_sweep_cpu`` in this process with
numba using ``--cpus`` threads; *ray* submits the spec to the SweepDriver of an embedded cluster
with ``--cpus`` CPUs (one single-threaded CPU worker per CPU), whose workers pack, run the kernel
and return compact rows that the driver writes as Parquet parts. Ray's worker pool is warmed by a
small sweep first (numba's on-disk cache is warm for both). Peers alternate ``--repeat`` times;
the best time of each is reported with the ratio ray / direct. The issue's target: >= 0.90 for a
sweep of >= 10 s of kernel work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HOME", tempfile.mkdtemp(prefix="threadx-bench-home-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def grid(combos: int) -> dict:
    n_std = 50
    n_mult = 4
    n_bb = max(1, combos // (n_std * n_mult))
    return {
        "name": "bench-ray",
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["1m"]},
        "grid": {
            "bb_period": {"start": 10, "stop": 10 + n_bb - 1, "step": 1},
            "bb_std": {"start": 1.0, "stop": 1.0 + 0.05 * (n_std - 1), "step": 0.05},
            "atr_multiplier": [1.0, 1.5, 2.0, 3.0],
        },
    }


def run_direct(spec, datasets, cpus: int) -> float:
    import numba

    from threadx.kernels.cpu import run_sweep_cpu
    from threadx.strategy.pack import pack
    from threadx.sweep.plan import plan_sweep

    numba.set_num_threads(cpus)
    plan = plan_sweep(spec, datasets)
    ds = datasets[0]
    t0 = time.perf_counter()
    for task in plan.tasks:
        packed = pack(spec.param_frame(task.start, task.stop), ds.open, ds.high, ds.low, ds.close)
        run_sweep_cpu(packed, int(ds.times_ns[0]), int(ds.times_ns[-1]), ds.bar_minutes)
    return time.perf_counter() - t0


def run_ray(client, spec_dict: dict) -> float:
    t0 = time.perf_counter()
    rid = client.submit(spec_dict)
    st = client.wait(rid, poll_s=0.05)
    wall = time.perf_counter() - t0
    assert st["state"] == "completed", st
    return wall


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--combos", type=int, default=60_000)
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import ray

    from actors.client import ThreadXClient
    from threadx.core.config import apply_overrides, load_config
    from threadx.data.store import OHLCVStore
    from threadx.sample import ensure_sample
    from threadx.sweep import spec_from_dict
    from threadx.sweep.plan import load_datasets

    root = Path(tempfile.mkdtemp(prefix="threadx-bench-"))
    store = OHLCVStore(root)
    ensure_sample(store)
    repo = Path(__file__).resolve().parents[1]
    cfg = apply_overrides(load_config(repo / "configs" / "threadx.toml"), data_root=str(root))
    spec_d = grid(args.combos)
    spec = spec_from_dict(spec_d)
    datasets = load_datasets(spec, store)
    bars = datasets[0].n_bars
    ray.init(
        num_cpus=args.cpus,
        include_dashboard=False,
        namespace="threadx",
        logging_level="ERROR",
        log_to_driver=False,
    )
    client = ThreadXClient(cfg).connect()
    warm = grid(400)
    warm["name"] = "warm"
    run_ray(client, warm)  # starts and warms the worker pool
    run_direct(spec_from_dict(warm), load_datasets(spec_from_dict(warm), store), args.cpus)
    direct, through_ray = [], []
    for i in range(args.repeat):
        direct.append(run_direct(spec, datasets, args.cpus))
        d = dict(spec_d, name=f"bench-ray-{i}")  # a new run id each time: no resume shortcut
        through_ray.append(run_ray(client, d))
    ray.shutdown()
    steps = bars * spec.count()
    out = {
        "bars": bars,
        "combinations": spec.count(),
        "bar_steps": steps,
        "cpus": args.cpus,
        "direct_s": min(direct),
        "ray_s": min(through_ray),
        "direct_bar_steps_per_s": steps / min(direct),
        "ray_bar_steps_per_s": steps / min(through_ray),
        "ratio_ray_over_direct": min(direct) / min(through_ray),
        "all_direct_s": direct,
        "all_ray_s": through_ray,
    }
    print(f"bars {bars:,} x combinations {spec.count():,} = {steps:,} bar-steps, {args.cpus} CPUs")
    print(f"direct kernel : {out['direct_s']:.2f} s  {out['direct_bar_steps_per_s']:.3e} /s")
    print(f"through Ray   : {out['ray_s']:.2f} s  {out['ray_bar_steps_per_s']:.3e} /s")
    print(f"ratio ray/direct throughput: {out['ratio_ray_over_direct']:.3f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
