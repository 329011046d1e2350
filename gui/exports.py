"""Exports of the desktop client, pure (no DearPyGui, no Ray): a table model to CSV, Parquet or
Excel, a cropped frame buffer to PNG.

Tables are written from the model's raw values (:attr:`gui.viewmodels.TableModel.rows`: numbers
stay numbers), never read back from widgets; charts from the RGBA pixels of the window's frame
buffer inside the chart's rectangle (:mod:`gui.view_exports` takes them). Every file is written
atomically (:func:`threadx.core.io.atomic_write`: a temp file, checked, then renamed), so a
failed export leaves the old file or none, never a torn one.
"""

from __future__ import annotations

import struct
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from gui.viewmodels import TableModel
from threadx.core.io import atomic_write

#: The suffixes a table (a chart) is written under; the format follows the suffix.
TABLE_SUFFIXES = (".csv", ".parquet", ".xlsx")
CHART_SUFFIXES = (".png",)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ExportError(ValueError):
    """An export that cannot be written as asked (unknown format, nothing to draw)."""


def export_name(name: str, suffix: str, now: float | None = None) -> str:
    """A default file name: ``results-table-20240131-154500.csv``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{name.replace('/', '-')}-{stamp}{suffix}"


# ------------------------------------------------------------------------------------ tables


def table_frame(model: TableModel) -> pd.DataFrame:
    """The model's columns and raw values as a frame (a column of mixed kinds becomes text,
    so every format can store it; missing values stay missing)."""
    frame = pd.DataFrame(list(model.rows), columns=list(model.columns), dtype=object)
    for col in frame.columns:
        kinds = {type(v) for v in frame[col] if v is not None}
        if kinds == {int}:
            frame[col] = frame[col].astype("Int64")  # nullable: a missing cell stays missing
        elif kinds == {float} or kinds == {int, float}:
            frame[col] = frame[col].astype("float64")
        elif kinds == {bool}:
            frame[col] = frame[col].astype("boolean")
        elif len(kinds) > 1:
            frame[col] = [None if v is None else str(v) for v in frame[col]]
    return frame


def _write_csv(frame: pd.DataFrame, tmp: Path) -> None:
    frame.to_csv(tmp, index=False)


def _write_parquet(frame: pd.DataFrame, tmp: Path) -> None:
    frame.to_parquet(tmp, index=False)


def _write_excel(frame: pd.DataFrame, tmp: Path) -> None:
    # the temp file has no .xlsx suffix: the engine is named
    frame.to_excel(tmp, index=False, engine="openpyxl", sheet_name="ThreadX")


def _rows_csv(tmp: Path) -> int:
    return len(pd.read_csv(tmp))


def _rows_parquet(tmp: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(tmp).num_rows


def _rows_excel(tmp: Path) -> int:
    return len(pd.read_excel(tmp, engine="openpyxl"))


_TABLE_IO: dict[str, tuple[Callable[[pd.DataFrame, Path], None], Callable[[Path], int]]] = {
    ".csv": (_write_csv, _rows_csv),
    ".parquet": (_write_parquet, _rows_parquet),
    ".xlsx": (_write_excel, _rows_excel),
}


def write_table(model: TableModel, path: Path | str) -> Path:
    """Write ``model`` to ``path`` in the format of its suffix (:data:`TABLE_SUFFIXES`),
    atomically; the temp file is read back (its row count) before the rename."""
    path = Path(path)
    io = _TABLE_IO.get(path.suffix.lower())
    if io is None:
        raise ExportError(f"{path.name}: a table is written as {', '.join(TABLE_SUFFIXES)}")
    write, count = io
    frame = table_frame(model)

    def validate(tmp: Path) -> None:
        if count(tmp) != len(frame):
            raise ExportError(f"{path.name}: the written file does not hold {len(frame)} rows")

    return atomic_write(path, lambda tmp: write(frame, tmp), validate)


# ------------------------------------------------------------------------------------ charts


def crop_rgba(
    pixels: Sequence[float] | np.ndarray,
    width: int,
    height: int,
    rect_min: Sequence[float],
    rect_size: Sequence[float],
) -> np.ndarray:
    """The ``rect`` (top-left ``rect_min``, ``rect_size``, in pixels) of a top-down RGBA frame
    buffer of floats in [0, 1], as ``uint8`` of shape (rows, columns, 4), clipped to the frame."""
    frame = np.asarray(pixels, dtype=np.float32).reshape(height, width, 4)
    x0, y0 = (max(0, int(round(v))) for v in rect_min[:2])
    x1 = min(width, x0 + int(round(rect_size[0])))
    y1 = min(height, y0 + int(round(rect_size[1])))
    if x1 <= x0 or y1 <= y0:
        raise ExportError("the chart has no visible pixels (is its tab shown?)")
    part = frame[y0:y1, x0:x1]
    return np.clip(np.rint(part * 255.0), 0, 255).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG of ``rgba`` (rows, columns, 4) ``uint8``, top row first."""
    rows, cols = rgba.shape[:2]
    raw = np.zeros((rows, 1 + 4 * cols), dtype=np.uint8)  # filter byte 0 (none) per row
    raw[:, 1:] = rgba.reshape(rows, 4 * cols)
    header = struct.pack(">IIBBBBB", cols, rows, 8, 6, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 6))
        + _chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG's header; ExportError when it is not one."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ExportError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def write_png(rgba: np.ndarray, path: Path | str) -> Path:
    """Write ``rgba`` as a PNG at ``path`` atomically (its header is read back first)."""
    path = Path(path)
    if path.suffix.lower() not in CHART_SUFFIXES:
        raise ExportError(f"{path.name}: a chart is written as .png")
    data = png_bytes(rgba)
    want = (rgba.shape[1], rgba.shape[0])

    def validate(tmp: Path) -> None:
        if png_size(tmp.read_bytes()) != want:
            raise ExportError(f"{path.name}: the written PNG is not {want[0]}x{want[1]}")

    return atomic_write(path, lambda tmp: tmp.write_bytes(data), validate)
