"""io.kestra.plugin.core.debug.Return (and the deprecated Echo)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.debugs.Return")
class Return(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.debug.Return"
    format: str | None = None

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        return {"value": walk.render(self.format, tr) if self.format is not None else None}


@register("io.kestra.core.tasks.debugs.Echo")
class Echo(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.debug.Echo"
    format: str
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] = "INFO"

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        walk.log(tr, self.level, str(walk.render(self.format, tr)))
        return {}
