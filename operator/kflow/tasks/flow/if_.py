"""io.kestra.plugin.core.flow.If: `then` when the condition is truthy, else `else`."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.expr import truthy
from kflow.tasks.base import Task
from kflow.tasks.flow.base import FlowableTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.flows.If")
class If(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.If"
    TASK_LISTS: ClassVar[tuple[str, ...]] = ("then", "else", "errors", "finally")
    condition: str | bool
    then: list[Task] = Field(min_length=1)
    else_: list[Task] = Field(default_factory=list, alias="else")

    def child_lists(self) -> dict[str, list[Task]]:
        return {"then": self.then, "else": self.else_, **super().child_lists()}

    def resolve(self, walk: Any, tr: Any) -> State:
        if "evaluationResult" not in tr.outputs:
            # Evaluated once: later passes follow the branch already chosen.
            tr.outputs = {"evaluationResult": truthy(walk.render_value(self.condition, tr))}
            walk.outputs_changed(tr)
        branch = self.then if tr.outputs["evaluationResult"] else self.else_
        return walk.handlers(walk.sequence(branch, tr, "then" if branch is self.then else "else"),
                             self.errors, self.finally_, tr)
