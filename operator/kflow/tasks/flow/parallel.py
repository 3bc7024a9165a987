"""io.kestra.plugin.core.flow.Parallel: children run at the same time (at most `concurrent`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.tasks.flow.base import GroupTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.flows.Parallel")
class Parallel(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Parallel"
    concurrent: int = Field(default=0, ge=0)

    def resolve(self, walk: Any, tr: Any) -> State:
        return walk.handlers(run_parallel(walk, tr, [[t] for t in self.tasks], self.concurrent, None),
                             self.errors, self.finally_, tr)


def run_parallel(walk: Any, tr: Any, groups: list[list[Any]], limit: int,
                 iterations: list[int] | None, keep_going: bool = False) -> State:
    """Advance independent groups with at most `limit` (0 = all) running; no new group starts after a
    failure unless `keep_going` (Kestra's concurrent ForEach iterations), and the result waits for the
    running ones."""
    status, running, pending, failed = State.SUCCESS, 0, False, None
    for i, group in enumerate(groups):
        iteration = iterations[i] if iterations is not None else None
        started = any((tr.id, t.id, iteration) in walk.index for t in group)
        if not started and ((failed and not keep_going) or (limit and running >= limit)):
            pending = True
            continue
        state = walk.sequence(group, tr, "tasks", iteration)
        if not state.terminal:
            running += 1
        elif state in (State.FAILED, State.KILLED):
            failed = state
        elif state == State.WARNING:
            status = State.WARNING
    if running or (pending and (keep_going or not failed)):
        return State.RUNNING
    return failed or status
