"""io.kestra.plugin.core.flow.Sequential: run child tasks one after the other."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.engine.state import State
from kflow.tasks.flow.base import GroupTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.flows.Sequential")
class Sequential(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Sequential"

    def resolve(self, walk: Any, tr: Any) -> State:
        return walk.block(self.tasks, self.errors, self.finally_, tr)


@register("io.kestra.core.tasks.flows.AllowFailure")
class AllowFailure(GroupTask):
    """Deprecated block form of `allowFailure: true`: a failing child ends the block as WARNING."""

    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.AllowFailure"

    def resolve(self, walk: Any, tr: Any) -> State:
        state = walk.block(self.tasks, self.errors, self.finally_, tr)
        return State.WARNING if state == State.FAILED else state
