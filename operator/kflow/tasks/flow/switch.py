"""io.kestra.plugin.core.flow.Switch: run the case whose key equals the rendered value.

No matching case runs `defaults`; with no `defaults` either, the Switch fails (Kestra >= 0.22).
Outputs: `value` (rendered) and `defaults` (true when the defaults branch ran).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kflow.engine.state import State
from kflow.errors import TaskFailed
from kflow.tasks.base import Task
from kflow.tasks.flow.base import FlowableTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.flows.Switch")
class Switch(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Switch"
    TASK_LISTS: ClassVar[tuple[str, ...]] = ("defaults", "errors", "finally")
    TASK_MAPS: ClassVar[tuple[str, ...]] = ("cases",)
    value: str
    cases: dict[str, list[Task]] | None = Field(default_factory=dict)
    defaults: list[Task] | None = None

    @field_validator("cases")
    @classmethod
    def _cases(cls, cases: dict[str, list[Task]] | None) -> dict[str, list[Task]]:
        empty = [k for k, v in (cases or {}).items() if not v]
        if empty:
            raise ValueError(f"case `{empty[0]}` has no task: every case needs at least one task")
        return cases or {}

    @field_validator("defaults")
    @classmethod
    def _defaults(cls, defaults: list[Task] | None) -> list[Task] | None:
        if defaults is not None and not defaults:
            raise ValueError("defaults: must not be empty (remove it, or give it at least one task)")
        return defaults

    @model_validator(mode="after")
    def _some_task(self) -> Switch:
        if not self.cases and not self.defaults:
            raise ValueError("No task defined, neither cases or default have any tasks")
        return self

    def child_lists(self) -> dict[str, list[Task]]:
        lists = {f"cases.{k}": v for k, v in (self.cases or {}).items()}
        return {**lists, "defaults": self.defaults or [], **super().child_lists()}

    def resolve(self, walk: Any, tr: Any) -> State:
        cases = self.cases or {}
        if "value" not in tr.outputs:
            key = str(walk.render(self.value, tr))
            tr.outputs = {"value": key, "defaults": key not in cases}
            walk.outputs_changed(tr)
        key = tr.outputs["value"]
        if key in cases:
            branch, name = cases[key], f"cases.{key}"
        elif self.defaults:
            branch, name = self.defaults, "defaults"
        else:
            raise TaskFailed(f"Switch value `{key}` matches no case and there are no defaults "
                             f"(cases: {', '.join(cases)})")
        return walk.handlers(walk.sequence(branch, tr, name), self.errors, self.finally_, tr)
