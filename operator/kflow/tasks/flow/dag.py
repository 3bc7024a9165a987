"""io.kestra.plugin.core.flow.Dag: tasks run as soon as the tasks they `dependsOn` have succeeded.

`tasks: [{task: {...}, dependsOn: [ids]}]`, `concurrent` (0: no limit). A task whose dependency failed
never starts; the Dag fails once running tasks are done. Unknown dependencies and cycles are validation
errors naming the Dag's `tasks`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator

from kflow.engine.state import State
from kflow.model.common import Strict
from kflow.tasks.base import Task
from kflow.tasks.flow.base import FlowableTask
from kflow.tasks.registry import register


class DagTask(Strict):
    task: Task
    dependsOn: list[str] = Field(default_factory=list)


def topological(items: list[DagTask]) -> list[DagTask]:
    """`items` ordered so that each comes after its dependencies (ValueError names a cycle)."""
    by_id = {d.task.id: d for d in items}
    order: list[DagTask] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(tid: str, path: list[str]) -> None:
        if state.get(tid) == 2:
            return
        if state.get(tid) == 1:
            cycle = [*path[path.index(tid):], tid]
            raise ValueError(f"cycle in dependsOn: {' -> '.join(cycle)}")
        state[tid] = 1
        for dep in by_id[tid].dependsOn:
            visit(dep, [*path, tid])
        state[tid] = 2
        order.append(by_id[tid])

    for d in items:
        visit(d.task.id, [])
    return order


@register("io.kestra.core.tasks.flows.Dag")
class Dag(FlowableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Dag"
    WRAPPED_TASKS: ClassVar[dict[str, str]] = {"tasks": "task"}
    tasks: list[DagTask] = Field(min_length=1)
    concurrent: int = Field(default=0, ge=0)

    @field_validator("tasks")
    @classmethod
    def _graph(cls, items: list[DagTask]) -> list[DagTask]:
        ids = {d.task.id for d in items}
        for d in items:
            unknown = [x for x in d.dependsOn if x not in ids]
            if unknown:
                raise ValueError(f"task `{d.task.id}` depends on unknown task `{unknown[0]}` "
                                 f"(expected one of: {', '.join(sorted(ids - {d.task.id}))})")
        topological(items)
        return items

    def child_lists(self) -> dict[str, list[Task]]:
        return {"tasks": [d.task for d in self.tasks], **super().child_lists()}

    def resolve(self, walk: Any, tr: Any) -> State:
        states: dict[str, State] = {}
        running = failed = warned = False
        active = 0
        for item in topological(self.tasks):
            task = item.task
            run = walk.index.get((tr.id, task.id, None))
            if task.disabled:
                states[task.id] = State.SUCCESS
                continue
            if run is None:
                deps = [states.get(x) for x in item.dependsOn]
                if any(s is None for s in deps) or any(not s.terminal for s in deps if s is not None):
                    running = True
                    continue
                if failed or any(s in (State.FAILED, State.KILLED) for s in deps if s is not None):
                    continue  # never starts: a dependency (or a sibling) failed
                if (self.concurrent and active >= self.concurrent) or getattr(walk, "exited", None):
                    running = True
                    continue
                run = walk.create(task, tr, "tasks", None)
            state = walk.advance(task, run)
            states[task.id] = state
            if not state.terminal:
                running, active = True, active + 1
            elif state in (State.FAILED, State.KILLED):
                failed = True
            elif state == State.WARNING:
                warned = True
        if active or (running and not failed):
            return State.RUNNING
        status = State.FAILED if failed else State.WARNING if warned else State.SUCCESS
        return walk.handlers(status, self.errors, self.finally_, tr)
