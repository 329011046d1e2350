"""Typed run states, run status and cluster description: the one shape of each (no Ray here).

* :class:`RunState`: the state of a run (``created`` ... ``interrupted``); a ``str`` enum
  (:class:`enum.StrEnum`), so a member equals, hashes and formats as its value
  (``RunState.COMPLETED == "completed"``); :data:`TERMINAL` and :data:`UNFINISHED` are the only
  sets of them.
* :class:`RunStatus`: what the sweep service says of a run (progress, throughput, ETA, devices,
  errors, its current top K). Built in one place, :meth:`threadx.sweep.service.SweepService.status`.
  It reads also as a mapping (``st["state"]``, ``st.get("errors")``) for callers that still index
  status dicts.
* :class:`RunSummary`: one row of the list of runs (from a run's manifest).
* :class:`NodeInfo` / :class:`ClusterInfo`: nodes, total and available resources, worker slots;
  built from Ray's node list by :func:`cluster_info` only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class RunState(StrEnum):  # a str and an Enum: equals, hashes and formats as its value
    CREATED = "created"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def unfinished(self) -> bool:
        return self in UNFINISHED


#: States a run never leaves by itself (a client waiting for the run stops there).
TERMINAL = frozenset(
    {RunState.COMPLETED, RunState.CANCELLED, RunState.FAILED, RunState.INTERRUPTED}
)
#: States of a run that a driver still owns; a new driver marks such runs ``interrupted``.
UNFINISHED = frozenset({RunState.CREATED, RunState.QUEUED, RunState.RUNNING, RunState.PAUSED})


class _Fields(Mapping[str, Any]):
    """Read a dataclass as a mapping of its fields (``obj["name"]``, ``obj.get``, ``in``)."""

    def __getitem__(self, key: str) -> Any:
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


@dataclass(frozen=True, eq=True)
class RunStatus(_Fields):
    """A run's status: every key of the service's status dict, typed."""

    state: RunState
    run_id: str = ""
    done_tasks: int = 0
    total_tasks: int = 0
    done: int = 0  # combinations done
    total: int = 0  # combinations (result rows) of the whole run
    fraction: float = 0.0
    elapsed_s: float | None = None
    bar_steps_per_s: float | None = None
    eta_s: float | None = None
    per_device: dict[str, int] = field(default_factory=dict)  # combinations done per device
    shares: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    error: str | None = None  # why the run failed (the driver's own failure of it)
    top: list[dict[str, Any]] = field(default_factory=list)  # the run's current top K (records)
    # a sampling [search] (threadx.sweep.search.SearchSampler.progress_extra): its method, the
    # trials evaluated, the budget and the best so far ({"metric", "value"}); None for a grid
    search: str | None = None
    evaluated: int | None = None
    budget: int | None = None
    best: dict[str, Any] | None = None

    __hash__ = None  # type: ignore[assignment] - holds dicts

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def moved_from(self) -> dict[str, Any]:
        """What :meth:`threadx.sweep.service.SweepService.wait_status` compares against."""
        return {"state": self.state.value, "done_tasks": self.done_tasks}

    def to_dict(self) -> dict[str, Any]:
        """Plain values (the state as its string), copies of the containers."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["state"] = self.state.value
        d["per_device"], d["shares"] = dict(self.per_device), dict(self.shares)
        d["weights"] = dict(self.weights)
        d["errors"], d["top"] = list(self.errors), [dict(r) for r in self.top]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunStatus:
        """From a status dict (a progress snapshot, a manifest's numbers, a wire dict; a
        RunStatus is returned as it is); keys it lacks take their defaults, unknown keys are
        refused."""
        if isinstance(d, RunStatus):
            return d
        names = set(cls._names())
        extra = set(d) - names
        if extra:
            raise ValueError(f"unknown run status field(s): {sorted(extra)}")
        kw = dict(d)
        kw["state"] = RunState(kw["state"])
        for key in ("per_device", "shares", "weights"):
            kw[key] = dict(kw.get(key) or {})
        kw["errors"] = [str(e) for e in kw.get("errors") or ()]
        kw["top"] = [dict(r) for r in kw.get("top") or ()]
        for key in ("done_tasks", "total_tasks", "done", "total", "retries"):
            kw[key] = int(kw.get(key) or 0)
        kw["fraction"] = float(kw.get("fraction") or 0.0)
        return cls(**kw)


