"""io.kestra.plugin.core.flow.ForEachItem: split a file into batches, one subflow execution per batch.

`items` (a kestra:// file, one item per line), `batch` (`rows` per batch, default 1; or `partitions`;
`separator`), the Subflow properties (`namespace`, `flowId`, `inputs`, `labels`, `wait`, `transmitFailed`,
`inheritLabels`) and `concurrencyLimit` (executions at once; 0 = all). In `inputs`, `{{ taskrun.items }}`
is the batch's file (a FILE input of the child), `{{ taskrun.iteration }}` its 0-based index.

Outputs (on the ForEachItem task run itself; Kestra spreads them over `<id>_items`/`<id>_merge` runs):
`numberOfBatches`, `iterations` (executions per end state), `executionIds`, `subflowOutputs` (a kestra://
JSON-lines file: each batch's flow outputs, in batch order) and `outputs` (the same, as a list).
On `kflow run` the runner does it all (kflow.runner.subflows); on the cluster (kflow.k8s.foreach_items) a
pod runs `run` below (the split, on the execution's volume), then the operator starts the children.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from kflow.engine.state import State
from kflow.model.common import Strict
from kflow.tasks.flow.subflow import Subflow
from kflow.tasks.registry import register


class Batch(Strict):
    rows: int | None = Field(default=None, ge=1)
    partitions: int | None = Field(default=None, ge=1)
    bytes: str | None = None
    separator: str = "\n"

    @model_validator(mode="after")
    def _one(self) -> Batch:
        if sum(x is not None for x in (self.rows, self.partitions, self.bytes)) > 1:
            raise ValueError("set only one of rows, partitions or bytes")
        return self


@register("io.kestra.core.tasks.flows.ForEachItem")
class ForEachItem(Subflow):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.ForEachItem"
    items: str
    batch: Batch = Field(default_factory=Batch)
    concurrencyLimit: int = Field(default=0, ge=0)

    def run(self, ctx: Any) -> dict[str, Any]:
        """The split (a pod, on the cluster): the batch files beside the task run's outputs, their URIs."""
        from kflow.errors import TaskFailed
        from kflow.runner.storage import StorageError

        try:
            text = ctx.storage.resolve(str(ctx.render(self.items)).strip()).read_text(encoding="utf-8")
        except (StorageError, OSError, UnicodeDecodeError) as exc:
            raise TaskFailed(f"items: {exc}") from None
        return {"batches": write_batches(ctx.storage, self, ctx.task_run_id, text)}


def write_batches(storage: Any, task: ForEachItem, run_id: str, text: str) -> list[str]:
    """Write the batches of `text` into the task run's folder; their kestra:// URIs, in order."""
    folder = storage.task_dir(task.id, run_id)
    uris = []
    for i, content in enumerate(split(text, task.batch)):
        batch = folder / f"batch-{i}.txt"
        batch.write_text(content, encoding="utf-8")
        uris.append(storage.uri_for(batch))
    return uris


def merged_lines(outputs: list[dict[str, Any]]) -> str:
    """`subflowOutputs`: one JSON line per batch's flow outputs."""
    import json

    return "".join(json.dumps(o, default=str) + "\n" for o in outputs)


def split(text: str, batch: Batch) -> list[str]:
    """The batches' contents: lines grouped `rows` at a time, into `partitions` parts, or ~`bytes` each."""
    sep = batch.separator
    lines = [x for x in text.split(sep) if x != ""]
    if not lines:
        return []
    if batch.partitions:
        n = min(batch.partitions, len(lines))
        size, extra = divmod(len(lines), n)
        out, start = [], 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            out.append(sep.join(lines[start:end]) + sep)
            start = end
        return out
    if batch.bytes:
        limit = _size(batch.bytes)
        out, current, used = [], [], 0
        for line in lines:
            if current and used + len(line) + len(sep) > limit:
                out.append(sep.join(current) + sep)
                current, used = [], 0
            current.append(line)
            used += len(line.encode()) + len(sep)
        out.append(sep.join(current) + sep)
        return out
    rows = batch.rows or 1
    return [sep.join(lines[i:i + rows]) + sep for i in range(0, len(lines), rows)]


def _size(text: str) -> int:
    units = {"KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "B": 1}
    t = text.strip().upper()
    for unit, factor in units.items():
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * factor)
    return int(t)


def merged(task: ForEachItem, results: list[tuple[str, str, dict[str, Any] | None, str | None]]) \
        -> tuple[State, dict[str, Any], str | None]:
    """The task run's end from each batch's (execution id, state, flow outputs, error), in batch order."""
    counts: dict[str, int] = {}
    for _, state, _, _ in results:
        counts[state] = counts.get(state, 0) + 1
    outputs = {"numberOfBatches": len(results), "iterations": counts,
               "executionIds": [r[0] for r in results], "outputs": [r[2] or {} for r in results]}
    bad = [r for r in results if r[1] in ("FAILED", "KILLED", "CANCELLED")]
    if bad and task.transmitFailed:
        first = bad[0]
        why = f": {first[3]}" if first[3] else ""
        return State.FAILED, outputs, f"{len(bad)} of {len(results)} subflow executions failed " \
                                      f"(first: {first[0]} ended {first[1]}{why})"
    if any(r[1] == "WARNING" for r in results) and task.transmitFailed:
        return State.WARNING, outputs, None
    return State.SUCCESS, outputs, None
