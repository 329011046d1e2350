"""What the search tests share: the 1,134-point space on the bundled 1h sample, a spec dict over
it, a module-scoped data root and a finished walk-forward run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from threadx.data.store import OHLCVStore
from threadx.sample import ensure_sample
from threadx.sweep import run_local, spec_from_dict
from threadx.sweep.plan import load_datasets, plan_sweep
from threadx.sweep.walkforward import load_walk_forward

GRID = {
    "bb_period": {"start": 10, "stop": 50, "step": 5},
    "bb_std": {"start": 1.0, "stop": 3.0, "step": 0.1},
    "atr_multiplier": [1.0, 2.0],
    "direction": ["both", "long", "short"],
}  # 9 x 21 x 2 x 3 = 1,134


def search_dict(name: str, search: dict[str, Any], **over: Any) -> dict[str, Any]:
    """A search over :data:`GRID` on BTCUSDT 1h, ranked by (sharpe, -max_drawdown)."""
    d = {
        "name": name,
        "data": {"symbols": ["BTCUSDT"], "timeframes": ["1h"]},
        "grid": GRID,
        "rank": {"by": ["sharpe", "-max_drawdown"], "top_k": 5},
        "search": search,
    }
    d.update(over)
    return d


def sample_root(tmp_path_factory: Any, name: str) -> Path:
    """A data root holding the bundled sample (for a module-scoped fixture)."""
    root = tmp_path_factory.mktemp(name) / "data"
    ensure_sample(OHLCVStore(root))
    return root


def walk_forward_run(root: Path, spec_dict: dict[str, Any]) -> tuple[Any, Any, Any]:
    """A walk-forward spec run to the end: its result, plan and walk-forward report."""
    spec = spec_from_dict(spec_dict)
    res = run_local(spec, data_root=root, backend="cpu", memory_budget_gb=2)
    plan = plan_sweep(spec, load_datasets(spec, OHLCVStore(root)))
    return res, plan, load_walk_forward(res.run_dir)
