"""Cluster view: nodes, GPUs (name, memory, utilisation), worker slots with weights, busy/idle."""

from __future__ import annotations

from typing import Any

import dearpygui.dearpygui as dpg

from gui import snapshots, widgets
from gui.viewmodels import NO_DATA
from gui.widgets import Shell

GREY = (160, 160, 160)


class ClusterView:
    """Widget tags start with ``cluster/``."""

    def __init__(self, app: Shell) -> None:
        self.app = app
        self.snap: snapshots.ClusterSnap | None = None

    def build(self) -> None:
        with dpg.tab(label="Cluster", tag="tab/cluster"):
            with dpg.group(horizontal=True):
                dpg.add_text(f"cluster: {NO_DATA}", tag="cluster/totals")
                dpg.add_button(label="Refresh", callback=self.on_refresh)
            dpg.add_text("Nodes")
            self.nodes = widgets.TableBox("cluster/nodes", 110)
            dpg.add_separator()
            dpg.add_text("GPUs")
            dpg.add_text(NO_DATA, tag="cluster/gpu_note", color=GREY)
            self.gpus = widgets.TableBox("cluster/gpus", 110)
            dpg.add_separator()
            dpg.add_text("Worker slots")
            dpg.add_text(NO_DATA, tag="cluster/weights_note", color=GREY)
            self.workers = widgets.TableBox("cluster/workers", -1)

    def on_refresh(self, *_: Any) -> None:
        self.app.send("refresh", what="cluster")

    def apply(self, snap: snapshots.ClusterSnap) -> None:
        self.snap = snap
        dpg.set_value("cluster/totals", snap.totals_text)
        dpg.set_value("cluster/gpu_note", snap.gpu_note)
        dpg.set_value("cluster/weights_note", snap.weights_note)
        self.nodes.fill(snap.nodes)
        self.gpus.fill(snap.gpus, empty="no GPU")
        self.workers.fill(snap.workers, empty="no worker slots yet")
