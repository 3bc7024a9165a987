"""io.kestra.plugin.core.log.Log: log a rendered message (or each of a list of messages)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.log.Log")
class Log(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.log.Log"
    message: str | list[str]
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "ERROR"] = "INFO"

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        messages = self.message if isinstance(self.message, list) else [self.message]
        for m in messages:
            walk.log(tr, self.level, str(walk.render(m, tr)))
        return {}
