"""The followed run's side of the GUI backend: submit, pause / resume / cancel, open a run, its
status, results (ranked table, heatmap, Pareto scatter; a search's best-so-far curve), "rank by"
mode, heatmap axes, drill-down, overfitting and walk-forward reports.

The driver shapes the results (:mod:`threadx.sweep.shapes`: the top K in the chosen mode, the
heatmap matrix, the Pareto scatter); this controller asks for them through the typed client's
non-blocking calls (:class:`gui.requests.Requests`) and turns them into view models. Runs on the
backend thread; DearPyGui is never called here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gui import charts, snapshots
from gui import viewmodels as vm
from gui.overfitting import overfit_model
from gui.requests import Requests
from gui.search import search_model
from gui.walkforward import missing_note, walk_forward_model
from threadx.strategy.metrics import METRIC_NAMES
from threadx.sweep.states import TERMINAL

if TYPE_CHECKING:
    from threadx.sweep.shapes import Heatmap, Pareto, Ranking
    from threadx.sweep.spec import SweepSpec
    from threadx.sweep.states import RunStatus

#: Asks for a finished run's overfitting report (it may be written just after the run ends).
REPORT_TRIES = 5
#: Pixel columns the stitched walk-forward equity is decimated to.
WF_COLUMNS = 1200


@dataclass
class FollowedRun:
    """What the backend knows of the followed run (touched only by the backend thread)."""

    run_id: str
    spec: SweepSpec | None = None
    state: str = ""  # a RunState once the first status is in
    done: int = -1
    total: int = 0  # result rows the run will have (walk-forward: grid x folds), from its status
    results_done: int = -2
    final_loaded: bool = False
    shown: bool = False  # results shown at least once (the table and heatmap can be re-asked)
    status_final: bool = False
    report_tries: int = 0
    report_done: bool = False
    wf_tries: int = 0
    wf_done: bool = False


class RunController:
    def __init__(self, requests: Requests, results_interval: float = 1.0) -> None:
        self.r = requests
        self.results_interval = results_interval
        self.run: FollowedRun | None = None
        self.heat: tuple[str, str | None, str | None] = ("sharpe", None, None)
        self.mode: str | None = None  # "rank by"; None: the run's [rank] aggregate

    # -- commands ----------------------------------------------------------------------------
    def follow(self, run_id: str) -> None:
        self.run = FollowedRun(run_id)
        self.mode = None
        self.r.due["status"] = self.r.due["results"] = 0.0
        for key in ("status", "results", "spec", "report", "walk_forward"):
            self.r.forget(key)
        self.r.post(snapshots.OverfitSnap(overfit_model(None, run_id)))

    def submit(self, spec: dict[str, Any]) -> None:
        def started(run_id: str) -> None:
            self.follow(run_id)
            self.r.due["runs"] = 0.0
            self.r.say("info", f"submitted run {run_id}")

        ref = self.r.client().submit_async(spec, None)
        self.r.ask(self.r.unique("submit"), [ref], started, "start sweep")

    def pause(self) -> None:
        self._control("pause")

    def resume(self) -> None:
        self._control("resume")

    def cancel(self) -> None:
        self._control("cancel")

    def _control(self, action: str) -> None:
        run = self.run
        if run is None:
            self.r.say("warning", f"{action}: no run selected")
            return

        def done(ok: bool) -> None:
            self.r.say(
                "info" if ok else "warning",
                f"{action} {run.run_id}: {'ok' if ok else 'not possible now'}",
            )
            run.status_final = False
            run.report_done, run.report_tries = False, 0  # a resumed run gets a new report
            run.wf_done, run.wf_tries = False, 0
            self.r.due["status"] = self.r.due["runs"] = 0.0

        ref = self.r.client().control_async(action, run.run_id)
        self.r.ask(self.r.unique(action), [ref], done, f"{action} {run.run_id}")

    def open_run(self, run_id: str) -> None:
        self.follow(run_id)
        self.r.say("info", f"opened run {run_id}")

    def open_latest(self, run_id: str) -> None:
        """At start: show the latest completed run, unless a run is already followed."""
        if self.run is None:
            self.follow(run_id)
            self.r.say("info", f"opened the latest completed run {run_id}")

    def load_run_spec(self, run_id: str) -> None:
        from threadx.sweep.spec import spec_to_toml

        def got(spec: SweepSpec) -> None:
            self.r.post(snapshots.SpecSnap(run_id, spec_to_toml(spec)))

        ref = self.r.client().spec_async(run_id)
        self.r.ask(self.r.unique("spec"), [ref], got, f"spec of {run_id}")

    def set_rank_mode(self, mode: str) -> None:
        """Rank the results table per dataset (``"none"``) or across datasets (``"median"``,
        ``"worst"``)."""
        self.mode = mode
        run = self.run
        if run is not None and run.spec is not None and run.shown:
            self._ask_ranking(run)

    def set_heatmap(self, metric: str, x: str | None, y: str | None) -> None:
        self.heat = (metric, x, y)
        run = self.run
        if run is not None and run.spec is not None and run.shown:
            self._ask_heatmap(run)

    def drilldown(self, combo_id: int, n_columns: int = 1200) -> None:
        run = self.run
        if run is None:
            self.r.say("warning", "drill-down: no run selected")
            return

        def got(dd: dict[str, Any]) -> None:
            model = charts.drilldown_model(run.run_id, int(combo_id), dd, n_columns)
            self.r.post(snapshots.DrilldownSnap(model))

        self.r.ask(
            self.r.unique("drilldown"),
            [self.r.client().drilldown_async(run.run_id, int(combo_id))],
            got,
            f"drill-down of combination {combo_id}",
        )

    # -- status ------------------------------------------------------------------------------
    def poll_status(self) -> None:
        run = self.run
        if run is None or run.status_final:
            return
        self.r.ask(
            "status",
            [self.r.client().status_async(run.run_id)],
            lambda st: self.on_status(run, st),
            f"status of {run.run_id}",
        )

    def on_status(self, run: FollowedRun, st: RunStatus) -> None:
        if run is not self.run:
            return
        self.r.post(snapshots.ProgressSnap(vm.progress_model(st)))
        was = run.state
        run.state, run.done, run.total = st.state, st.done, st.total
        if st.terminal:
            run.status_final = True
            if was and was not in TERMINAL:
                self.r.say("info", f"run {run.run_id} {run.state}")
            for key in ("results", "runs", "cluster"):
                self.r.due[key] = 0.0

    # -- results -----------------------------------------------------------------------------
    def poll_results(self) -> None:
        run = self.run
        if run is None:
            return
        if run.spec is None:
            self.r.ask(
                "spec",
                [self.r.client().spec_async(run.run_id)],
                lambda spec: self.on_spec(run, spec),
                f"spec of {run.run_id}",
            )
            return
        final = run.state in TERMINAL
        if run.results_done == run.done and (run.final_loaded or not final):
            return
        client = self.r.client()
        mode, (metric, x, y) = self.mode, self.heat
        refs = [
            client.ranking_async(run.run_id, mode),
            client.heatmap_async(run.run_id, metric, x, y),
            client.pareto_async(run.run_id),
        ]
        if run.spec.search.sampling:  # its best-so-far curve and stats as well
            refs.append(client.search_async(run.run_id))
        asked = (run.done, run.state)  # the results are at least as new as this status
        t0 = time.monotonic()

        def got(
            ranking: Ranking, heatmap: Heatmap, pareto: Pareto, search: dict | None = None
        ) -> None:
            self.on_results(run, asked, ranking, heatmap, pareto, search)
            if run is self.run and self.mode != mode:  # changed while asked: ask again
                self._ask_ranking(run)
            if run is self.run and self.heat != (metric, x, y):
                self._ask_heatmap(run)
            # big runs: refresh less often than the results take to shape and fetch
            took = time.monotonic() - t0
            self.r.due["results"] = time.monotonic() + max(self.results_interval, 3 * took)

        self.r.ask("results", refs, got, f"results of {run.run_id}")

    def on_spec(self, run: FollowedRun, spec: SweepSpec) -> None:
        run.spec = spec
        dims = list(spec.grid_values())
        metric, x, y = self.heat
        ranked = spec.rank.by[0].lstrip("+-")
        x = x if x in dims else (dims[0] if dims else None)
        y = y if y in dims and y != x else (dims[1] if len(dims) > 1 else None)
        self.heat = (metric if metric in METRIC_NAMES else ranked, x, y)
        self.r.due["results"] = 0.0
        if run is self.run:  # the Walk-forward panel says what it waits for
            note = missing_note(spec.walk_forward is not None, run.state)
            self.r.post(walk_forward_model(None, run.run_id, note=note))

    def on_results(
        self,
        run: FollowedRun,
        asked: tuple[int, str],
        ranking: Ranking,
        heatmap: Heatmap,
        pareto: Pareto,
        search: dict[str, Any] | None = None,
    ) -> None:
        if run is not self.run:
            return
        run.results_done, state = asked
        run.final_loaded = state in TERMINAL
        run.shown = True
        spec = run.spec
        table = vm.ranking_model(ranking, list(spec.grid_values()))
        self.r.post(
            snapshots.ResultsSnap(
                run_id=run.run_id,
                name=spec.name,
                state=state,
                n_results=ranking.n_results,
                total=run.total or spec.total_rows(),
                table=table.table,
                dims=heatmap.dims,
                metrics=METRIC_NAMES,
                rank_by=tuple(spec.rank.by),
                heatmap=vm.heatmap_model(heatmap),
                pareto=charts.pareto_model(pareto),
                rank_mode=table.mode,
                rank_note=table.note,
                search=search_model(run.run_id, search),
            )
        )
        if run.final_loaded and not run.report_done:
            self.r.due["report"] = 0.0
        if run.final_loaded and not run.wf_done:
            self.r.due["walk_forward"] = 0.0

    def _ask_ranking(self, run: FollowedRun) -> None:
        mode = self.mode

        def got(ranking: Ranking) -> None:
            if run is self.run and mode == self.mode:  # else a newer answer is coming
                model = vm.ranking_model(ranking, list(run.spec.grid_values()))
                self.r.post(snapshots.RankingSnap(run.run_id, model))

        ref = self.r.client().ranking_async(run.run_id, mode)
        self.r.ask(self.r.unique("ranking"), [ref], got, f"ranking of {run.run_id}")

    def _ask_heatmap(self, run: FollowedRun) -> None:
        heat = self.heat

        def got(heatmap: Heatmap) -> None:
            if run is self.run and heat == self.heat:
                self.r.post(snapshots.HeatmapSnap(run.run_id, vm.heatmap_model(heatmap)))

        ref = self.r.client().heatmap_async(run.run_id, *heat)
        self.r.ask(self.r.unique("heatmap"), [ref], got, f"heatmap of {run.run_id}")

    # -- reports -----------------------------------------------------------------------------
    def poll_report(self) -> None:
        run = self.run
        if run is None or run.report_done or not run.final_loaded:
            self.r.due["report"] = float("inf")
            return
        run.report_tries += 1  # counted when asked: a failing request is not retried forever
        ask = self.r.client().report_async
        self._ask_stored(run, "report", "overfitting report", ask, self.on_report)

    def _ask_stored(
        self,
        run: FollowedRun,
        key: str,
        what: str,
        request: Callable[[str], Any],
        on_done: Callable[[FollowedRun, dict[str, Any] | None], None],
    ) -> None:
        """Ask (as request ``key``) for ``what`` the run stores, a report: ``request(run_id)``
        gives the answer to ``on_done``."""
        self.r.ask(
            key, [request(run.run_id)], lambda data: on_done(run, data), f"{what} of {run.run_id}"
        )

    def on_report(self, run: FollowedRun, report: dict[str, Any] | None) -> None:
        if run is not self.run:
            return
        if report is not None or run.report_tries >= REPORT_TRIES:
            run.report_done = True
        if report is not None or run.report_tries == 1:
            self.r.post(snapshots.OverfitSnap(overfit_model(report, run.run_id)))

    def poll_walk_forward(self) -> None:
        run = self.run
        if run is None or run.wf_done or not run.final_loaded or run.wf_tries >= REPORT_TRIES:
            self.r.due["walk_forward"] = float("inf")
            return
        run.wf_tries += 1  # a failing request is retried a few times, not forever
        ask = self.r.client().walk_forward_async
        self._ask_stored(run, "walk_forward", "walk-forward report", ask, self.on_walk_forward)

    def on_walk_forward(self, run: FollowedRun, data: dict[str, Any] | None) -> None:
        if run is not self.run:
            return
        run.wf_done = True
        note = missing_note(run.spec.walk_forward is not None, run.state)
        self.r.post(walk_forward_model(data, run.run_id, note=note, n_columns=WF_COLUMNS))
