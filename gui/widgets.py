"""Small DearPyGui helpers shared by the views (main thread only): tables and series from models,
the combo that chooses one item of a :class:`~gui.viewmodels.Detailed` model, and :class:`Shell`,
what a view may use of the app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

import dearpygui.dearpygui as dpg

from gui.viewmodels import NO_DATA, Detailed, Keyed, TableModel

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
    :func:`fill_table` / :func:`set_rows`). ``fixed``: fixed-fit column widths (else stretched);
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
