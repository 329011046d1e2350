"""Atomic, durable file writes for every file ThreadX owns.

Protocol (GUIDE.md): temp file in the same folder -> write -> fsync -> reopen and validate ->
``os.replace`` -> fsync the folder. A crash at any point leaves either the old file or the new one,
never a torn file; stray temp files from a crash are removed by :func:`remove_stray_temps`.

``durable=False`` skips the two fsyncs (about 1.5 ms each here) for *derived* files that are
rebuilt when missing or unreadable (a run's ``report.json``): the write is still atomic against a
crash of the process; only a power loss right after it can leave the file empty, and its reader
then recomputes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from threadx.core.jsonio import dumps

TMP_PREFIX = ".tmp-"


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temp_path_for(path: Path) -> Path:
    return path.parent / f"{TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}"


def atomic_write(
    path: Path,
    write: Callable[[Path], None],
    validate: Callable[[Path], None] | None = None,
    *,
    durable: bool = True,
    sync_folder: bool = True,
) -> Path:
    """Write ``path`` atomically: ``write(tmp)`` fills a temp file, ``validate(tmp)`` checks it.
    ``durable``: fsync the file and its folder (see the module docstring). ``sync_folder=False``
    leaves the folder's fsync to the caller (:func:`fsync_folder` once after many files): a power
    loss may then lose the new name, never leave a torn file under it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path_for(path)
    try:
        write(tmp)
        if durable:
            with open(tmp, "rb+") as fh:
                fh.flush()
                os.fsync(fh.fileno())
        if validate is not None:
            validate(tmp)
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if durable and sync_folder:
        _fsync_dir(path.parent)
    return path


def fsync_folder(folder: Path) -> None:
    """Make the names created in ``folder`` durable (after writes with ``sync_folder=False``)."""
    _fsync_dir(Path(folder))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_text(path: Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(
    path: Path, obj: Any, *, durable: bool = True, sort_keys: bool = True
) -> Path:
    """``obj`` as indented JSON under the one JSON policy (:mod:`threadx.core.jsonio`: ±inf as
    ``"inf"``/``"-inf"``, NaN as ``null``, numpy scalars as Python numbers, other objects as
    ``str``); ``sort_keys=False`` keeps the mapping's order."""
    text = dumps(obj, sort_keys=sort_keys)

    def _validate(tmp: Path) -> None:
        json.loads(tmp.read_text(encoding="utf-8"))

    return atomic_write(
        path, lambda tmp: tmp.write_text(text, encoding="utf-8"), _validate, durable=durable
    )


def remove_stray_temps(folder: Path) -> list[Path]:
    """Delete temp files left by a crashed writer anywhere under ``folder``; return them."""
    folder = Path(folder)
    if not folder.exists():
        return []
    stray = [p for p in folder.rglob(f"{TMP_PREFIX}*") if p.is_file()]
    for p in stray:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    return stray
