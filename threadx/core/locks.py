"""Cross-process lock files: the one home for "only one writer at a time".

``filelock`` picks the platform's lock (``fcntl.flock`` on POSIX, ``msvcrt.locking`` on Windows;
a soft lock file where neither exists), so ThreadX hand-writes no ``fcntl``. A lock is held by an
open file, so it is released when its holder dies, and it blocks other threads of the same process
as well as other processes (each call opens its own lock).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock ``path`` (its folder made if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path), thread_local=False):
        yield
