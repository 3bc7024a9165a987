"""io.kestra.plugin.core.flow.WaitFor: run `tasks` again and again until `condition` holds.

After each iteration the condition is rendered (it sees the iteration's outputs as `outputs.<task>`, and
`outputs.<id>.iterationCount`); while false, the next iteration starts `checkFrequency.interval` later,
up to `maxIterations` / `maxDuration`. Reaching a limit ends the task SUCCESS, or FAILED with
`failOnMaxReached: true`. Output: `iterationCount`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.expr import truthy
from kflow.model.common import Duration, Strict
from kflow.model.durations import parse_duration
from kflow.tasks.flow.base import GroupTask
from kflow.tasks.registry import register


class CheckFrequency(Strict):
    maxIterations: int = Field(default=100, ge=1)
    maxDuration: Duration = "PT1H"
    interval: Duration = "PT1S"


@register()
class WaitFor(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.WaitFor"
    FLAT_ITERATIONS: ClassVar[bool] = True
    condition: str
    checkFrequency: CheckFrequency = Field(default_factory=CheckFrequency)
    failOnMaxReached: bool = False

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.items is None:
            tr.items = ["0"]
        while True:
            i = len(tr.items) - 1
            status = walk.sequence(self.tasks, tr, "tasks", i)
            if not status.terminal:
                return State.RUNNING
            if status in (State.FAILED, State.KILLED):
                return walk.handlers(status, self.errors, self.finally_, tr)
            if tr.outputs.get("iterationCount") != i + 1:
                tr.outputs = {"iterationCount": i + 1}
                walk.outputs_changed(tr)
            if truthy(walk.render(self.condition, tr)):
                return walk.handlers(State.SUCCESS, self.errors, self.finally_, tr)
            freq = self.checkFrequency
            elapsed = walk.now - tr.startDate
            if i + 1 >= freq.maxIterations or elapsed >= parse_duration(str(walk.render(freq.maxDuration, tr))):
                if self.failOnMaxReached:
                    walk.log(tr, "ERROR", f"condition `{self.condition}` still false after {i + 1} iterations")
                    return walk.handlers(State.FAILED, self.errors, self.finally_, tr)
                return walk.handlers(State.SUCCESS, self.errors, self.finally_, tr)
            if tr.wakeAt is None:
                tr.wakeAt = walk.now + parse_duration(str(walk.render(freq.interval, tr)))
            if walk.now < tr.wakeAt:
                walk.wake(tr.wakeAt)
                return State.RUNNING
            tr.wakeAt = None
            tr.items = [*tr.items, str(i + 1)]


def flat_iterations(engine: Any, ex: Any) -> None:
    """An execution rebuilt from a saved status (the operator's): children of FLAT_ITERATIONS flowables
    get their parent's value path back (the status does not say which flowable a run belongs to)."""
    if not any(getattr(t, "FLAT_ITERATIONS", False) for t in engine.tasks.values()):
        return
    by_id = {tr.id: tr for tr in ex.taskRuns}
    for tr in ex.taskRuns:  # parents come before their children
        parent = by_id.get(tr.parentId) if tr.parentId else None
        if parent is None:
            continue
        flat = getattr(engine.tasks.get(parent.taskId), "FLAT_ITERATIONS", False)
        tr.valuePath = list(parent.valuePath) if flat or tr.iteration is None else [*parent.valuePath, tr.value]
