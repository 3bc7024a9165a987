"""io.kestra.plugin.core.flow.Switch: run the case whose key equals the rendered value."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.tasks.base import Task
from kflow.tasks.flow.base import FlowableTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.flows.Switch")
class Switch(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Switch"
    TASK_LISTS: ClassVar[tuple[str, ...]] = ("defaults", "errors", "finally")
    TASK_MAPS: ClassVar[tuple[str, ...]] = ("cases",)
    value: str
    cases: dict[str, list[Task]] = Field(default_factory=dict)
    defaults: list[Task] = Field(default_factory=list)

    def child_lists(self) -> dict[str, list[Task]]:
        lists = {f"cases.{k}": v for k, v in self.cases.items()}
        return {**lists, "defaults": self.defaults, **super().child_lists()}

    def resolve(self, walk: Any, tr: Any) -> State:
        if "value" not in tr.outputs:
            tr.outputs = {"value": str(walk.render(self.value, tr))}
            walk.outputs_changed(tr)
        key = tr.outputs["value"]
        branch = self.cases.get(key, self.defaults)
        return walk.handlers(walk.sequence(branch, tr, f"cases.{key}" if key in self.cases else "defaults"),
                             self.errors, self.finally_, tr)
