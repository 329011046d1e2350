"""A stand-in for the typed client's non-blocking surface, for the GUI backend's tests (no Ray).

Every ``*_async`` call is recorded in ``asked`` and answered at once: the result shapes
(``ranking``, ``heatmap``, ``pareto``) by :mod:`threadx.sweep.shapes` from ``frame`` and ``spec``
as the driver's service computes them, anything else from ``answers`` (default None).
``ready`` says every ref is ready; ``resolve`` returns their answers. A test runs the backend's
loop by hand: ``backend.handle_commands()``, ``backend.poll_due()``, ``backend.collect(0)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from threadx.sweep import shapes


@dataclass(frozen=True, eq=False)
class Answer:
    """A ref whose answer is in."""

    value: Any


class FakeClient:
    embedded = False

    def __init__(self, frame: Any = None, spec: Any = None, **answers: Any) -> None:
        self.frame, self.spec, self.answers = frame, spec, answers
        self.asked: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        if not name.endswith("_async"):
            raise AttributeError(name)
        method = name.removesuffix("_async")

        def call(*args: Any) -> Answer:
            self.asked.append((method, *args))
            return Answer(self.answer(method, *args))

        return call

    def answer(self, method: str, *args: Any) -> Any:
        spec = self.spec
        if method == "ranking":
            _run_id, mode, k = (*args, None, None)[:3]
            return shapes.ranking(
                self.frame,
                spec.rank.by,
                k or spec.rank.top_k,
                mode or spec.rank.aggregate,
                spec.datasets(),
            )
        if method == "heatmap":
            _run_id, metric, x, y = (*args, None, None)[:4]
            return shapes.heatmap(self.frame, spec.grid_values(), metric, x, y, spec.rank.by)
        if method == "pareto":
            return shapes.pareto(self.frame)
        return self.answers.get(method)

    def ready(self, refs: list[Answer], timeout: float) -> set[Answer]:
        return set(refs)

    def resolve(self, refs: Any) -> Any:
        return refs.value if isinstance(refs, Answer) else [r.value for r in refs]
