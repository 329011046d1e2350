"""The narrow interface between the GUI backend's request loop and its area controllers.

A controller (:mod:`gui.data_controller`, :mod:`gui.run_controller`,
:mod:`gui.cluster_controller`) sees the backend only through :class:`Requests`: ask the typed
client for something without blocking (its ``*_async`` object refs; ``on_done(*values)`` runs on
the backend thread once all are in), post a snapshot for the render loop, say something in the
status bar, schedule a timer. It never sees the whole app, and nothing in ``gui/`` imports Ray.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from actors.client import ThreadXClient
    from gui.snapshots import Snapshot


@dataclass(frozen=True)
class Requests:
    """What an area controller may do with the backend."""

    #: ``ask(key, refs, on_done, what)``: False when ``key`` is already in flight
    ask: Callable[[str, list[Any], Callable[..., None], str], bool]
    forget: Callable[[str], None]  # drop the request in flight under a key (its answer is stale)
    unique: Callable[[str], str]  # a fresh key with that prefix
    post: Callable[[Snapshot], None]
    say: Callable[[str, str], None]  # (level, text) in the status bar and the log
    client: Callable[[], ThreadXClient]  # the typed client (set once connected)
    due: dict[str, float]  # timer key -> next time (monotonic); 0.0 = now


def one_line(err: BaseException) -> str:
    """The last line of an error's text (a remote traceback ends with the error itself)."""
    text = str(err).strip().splitlines()
    return text[-1] if text else type(err).__name__
