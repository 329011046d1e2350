"""Small DearPyGui helpers shared by the views (main thread only): tables and series from models,
and :class:`Shell`, what a view may use of the app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import dearpygui.dearpygui as dpg

from gui.viewmodels import NO_DATA, TableModel

Cells = list[list[int | str]]


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


def fill_table(table: int | str, model: TableModel, **kwargs: Any) -> Cells:
    """Columns (when they changed) and rows of ``model``."""
    if table_columns(table) != list(model.columns) or not model.columns:
        set_columns(table, model.columns or ("",))
    return set_rows(table, model, **kwargs)


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
