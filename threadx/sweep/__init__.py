"""Sweeps: spec -> combinations -> tasks -> results store, ranking and Pareto front."""

from threadx.sweep.runner import SweepResult, open_run, plan_sweep, run_local
from threadx.sweep.spec import SweepSpec, load_spec, spec_from_dict

__all__ = ["SweepResult", "SweepSpec", "load_spec", "open_run", "plan_sweep", "run_local",
           "spec_from_dict"]  # fmt: skip
