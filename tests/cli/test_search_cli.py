"""``threadx sweep space`` and ``threadx sweep run --local`` with a ``[search]`` spec."""

from __future__ import annotations

from threadx.cli import main

SPEC = """
name = "cli-search"
[data]
symbols = ["BTCUSDT"]
timeframes = ["1h", "4h"]
[grid]
bb_period = { start = 10, stop = 50, step = 5 }
bb_std = { start = 1.0, stop = 3.0, step = 0.1 }
direction = ["both", "long", "short"]
[search]
method = "tpe"
trials = 60
batch = 20
seed = 2
[rank]
by = ["sharpe"]
top_k = 3
"""


def tx(capsys, root, *args):
    rc = main(["--data-root", str(root), *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_sweep_space_prints_the_grid_and_the_budget_share(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    rc, out, err = tx(capsys, tmp_path, "sweep", "space", str(spec))
    assert rc == 0, err
    assert "bb_std: float 1.0..3.0 step 0.1 (21)" in out
    assert "direction: categorical [both, long, short] (3)" in out
    assert "grid: 567 combinations per dataset" in out
    assert "BTCUSDT 1h: tpe budget 60 trials in batches of 20" in out and "(10.58%)" in out
    assert "BTCUSDT 4h: tpe budget 60" in out
    spec.write_text(SPEC.replace("trials = 60", "trials = 600"))
    rc, _, err = tx(capsys, tmp_path, "sweep", "space", str(spec))
    assert rc == 2 and "search.trials" in err and "exceeds the 567" in err
    assert len(err.strip().splitlines()) == 1


def test_sweep_run_local_search_prints_trials_and_best(capsys, tmp_path):
    from threadx.data.store import OHLCVStore
    from threadx.sample import ensure_sample

    ensure_sample(OHLCVStore(tmp_path))
    spec = tmp_path / "s.toml"
    spec.write_text(SPEC)
    rc, out, err = tx(capsys, tmp_path, "sweep", "run", "--local", str(spec))
    assert rc == 0, err
    assert "search: tpe (seed 2), 60 trials per dataset in batches of 20" in out
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert "120/120 trials (tpe)" in last and "best sharpe " in last
    assert "trials (tpe) of a 567-combination grid" in out
    assert "top 3 of cli-search-" in out and "overfitting:" in out
    rc, out2, _ = tx(capsys, tmp_path, "sweep", "run", "--local", str(spec))
    assert rc == 0 and "already complete" in out2
