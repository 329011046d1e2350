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


def test_sweep_space_prints_the_halving_stages_and_their_cost(capsys, tmp_path):
    spec = tmp_path / "s.toml"
    halved = SPEC.replace("seed = 2\n", "seed = 2\nhalving = { start = 0.25, keep = 0.5 }\n")
    spec.write_text(halved)
    rc, out, err = tx(capsys, tmp_path, "sweep", "space", str(spec))
    assert rc == 0, err
    assert "halving: 3 stages (start 0.25, keep 0.5)" in out and "by sharpe" in out
    # batches of 20: 20 -> 10 -> 5 trials, three batches per dataset
    assert "stage 0: 60 trials on the first 0.25 of the bars" in out
    assert "stage 1: 30 trials on the first 0.5 of the bars" in out
    assert "stage 2: 15 trials on all the bars" in out
    # (60 x 0.25 + 30 x 0.5 + 15) / 60 of the bar-steps of every trial on all the bars
    assert "cost: 0.75 of the bar-steps of all 60 trials on all the bars (1.33x fewer)" in out
    spec.write_text(halved.replace("keep = 0.5", "keep = 1.5"))
    rc, _, err = tx(capsys, tmp_path, "sweep", "space", str(spec))
    assert rc == 2 and "search.halving.keep" in err and "in (0, 1), got 1.5" in err
    assert len(err.strip().splitlines()) == 1
    from threadx.cli.search import search_preflight_line
    from threadx.sweep.spec import load_spec

    spec.write_text(halved)
    line = search_preflight_line(load_spec(spec))
    assert line.endswith(
        "; halving in 3 stages (start 0.25, keep 0.5): 0.75 of the full-length bar-steps"
    )
