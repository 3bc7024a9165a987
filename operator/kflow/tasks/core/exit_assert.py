"""io.kestra.plugin.core.execution.Exit and Assert: evaluated by the engine."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.exits import EXIT_TYPE, STATES
from kflow.errors import TaskFailed
from kflow.expr import truthy
from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register()
class Exit(Task):
    """End the execution in `state` (engine/exits.py): nothing after it starts; KILLED kills what runs."""

    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = EXIT_TYPE
    state: str = Field(default="SUCCESS", pattern=r"^(SUCCESS|WARNING|KILLED|FAILED|CANCELED|\{\{.*\}\})$")

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        state = str(walk.render(self.state, tr)).strip().upper()
        if state not in STATES:
            raise TaskFailed(f"state: expected SUCCESS, WARNING, KILLED, FAILED or CANCELED, got {state!r}")
        walk.exited = STATES[state]
        return {"state": state}


@register()
class Assert(Task):
    """Fail with every condition that does not hold (each an expression rendered to a boolean)."""

    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.execution.Assert"
    conditions: list[str] = Field(min_length=1)
    errorMessage: str | None = None

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        failed = [c for c in self.conditions if not truthy(walk.render(c, tr))]
        if failed:
            for c in failed:
                walk.log(tr, "ERROR", f"Assertion `{c}` failed!")
            message = walk.render(self.errorMessage, tr) if self.errorMessage else \
                f"{len(failed)} assertion(s) failed: " + ", ".join(f"`{c}`" for c in failed)
            raise TaskFailed(str(message))
        return {}
