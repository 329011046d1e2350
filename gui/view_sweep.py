"""Sweep view: the spec form (every parameter as default / fixed / list / range; the ``[search]``
method, budget, batch and seed), the count and memory estimate before launch, TOML load/save,
start/pause/resume/cancel, and live progress (a search's trials / budget and best so far)."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dearpygui.dearpygui as dpg
import pandas as pd

from gui import forms, snapshots
from gui.viewmodels import NO_DATA, ProgressModel
from gui.widgets import Shell
from threadx.core.errors import ConfigError, ThreadXError
from threadx.strategy.params import StrategyParams

RED, GREEN, GREY = (255, 110, 110), (120, 220, 120), (160, 160, 160)
_TEXT_FIELDS = ("name", "symbols", "timeframes", "exchange", "start", "end", "rank_by")
_HINTS = {"fixed": "one value", "list": "a, b, c", "range": "start:stop:step", "default": ""}
#: the [search] fields used by a sampling method (disabled for "grid")
_SEARCH_FIELDS = {
    "trials": "budget (trials per dataset)",
    "batch": "batch (trials per kernel call; 0 = auto)",
    "seed": "seed",
}


class SweepView:
    """Form + progress panel. Widget tags start with ``sweep/`` and ``progress/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.catalog: pd.DataFrame | None = None
        self.estimate: forms.FormEstimate | None = None
        self.progress: ProgressModel | None = None
        self._disabled_theme: int | str | None = None

    # -- layout ------------------------------------------------------------------------------
    def build(self) -> None:
        with dpg.tab(label="Sweep", tag="tab/sweep"), dpg.group(horizontal=True):
            with dpg.child_window(width=700, tag="sweep/form"):
                self._build_fields()
                self._build_params()
                self._build_actions()
            with dpg.child_window(tag="progress/panel"):
                self._build_progress()
        self.on_change()

    def _build_fields(self) -> None:
        f = forms.SweepForm()
        dpg.add_text("Data and ranking")
        labels = {
            "name": "run name",
            "symbols": "symbols (comma separated)",
            "timeframes": "timeframes (e.g. 15m, 1h)",
            "exchange": "exchange (optional)",
            "start": "start (UTC, optional)",
            "end": "end (UTC, exclusive, optional)",
            "rank_by": "rank by ('-' = lower is better)",
        }
        for key in _TEXT_FIELDS:
            self._add_field(dpg.add_input_text, key, labels[key], str(getattr(f, key)))
        dpg.add_checkbox(
            label="allow gaps (> 5 % missing minutes)",
            tag="sweep/allow_gaps",
            callback=self.on_change,
        )
        self._add_field(
            dpg.add_combo, "backend", "backend", f.backend, items=("auto", "cpu", "gpu")
        )
        self._add_field(dpg.add_input_int, "top_k", "top K", f.top_k, min_value=1, min_clamped=True)
        self._add_field(
            dpg.add_combo,
            "aggregate",
            "rank across datasets (aggregate)",
            f.aggregate,
            items=("none", "median", "worst"),
        )
        self._add_field(
            dpg.add_input_int,
            "chunk_size",
            "chunk size (0 = auto)",
            f.chunk_size,
            min_value=0,
            min_clamped=True,
        )
        self._build_search(f)

    def _build_search(self, f: forms.SweepForm) -> None:
        """``[search]``: grid (every combination) or a sampler with a budget. The numbers are
        not clamped: the spec's own rules judge them (the error line names the key)."""
        dpg.add_separator()
        dpg.add_text("Search: grid = every combination; random, sobol, tpe, nsga2 = a budget")
        self._add_field(
            dpg.add_combo, "search", "search method", f.search, items=forms.SEARCH_METHODS
        )
        for key, label in _SEARCH_FIELDS.items():
            self._add_field(dpg.add_input_int, key, label, getattr(f, key))
            dpg.bind_item_theme(f"sweep/{key}", self._disabled())
        dpg.add_text("", tag="sweep/search_hint", color=GREY)

    def _disabled(self) -> int | str:
        """Greyed text for a disabled input (the search fields of a grid)."""
        if self._disabled_theme is None:
            with (
                dpg.theme() as theme,
                dpg.theme_component(dpg.mvInputInt, enabled_state=False),
            ):
                dpg.add_theme_color(dpg.mvThemeCol_Text, GREY)
                dpg.add_theme_color(dpg.mvThemeCol_FrameBg, (40, 40, 44))
            self._disabled_theme = theme
        return self._disabled_theme

    def _add_field(
        self, add: Callable[..., Any], key: str, label: str, default: Any, **options: Any
    ) -> None:
        """A field of the form (tag ``sweep/<key>``) made by the DearPyGui ``add`` function;
        ``options``: that widget's own settings."""
        add(
            label=label,
            tag=f"sweep/{key}",
            width=300,
            default_value=default,
            callback=self.on_change,
            **options,
        )

    def _build_params(self) -> None:
        dpg.add_separator()
        dpg.add_text("Strategy parameters (hover a name for its rule)")
        with dpg.table(
            tag="sweep/params",
            header_row=True,
            row_background=True,
            borders_innerH=True,
            policy=dpg.mvTable_SizingStretchProp,
        ):
            for name, w in (("parameter", 0.9), ("mode", 0.6), ("values", 1.2), ("", 0.6)):
                dpg.add_table_column(label=name, init_width_or_weight=w)
            for p in forms.SweepForm().params:
                with dpg.table_row():
                    dpg.add_text(p.name, tag=f"sweep/label/{p.name}")
                    with dpg.tooltip(f"sweep/label/{p.name}"):
                        dpg.add_text(StrategyParams.model_fields[p.name].description or "")
                    dpg.add_combo(
                        forms.MODES,
                        tag=f"sweep/mode/{p.name}",
                        default_value=p.mode,
                        width=-1,
                        callback=self.on_change,
                    )
                    dpg.add_input_text(
                        tag=f"sweep/text/{p.name}",
                        default_value=p.text,
                        width=-1,
                        callback=self.on_change,
                    )
                    dpg.add_text(_HINTS[p.mode], tag=f"sweep/hint/{p.name}", color=GREY)

    def _build_actions(self) -> None:
        dpg.add_separator()
        dpg.add_text("", tag="sweep/estimate", wrap=680)
        dpg.add_text("", tag="sweep/error", color=RED, wrap=680)
        with dpg.group(horizontal=True):
            dpg.add_input_text(tag="sweep/toml_path", hint="spec TOML path", width=420)
            dpg.add_button(label="Browse...", callback=lambda: dpg.show_item("sweep/dialog"))
            dpg.add_button(label="Load TOML", tag="sweep/action/load", callback=self.on_load)
            dpg.add_button(label="Save TOML", tag="sweep/action/save", callback=self.on_save)
        with dpg.file_dialog(
            show=False, tag="sweep/dialog", width=700, height=420, callback=self._on_dialog
        ):
            dpg.add_file_extension(".toml")
            dpg.add_file_extension(".*")
        with dpg.group(horizontal=True):
            dpg.add_button(label="Start sweep", tag="sweep/action/start", callback=self.on_start)
            dpg.add_button(label="Pause", tag="sweep/action/pause", callback=self.on_pause)
            dpg.add_button(label="Resume", tag="sweep/action/resume", callback=self.on_resume)
            dpg.add_button(label="Cancel", tag="sweep/action/cancel", callback=self.on_cancel)
        dpg.add_text("", tag="sweep/file_status", wrap=680)

    def _build_progress(self) -> None:
        dpg.add_text("Progress")
        dpg.add_text(f"run: {NO_DATA}", tag="progress/run")
        dpg.add_text("state: --", tag="progress/state")
        dpg.add_progress_bar(tag="progress/bar", default_value=0.0, width=-1, overlay="0 %")
        dpg.add_text("", tag="progress/done")
        dpg.add_text("", tag="progress/search")
        dpg.add_text("", tag="progress/rate")
        dpg.add_text("", tag="progress/eta")
        dpg.add_separator()
        dpg.add_text("Share per device (combinations done)")
        dpg.add_group(tag="progress/shares")
        dpg.add_separator()
        dpg.add_text("Errors", tag="progress/errors_title")
        dpg.add_text(NO_DATA, tag="progress/errors", color=GREY, wrap=600)

    # -- form <-> widgets --------------------------------------------------------------------
    def read_form(self) -> forms.SweepForm:
        """The form as typed in the widgets."""
        kw: dict[str, Any] = {k: dpg.get_value(f"sweep/{k}") for k in _TEXT_FIELDS}
        params = tuple(
            forms.ParamField(
                p.name, dpg.get_value(f"sweep/mode/{p.name}"), dpg.get_value(f"sweep/text/{p.name}")
            )
            for p in forms.SweepForm().params
        )
        return forms.SweepForm(
            **kw,
            allow_gaps=bool(dpg.get_value("sweep/allow_gaps")),
            backend=dpg.get_value("sweep/backend"),
            top_k=int(dpg.get_value("sweep/top_k")),
            aggregate=dpg.get_value("sweep/aggregate") or "none",
            chunk_size=int(dpg.get_value("sweep/chunk_size")),
            search=dpg.get_value("sweep/search") or "grid",
            **{k: int(dpg.get_value(f"sweep/{k}")) for k in _SEARCH_FIELDS},
            params=params,
        )

    def write_form(self, form: forms.SweepForm) -> None:
        """Show ``form`` in the widgets (e.g. a loaded TOML)."""
        for k in _TEXT_FIELDS:
            dpg.set_value(f"sweep/{k}", str(getattr(form, k)))
        dpg.set_value("sweep/allow_gaps", form.allow_gaps)
        dpg.set_value("sweep/backend", form.backend)
        dpg.set_value("sweep/top_k", form.top_k)
        dpg.set_value("sweep/aggregate", form.aggregate)
        dpg.set_value("sweep/chunk_size", form.chunk_size)
        dpg.set_value("sweep/search", form.search)
        for key in _SEARCH_FIELDS:
            dpg.set_value(f"sweep/{key}", getattr(form, key))
        for p in form.params:
            dpg.set_value(f"sweep/mode/{p.name}", p.mode)
            dpg.set_value(f"sweep/text/{p.name}", p.text)
        self.on_change()

    def set_param(self, name: str, mode: str, text: str) -> None:
        """Set one parameter row (what typing into its widgets does) and refresh the estimate."""
        dpg.set_value(f"sweep/mode/{name}", mode)
        dpg.set_value(f"sweep/text/{name}", text)
        self.on_change()

    # -- callbacks ---------------------------------------------------------------------------
    def on_change(self, *_: Any) -> None:
        """Re-validate the form and update the count / memory estimate (pure, main thread)."""
        for p in forms.SweepForm().params:
            dpg.set_value(
                f"sweep/hint/{p.name}", _HINTS.get(dpg.get_value(f"sweep/mode/{p.name}"), "")
            )
        form = self.read_form()
        sampling = form.search != "grid"
        for key in _SEARCH_FIELDS:
            dpg.configure_item(f"sweep/{key}", enabled=sampling)
        dpg.set_value(
            "sweep/search_hint",
            f"{form.search}: the budget is evaluated in batches (the grid is its space)"
            if sampling
            else "grid: every combination is evaluated (budget, batch and seed unused)",
        )
        self.estimate = forms.estimate_form(form, self.catalog, self.app.cfg.sweep.memory_budget_gb)
        dpg.set_value("sweep/estimate", self.estimate.text)
        dpg.configure_item("sweep/estimate", color=GREEN if self.estimate.ok else GREY)
        dpg.set_value("sweep/error", self.estimate.error)

    def on_start(self, *_: Any) -> None:
        self.on_change()
        if self.estimate is None or not self.estimate.ok:
            self.app.message(
                "error", f"cannot start: {self.estimate.error if self.estimate else ''}"
            )
            return
        spec = forms.form_to_spec_dict(self.read_form())
        self.app.send("submit", spec=spec)
        self.app.message("info", f"starting {self.estimate.count:,} {self.estimate.noun}...")

    def on_pause(self, *_: Any) -> None:
        self.app.send("pause")

    def on_resume(self, *_: Any) -> None:
        self.app.send("resume")

    def on_cancel(self, *_: Any) -> None:
        self.app.send("cancel")

    def on_load(self, *_: Any) -> None:
        from threadx.sweep.spec import load_spec

        path = dpg.get_value("sweep/toml_path").strip()
        try:
            self.write_form(forms.spec_to_form(load_spec(path)))
        except (ConfigError, ThreadXError, OSError) as err:
            self._file_status(f"load failed: {err}", RED)
            return
        self._file_status(f"loaded {path}", GREEN)

    def on_save(self, *_: Any) -> None:
        from threadx.core.io import atomic_write_text
        from threadx.sweep.spec import spec_to_toml

        path = dpg.get_value("sweep/toml_path").strip()
        try:
            if not path:
                raise ConfigError("give a file name ending in .toml")
            text = spec_to_toml(forms.form_to_spec(self.read_form()))
            atomic_write_text(Path(path), text)
        except (ConfigError, ThreadXError, OSError) as err:
            self._file_status(f"save failed: {err}", RED)
            return
        self._file_status(f"saved {path}", GREEN)

    def _on_dialog(self, _sender: Any, app_data: dict[str, Any]) -> None:
        dpg.set_value("sweep/toml_path", app_data.get("file_path_name", ""))

    def _file_status(self, text: str, color: tuple[int, int, int]) -> None:
        dpg.set_value("sweep/file_status", text)
        dpg.configure_item("sweep/file_status", color=color)
        self.app.message("error" if color == RED else "info", text)

    # -- snapshots ---------------------------------------------------------------------------
    def apply_catalog(self, snap: snapshots.CatalogSnap) -> None:
        self.catalog = snap.frame()
        self.on_change()

    def apply_spec(self, snap: snapshots.SpecSnap) -> None:
        from threadx.sweep.spec import spec_from_dict

        self.write_form(forms.spec_to_form(spec_from_dict(tomllib.loads(snap.toml), snap.run_id)))
        self._file_status(f"form loaded from run {snap.run_id}", GREEN)

    def apply_progress(self, snap: snapshots.ProgressSnap) -> None:
        pv = self.progress = snap.model
        dpg.set_value("progress/run", f"run: {pv.run_id}")
        dpg.set_value("progress/state", f"state: {pv.state}")
        dpg.set_value("progress/bar", pv.fraction)
        dpg.configure_item("progress/bar", overlay=f"{pv.fraction:.1%}")
        dpg.set_value("progress/done", pv.done_text)
        dpg.set_value("progress/search", pv.search_text)
        dpg.set_value("progress/rate", pv.rate_text)
        dpg.set_value("progress/eta", pv.eta_text)
        dpg.delete_item("progress/shares", children_only=True)
        if not pv.shares:
            dpg.add_text(NO_DATA, parent="progress/shares", color=GREY)
        for device, combos, share in pv.shares:
            with dpg.group(horizontal=True, parent="progress/shares"):
                dpg.add_text(f"{device:>6}  {combos:>9,}")
                dpg.add_progress_bar(default_value=share, overlay=f"{share:.1%}", width=-1)
        errors = "\n".join(pv.errors) if pv.errors else "none"
        dpg.set_value(
            "progress/errors", errors + (f"\n{pv.retries} retried task(s)" if pv.retries else "")
        )
        dpg.configure_item("progress/errors", color=RED if pv.errors else GREY)
