"""io.kestra.plugin.core.output.OutputValues: expose rendered values as `outputs.<id>.values`."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.outputs.OutputValues")
class OutputValues(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.output.OutputValues"
    values: dict[str, Any]

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        return {"values": walk.render(self.values, tr)}