@dataclass(frozen=True)
class RunSummary(_Fields):
    """One run of the list of runs (its manifest's headline)."""

    run_id: str
    name: str | None = None
    status: RunState | None = None
    total_combos: int | None = None
    created: str | None = None
    finished: str | None = None
    bar_steps_per_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["status"] = None if self.status is None else self.status.value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RunSummary:
        if isinstance(d, RunSummary):
            return d
        kw = {k: d.get(k) for k in cls._names()}
        kw["status"] = None if kw["status"] is None else RunState(kw["status"])
        return cls(**kw)


# ------------------------------------------------------------------------------------ cluster


@dataclass(frozen=True)
class NodeInfo:
    """One Ray node: id, address, alive, resources (``CPU``, ``GPU``, ``memory``,
    ``threadx_gpu_<label>``, ...)."""

    node_id: str
    address: str | None = None
    alive: bool = False
    resources: dict[str, float] = field(default_factory=dict)

    __hash__ = None  # type: ignore[assignment] - holds a dict

    @classmethod
    def from_ray(cls, n: Mapping[str, Any]) -> NodeInfo:
        """From one entry of ``ray.nodes()``."""
        return cls(
            node_id=str(n["NodeID"]),
            address=n.get("NodeManagerAddress"),
            alive=bool(n.get("Alive")),
            resources=dict(n.get("Resources") or {}),
        )

    @property
    def cpus(self) -> float:
        return float(self.resources.get("CPU", 0.0))

    @property
    def gpus(self) -> float:
        return float(self.resources.get("GPU", 0.0))

    @property
    def gpu_devices(self) -> tuple[str, ...]:
        """ThreadX GPU slot labels on the node (``threadx_gpu_<label>`` resources), sorted."""
        return tuple(
            sorted(
                k.removeprefix("threadx_gpu_")
                for k in self.resources
                if k.startswith("threadx_gpu_")
            )
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "address": self.address,
            "alive": self.alive,
            "resources": dict(self.resources),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NodeInfo:
        """From :meth:`to_dict`; ``"id"`` (as ``cluster status`` names it) reads as ``node_id``."""
        if isinstance(d, NodeInfo):
            return d
        return cls(
            node_id=str(d.get("node_id", d.get("id", ""))),
            address=d.get("address"),
            alive=bool(d.get("alive")),
            resources=dict(d.get("resources") or {}),
        )


@dataclass(frozen=True)
class ClusterInfo:
    """Nodes, resources (total and available), the driver's worker slots (the worker pool's
    descriptions: ``worker_id``, ``device``, ``node``, ``tasks_done``, ...) and whether the
    cluster is one the client embedded."""

    nodes: tuple[NodeInfo, ...] = ()
    total: dict[str, float] = field(default_factory=dict)
    available: dict[str, float] = field(default_factory=dict)
    workers: tuple[dict[str, Any], ...] = ()
    embedded: bool = False

    __hash__ = None  # type: ignore[assignment] - holds dicts

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "total": dict(self.total),
            "available": dict(self.available),
            "workers": [dict(w) for w in self.workers],
            "embedded": self.embedded,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClusterInfo:
        if isinstance(d, ClusterInfo):
            return d
        return cls(
            nodes=tuple(NodeInfo.from_dict(n) for n in d.get("nodes") or ()),
            total=dict(d.get("total") or {}),
            available=dict(d.get("available") or {}),
            workers=tuple(dict(w) for w in d.get("workers") or ()),
            embedded=bool(d.get("embedded")),
        )


def cluster_info(
    nodes: Sequence[Mapping[str, Any]],
    total: Mapping[str, float],
    available: Mapping[str, float],
    workers: Sequence[Mapping[str, Any]] = (),
    embedded: bool = False,
) -> ClusterInfo:
    """The :class:`ClusterInfo` of Ray's node list (``ray.nodes()``), its resources
    (``ray.cluster_resources()``, ``ray.available_resources()``) and the worker slots."""
    return ClusterInfo(
        nodes=tuple(NodeInfo.from_ray(n) for n in nodes),
        total=dict(total),
        available=dict(available),
        workers=tuple(dict(w) for w in workers),
        embedded=embedded,
    )
