"""io.kestra.plugin.core.flow.Loop: run the `tasks` group once per item, `item.value` / `item.index`
available to every task inside, however deeply nested (unlike ForEach's `taskrun.value`).

`values`: a list, a JSON array or a map (`item.key` is then the key); a kestra:// URI (one item per line
in Kestra) is not read yet.
`concurrencyLimit`: groups at once (1 by default, 0 = all). Outputs of the children are keyed by value
as in ForEach (`outputs.<child>[<value>]`).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kflow.engine.state import State
from kflow.errors import TaskFailed
from kflow.tasks.flow.foreach import ForEach, loop_values
from kflow.tasks.flow.parallel import run_parallel
from kflow.tasks.registry import register


@register()
class Loop(ForEach):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Loop"
    values: list[Any] | dict[str, Any] | str  # type: ignore[assignment]

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.items is None:
            tr.items = self._items(walk, tr)
        n = len(tr.items)
        status = run_parallel(walk, tr, [self.tasks] * n, self.concurrencyLimit, list(range(n)),
                              keep_going=self.concurrencyLimit != 1)
        return walk.handlers(status, self.errors, self.finally_, tr)

    def _items(self, walk: Any, tr: Any) -> list[str]:
        raw = walk.render_value(self.values, tr)
        if isinstance(raw, str) and raw.strip().startswith("kestra://"):
            # The engine reads no files: a file's lines come in as a list (kflow difference).
            raise TaskFailed("values: a kestra:// file is not read by kflow's Loop yet; give the lines as a "
                             "list, e.g. from a task output")
        if isinstance(raw, dict):
            keys = [str(k) for k in raw]
            tr.outputs = {**tr.outputs, "keys": keys}
            return [v if isinstance(v, str) else json.dumps(v, separators=(",", ":")) for v in raw.values()]
        return loop_values(raw)


def with_item(tasks: dict[str, Any], runs_by_id: dict[str, Any], tr: Any, ctx: dict[str, Any]) -> dict[str, Any]:
    """Add `item` (value, index, key) from the nearest Loop above `tr`."""
    run = tr
    while run is not None and run.parentId:
        parent = runs_by_id.get(run.parentId)
        if parent is not None and isinstance(tasks.get(parent.taskId), Loop) and run.iteration is not None:
            keys = parent.outputs.get("keys") if isinstance(parent.outputs, dict) else None
            item = {"value": run.value, "index": run.iteration}
            if keys and run.iteration < len(keys):
                item["key"] = keys[run.iteration]
            return {**ctx, "item": item}
        run = parent
    return ctx
