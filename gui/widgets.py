"""Small DearPyGui helpers shared by the views (main thread only): tables and series from models,
:class:`TableBox` (a table with its row filter and Export button), the combo that chooses one item
of a :class:`~gui.viewmodels.Detailed` model, and :class:`Shell`, what a view may use of the app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import dearpygui.dearpygui as dpg

from gui.exports import TABLE_SUFFIXES, write_table
from gui.view_exports import ask_save, export_table
from gui.viewmodels import NO_DATA, Detailed, Keyed, TableModel, filter_table

Cells = list[list[int | str]]
D = TypeVar("D", bound=Keyed)


class Shell(Protocol):
    """What a view uses of the app (:class:`gui.app.ThreadXApp`): send a command to the backend,
    show a message, switch tabs; views never import the app (it imports them)."""

    cfg: Any
    plot_columns: int
    drilldown: Any  # the drill-down view (the Results view announces a pending drill-down)

    def send(self, command: str, **kwargs: Any) -> None: ...

    def message(self, level: str, text: str) -> None: ...

    def show_tab(self, name: str) -> None: ...

    def active_tab(self) -> str: ...


def add_table(
    tag: str,
    height: int,
    columns: Sequence[str] = ("",),
    *,
    fixed: bool = False,
    scroll_x: bool = False,
    resizable: bool = False,
    freeze: bool = False,
    borders: bool = True,
    **options: Any,
) -> None:
    """A vertically scrolling table with a row background and empty ``columns`` (filled later by
    :class:`TableBox` / :func:`set_rows`). ``fixed``: fixed-fit column widths (else stretched);
    ``freeze``: the header row stays in view; ``borders``: inner vertical borders; ``options``
    go to ``dpg.table`` as they are."""
    with dpg.table(
        tag=tag,
        height=height,
        scrollY=True,
        scrollX=scroll_x,
        freeze_rows=1 if freeze else 0,
        resizable=resizable,
        row_background=True,
        borders_innerV=borders,
        policy=dpg.mvTable_SizingFixedFit if fixed else dpg.mvTable_SizingStretchProp,
        **options,
    ):
        for name in columns:
            dpg.add_table_column(label=name, user_data=name)


def set_columns(table: int | str, columns: Sequence[str]) -> None:
    """Replace every column and row of ``table`` with empty ``columns``."""
    dpg.delete_item(table, children_only=True)
    for name in columns:
        dpg.add_table_column(label=name, parent=table, user_data=name)


def table_columns(table: int | str) -> list[str]:
    """Column names of ``table`` (the ``user_data`` given by :func:`set_columns`)."""
    return [dpg.get_item_user_data(c) for c in dpg.get_item_children(table, 0) or []]


def set_rows(
    table: int | str,
    model: TableModel,
    *,
    on_select: Callable[..., None] | None = None,
    limit: int | None = None,
    empty: str = NO_DATA,
) -> Cells:
    """Rows of ``model`` into ``table`` (columns as they are). With ``on_select`` the first cell
    is a selectable spanning the row whose ``user_data`` is the row key. Returns the cell ids."""
    dpg.delete_item(table, children_only=True, slot=1)
    cells: Cells = []
    if model.empty:
        with dpg.table_row(parent=table):
            dpg.add_text(empty)
        return cells
    text = model.text
    shown = text if limit is None else text[:limit]
    for key, row in zip(model.keys, shown, strict=False):
        with dpg.table_row(parent=table):
            ids: list[int | str] = []
            for i, value in enumerate(row):
                if i == 0 and on_select is not None:
                    ids.append(
                        dpg.add_selectable(
                            label=value, span_columns=True, user_data=key, callback=on_select
                        )
                    )
                else:
                    ids.append(dpg.add_text(value))
            cells.append(ids)
    return cells


class TableBox:
    """A table (:func:`add_table`) under a text filter and an "Export..." button.

    :meth:`fill` / :meth:`set_rows` take the whole model; the table shows the rows whose text
    contains the filter (:func:`gui.viewmodels.filter_table`), and Export writes those rows (as
    shown: filtered, in their order) from the model to CSV, Parquet or Excel. ``cells`` are the
    shown cells (rebuilt when the filter changes)."""

    def __init__(self, tag: str, height: int, columns: Sequence[str] = ("",), **options: Any):
        self.tag = tag
        self.model = TableModel(tuple(columns), (), ())
        self.shown = self.model
        self.cells: Cells = []
        self._fill: dict[str, Any] = {}
        with dpg.group(horizontal=True):
            dpg.add_input_text(
                tag=f"{tag}/filter", hint="filter rows", width=200, callback=self.on_filter
            )
            dpg.add_button(label="Export...", tag=f"{tag}/export", callback=self.on_export)
            dpg.add_text("", tag=f"{tag}/count")
        add_table(tag, height, columns, **options)

    @property
    def name(self) -> str:
        return self.tag.replace("/", "-")

    def fill(self, model: TableModel, **kwargs: Any) -> Cells:
        """Columns (when they changed) and the rows of ``model`` that pass the filter."""
        if table_columns(self.tag) != list(model.columns) or not model.columns:
            set_columns(self.tag, model.columns or ("",))
        return self.set_rows(model, **kwargs)

    def set_rows(self, model: TableModel, **kwargs: Any) -> Cells:
        """The rows of ``model`` that pass the filter (columns as they are); ``kwargs`` go to
        :func:`set_rows` (now and when the filter changes)."""
        self.model, self._fill = model, kwargs
        self.shown = filter_table(model, self.filter)
        self.cells = set_rows(self.tag, self.shown, **kwargs)
        n, total = len(self.shown.rows), len(model.rows)
        dpg.set_value(f"{self.tag}/count", f"{n} of {total} rows" if n < total else "")
        return self.cells

    @property
    def filter(self) -> str:
        return str(dpg.get_value(f"{self.tag}/filter") or "")

    def set_filter(self, text: str) -> Cells:
        dpg.set_value(f"{self.tag}/filter", text)
        return self.set_rows(self.model, **self._fill)

    def on_filter(self, *_: Any) -> None:
        self.set_rows(self.model, **self._fill)

    def on_export(self, *_: Any) -> None:
        ask_save(self.name, TABLE_SUFFIXES, self.export)

    def export(self, path: Path | str) -> Path | None:
        """Write the shown rows to ``path`` (its suffix says the format)."""
        shown = self.shown
        return export_table(self.name, lambda p: write_table(shown, p), Path(path))


#: the options of a wide scrolling table: fixed column widths, horizontal scrolling, resizable
#: columns and the first column frozen (results, top-K, folds)
WIDE: dict[str, bool] = {"fixed": True, "scroll_x": True, "resizable": True, "freeze": True}


def cells_of(box: TableBox | None) -> Cells:
    """The shown cells of a table box not built yet (``None``) or built."""
    return box.cells if box is not None else []


def texts_of(box: TableBox | None) -> list[list[str]]:
    """The shown rows of a table box as the texts on screen (for tests and exports)."""
    return [[cell_text(c) for c in row] for row in cells_of(box)]


def cell_text(cell: int | str) -> str:
    """The text a table cell shows (a text item's value or a selectable's label)."""
    if dpg.get_item_type(cell).endswith("mvSelectable"):
        return str(dpg.get_item_label(cell))
    return str(dpg.get_value(cell))


def set_series(series: int | str, x: Sequence[float], y: Sequence[float]) -> None:
    """New data for a line/scatter/shade series."""
    dpg.set_value(series, [list(x), list(y)])


def fit(*axes: int | str) -> None:
    for axis in axes:
        dpg.fit_axis_data(axis)


def offer(combo: int | str, model: Detailed[D], shown: D | None, **config: Any) -> str | None:
    """Offer the keys of ``model`` in ``combo``; the key of the ``shown`` item when the model
    still has it (else None: show the first)."""
    keys = model.keys
    dpg.configure_item(combo, items=keys, **config)
    return shown.key if shown is not None and shown.key in keys else None


def choose(combo: int | str, model: Detailed[D] | None, key: str | None) -> D | None:
    """The item ``key`` of ``model`` (else its first; None without one), named in ``combo``."""
    item = model.pick(key) if model is not None else None
    dpg.set_value(combo, item.key if item else "")
    return item
