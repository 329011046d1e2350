"""The steppable controller with fake workers (no Ray): scheduling, shares, faults, control."""

from __future__ import annotations

import pandas as pd
import pytest

from threadx.sample import ensure_sample
from threadx.sweep import spec_from_dict
from threadx.sweep.controller import SweepController, WorkerInfo, WorkerLost, assign_weighted
from threadx.sweep.execute import execute_task
from threadx.sweep.plan import Task, load_datasets, plan_sweep
from threadx.sweep.results import RunStore
from threadx.sweep.run import run_local
from threadx.sweep.spec import spec_to_toml


class FakeExecutor:
    """Runs tasks synchronously with the real kernel; can kill workers at chosen points."""

    def __init__(self, plan, devices: dict[str, int], speed: dict[str, int] | None = None):
        self.plan = plan
        self.live = {}
        self.n = 0
        for dev, count in devices.items():
            for _ in range(count):
                self._spawn(dev)
        self.speed = speed or {}
        self.pending = {}  # future -> [remaining polls, worker_id, task]
        self.kill_on_submit: set[int] = set()
        self.dead: dict[str, str] = {}
        self.restart = True
        self.calls = 0
        self.submitted: list[tuple[str, int]] = []

    def _spawn(self, dev):
        wid = f"w{self.n}"
        self.n += 1
        self.live[wid] = WorkerInfo(wid, dev)
        return self.live[wid]

    def workers(self):
        return list(self.live.values())

    def submit(self, worker_id, task):
        self.calls += 1
        fut = object()
        dev = self.live[worker_id].device
        self.pending[fut] = [self.speed.get(dev, 1), worker_id, task]
        self.submitted.append((dev, task.task_id))
        return fut

    def wait(self, futures, timeout):
        ready = []
        for f in futures:
            self.pending[f][0] -= 1
            if self.pending[f][0] <= 0:
                ready.append(f)
        return ready

    def result(self, fut):
        _, wid, task = self.pending.pop(fut)
        if task.task_id in self.kill_on_submit:
            self.kill_on_submit.discard(task.task_id)
            self.dead[wid] = self.live.pop(wid).device
            raise WorkerLost(f"worker {wid} killed")
        if wid not in self.live:
            self.dead.setdefault(wid, "?")
            raise WorkerLost(f"worker {wid} gone")
        ds = self.plan.datasets[task.dataset_index]
        return execute_task(ds, self.plan.spec, task, "cpu", device=self.live[wid].device)

    def replace_worker(self, worker_id):
        dev = self.dead.pop(worker_id, None)
        return self._spawn(dev) if dev is not None and self.restart else None

    def cancel(self, fut):
        self.pending.pop(fut, None)


@pytest.fixture
def plan_and_store(store):
    ensure_sample(store)
    spec = spec_from_dict(
        {
            "name": "c",
            "data": {"symbols": ["BTCUSDT"], "timeframes": ["4h"]},
            "grid": {
                "bb_period": {"start": 5, "stop": 24, "step": 1},
                "bb_std": {"start": 1.0, "stop": 3.0, "step": 0.1},
                "atr_multiplier": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0],
            },
            "chunk_size": 100,
        }
    )
    plan = plan_sweep(spec, load_datasets(spec, store))
    run = RunStore(store.data_root / "runs" / plan.run_id)
    run.create(spec_to_toml(spec), plan.manifest("cpu"))
    return plan, run


def test_assign_weighted_within_one_task():
    tasks = [Task(i, 0, i * 7, i * 7 + 7, 0) for i in range(100)]
    out = assign_weighted(tasks, {"5090": 0.75, "2060": 0.25})
    a = sum(t.size for t in out["5090"])
    assert abs(a - 0.75 * 700) <= 7
    assert sorted(t.task_id for ts in out.values() for t in ts) == list(range(100))


def test_weighted_shares_exact(plan_and_store):
    plan, run = plan_and_store
    assert plan.total == 4200
    ex = FakeExecutor(plan, {"5090": 1, "2060": 1}, speed={"5090": 1, "2060": 3})
    c = SweepController(plan, run, ex, weights={"5090": 0.75, "2060": 0.25})
    assert c.run() == "completed"
    frame = run.load()
    assert sorted(frame["combo_id"]) == list(range(4200))
    n5090 = int((frame["device"] == "5090").sum())
    assert abs(n5090 - 3150) <= 100
    st = c.status()
    assert st["per_device"]["5090"] == n5090 and st["fraction"] == 1.0


def test_adaptive_faster_device_does_more(plan_and_store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"fast": 1, "slow": 1}, speed={"fast": 1, "slow": 4})
    c = SweepController(plan, run, ex, schedule="adaptive", inflight=1)
    c.run()
    counts = run.load()["device"].value_counts()
    assert counts["fast"] > 2 * counts["slow"]


def test_killed_worker_task_is_retried_exactly_once(plan_and_store, store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"cpu": 2})
    ex.kill_on_submit = {3, 17}
    c = SweepController(plan, run, ex, weights={"cpu": 1.0})
    assert c.run() == "completed"
    frame = run.load()
    assert sorted(frame["combo_id"]) == list(range(plan.total))
    assert c.progress.retries >= 2  # plus any other task in flight on a killed worker
    clean = run_local(
        plan.spec, data_root=store.data_root, backend="cpu", memory_budget_gb=2, resume=False
    )  # same run folder, recomputed
    cols = [c for c in frame.columns if c != "device"]
    pd.testing.assert_frame_equal(frame[cols], clean.to_frame()[cols])


def test_device_without_workers_is_rehomed(plan_and_store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"5090": 1, "2060": 1})
    c = SweepController(plan, run, ex, weights={"5090": 0.75, "2060": 0.25})
    c.step()
    ex.live = {k: v for k, v in ex.live.items() if v.device != "2060"}  # the node went away
    assert c.run() == "completed"
    assert sorted(run.load()["combo_id"]) == list(range(plan.total))


def test_pause_resume_cancel(plan_and_store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"cpu": 1})
    c = SweepController(plan, run, ex, inflight=1)
    c.step()
    c.pause()
    calls = ex.calls
    for _ in range(5):
        c.step()
    assert ex.calls == calls and c.state() == "paused"
    c.resume()
    c.step()
    assert ex.calls > calls
    c.cancel()
    assert c.state() == "cancelled"
    assert not c.step()
    done = len(run.done_tasks())
    assert 0 < done < len(plan.tasks)


def test_restarted_controller_skips_done_parts(plan_and_store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"cpu": 1})
    c = SweepController(plan, run, ex, inflight=1)
    for _ in range(10):
        c.step()
    done = run.done_tasks()
    ex2 = FakeExecutor(plan, {"cpu": 1})
    c2 = SweepController(plan, run, ex2, inflight=1)
    assert c2.progress.done_tasks == len(done)
    c2.run()
    assert not {t for _, t in ex2.submitted} & done
    assert sorted(run.load()["combo_id"]) == list(range(plan.total))


def test_no_workers_left_raises(plan_and_store):
    plan, run = plan_and_store
    ex = FakeExecutor(plan, {"cpu": 1})
    ex.restart = False
    ex.kill_on_submit = {0}
    c = SweepController(plan, run, ex, inflight=1)
    with pytest.raises(RuntimeError, match="no live worker"):
        c.run()
