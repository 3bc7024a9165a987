"""io.kestra.plugin.core.flow.Sleep and Pause: timers kept in the task run (`wakeAt`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from kflow.engine.state import State
from kflow.model.common import Duration, is_template
from kflow.model.durations import parse_duration
from kflow.tasks.base import Task
from kflow.tasks.flow.base import FlowableTask
from kflow.tasks.registry import register


def _wait(walk: Any, tr: Any, duration: str) -> bool:
    """True once `duration` has elapsed since the task run started."""
    if tr.wakeAt is None:
        text = walk.render(duration, tr) if is_template(duration) else duration
        tr.wakeAt = tr.startDate + parse_duration(text)
    if walk.now >= tr.wakeAt:
        return True
    walk.wake(tr.wakeAt)
    return False


@register()
class Sleep(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Sleep"
    duration: Duration

    def resolve(self, walk: Any, tr: Any) -> State:
        return State.SUCCESS if _wait(walk, tr, self.duration) else State.RUNNING


@register("io.kestra.core.tasks.flows.Pause")
class Pause(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Pause"
    TASK_LISTS: ClassVar[tuple[str, ...]] = ("tasks", "errors", "finally")
    # Deprecated but accepted by Kestra: child tasks run once the pause ends (resumed or elapsed).
    tasks: list[Task] = Field(default_factory=list)
    pauseDuration: Duration | None = None
    delay: Duration | None = None
    timeout: Duration | None = None
    behavior: Literal["RESUME", "WARN", "FAIL", "CANCEL"] = "RESUME"
    onResume: list[dict[str, Any]] | None = None
    onPause: Task | None = None

    def child_lists(self) -> dict[str, list[Task]]:
        return {"tasks": self.tasks, **super().child_lists()}

    def resolve(self, walk: Any, tr: Any) -> State:
        state = self._paused(walk, tr)
        if self.tasks and state in (State.SUCCESS, State.WARNING):
            done = walk.block(self.tasks, self.errors, self.finally_, tr)
            return State.WARNING if done == State.SUCCESS and state == State.WARNING else done
        return state

    def _paused(self, walk: Any, tr: Any) -> State:
        duration = self.pauseDuration or self.delay or self.timeout
        if tr.outputs.get("resumed"):
            return State.SUCCESS
        if duration is None or not _wait(walk, tr, duration):
            return State.PAUSED
        return {"RESUME": State.SUCCESS, "WARN": State.WARNING, "FAIL": State.FAILED,
                "CANCEL": State.KILLED}[self.behavior]
