"""io.kestra.plugin.core.flow.ForEach: run the `tasks` group once per value.

Each value's children get `taskrun.value` (non-strings as JSON) and their outputs are keyed by it:
`outputs.<child>[<value>]`. `concurrencyLimit` groups run at once (1 by default, 0 = all).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import Field

from kflow.engine.state import State
from kflow.errors import TaskFailed
from kflow.tasks.flow.base import GroupTask
from kflow.tasks.flow.parallel import run_parallel
from kflow.tasks.registry import register


def loop_values(raw: Any) -> list[str]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise TaskFailed(f"values: expected a list or a JSON array, got {raw!r}") from None
    if not isinstance(raw, list):
        raise TaskFailed(f"values: expected a list, got {type(raw).__name__}")
    nulls = sum(v is None for v in raw)
    if nulls:  # Kestra's wording, values in Java's toString form
        raise TaskFailed(f"Found '{nulls}' null values on Each, with values={_java(raw)}")
    return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in raw]


def _java(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_java(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_java(v) for v in value) + "]"
    return str(value)


@register()
class ForEach(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.ForEach"
    values: list[Any] | str
    concurrencyLimit: int = Field(default=1, ge=0)

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.items is None:
            tr.items = loop_values(walk.render_value(self.values, tr))
        n = len(tr.items)
        status = run_parallel(walk, tr, [self.tasks] * n, self.concurrencyLimit, list(range(n)),
                              keep_going=self.concurrencyLimit != 1)
        return walk.handlers(status, self.errors, self.finally_, tr)


@register("io.kestra.core.tasks.flows.EachSequential")
class EachSequential(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.EachSequential"
    value: list[Any] | str

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.items is None:
            tr.items = loop_values(walk.render_value(self.value, tr))
        n = len(tr.items)
        return walk.handlers(run_parallel(walk, tr, [self.tasks] * n, 1, list(range(n))),
                             self.errors, self.finally_, tr)


@register("io.kestra.core.tasks.flows.EachParallel")
class EachParallel(EachSequential):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.EachParallel"
    concurrent: int = Field(default=0, ge=0)

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.items is None:
            tr.items = loop_values(walk.render_value(self.value, tr))
        n = len(tr.items)
        return walk.handlers(run_parallel(walk, tr, [self.tasks] * n, self.concurrent, list(range(n)),
                                          keep_going=self.concurrent != 1), self.errors, self.finally_, tr)
