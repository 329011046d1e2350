"""Sweeps, along the data flow of a run:

* contract: :mod:`~threadx.sweep.spec` (what to sweep), :mod:`~threadx.sweep.dataset` (the bars);
* planning: :mod:`~threadx.sweep.plan` (tasks, run id, memory check), :mod:`~threadx.sweep.folds`;
* execution: :mod:`~threadx.sweep.execute` (a dataset's grid prepared once, tasks -> Arrow parts),
  :mod:`~threadx.sweep.controller` (the steppable scheduler);
* run: :mod:`~threadx.sweep.run` (the one lifecycle: store, controller, finish; ``run_local``),
  :mod:`~threadx.sweep.service` (the same lifecycle behind the Ray driver), the store and ranking in
  :mod:`~threadx.sweep.results`;
* analysis: :mod:`~threadx.sweep.overfit`, :mod:`~threadx.sweep.walkforward`,
  :mod:`~threadx.sweep.drilldown`, :mod:`~threadx.sweep.progress`.
"""

from threadx.sweep.plan import plan_sweep
from threadx.sweep.run import SweepResult, open_run, run_local
from threadx.sweep.spec import SweepSpec, load_spec, spec_from_dict

__all__ = [
    "SweepResult",
    "SweepSpec",
    "load_spec",
    "open_run",
    "plan_sweep",
    "run_local",
    "spec_from_dict",
]
