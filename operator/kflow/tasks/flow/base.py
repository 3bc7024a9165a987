"""Flowable tasks: resolved by the engine, they decide which child task runs exist."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.tasks.base import Task


class FlowableTask(Task):
    kind: ClassVar[str] = "flowable"
    TASK_LISTS: ClassVar[tuple[str, ...]] = ("errors", "finally")
    TASK_MAPS: ClassVar[tuple[str, ...]] = ()

    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")

    def child_lists(self) -> dict[str, list[Task]]:
        return {"errors": self.errors, "finally": self.finally_}

    def resolve(self, walk: Any, tr: Any) -> State:
        """Advance the children; return RUNNING/PAUSED or the terminal state of this task run."""
        raise NotImplementedError


class GroupTask(FlowableTask):
    """A flowable whose main children are `tasks`."""

    TASK_LISTS: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally")
    tasks: list[Task] = Field(min_length=1)

    def child_lists(self) -> dict[str, list[Task]]:
        return {"tasks": self.tasks, **super().child_lists()}
