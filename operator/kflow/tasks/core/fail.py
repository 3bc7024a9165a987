"""io.kestra.plugin.core.execution.Fail: fail the task run (when `condition` is truthy, if given)."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.expr import truthy
from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.executions.Fail")
class Fail(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.execution.Fail"
    condition: str | bool | None = None
    errorMessage: str = "Task failure"

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        if self.condition is not None and not truthy(walk.render(self.condition, tr)):
            return {}
        raise TaskFailed(str(walk.render(self.errorMessage, tr)))
