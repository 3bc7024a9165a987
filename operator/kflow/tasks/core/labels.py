"""io.kestra.plugin.core.execution.Labels: merge labels into the running execution."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.model.common import normalize_labels
from kflow.tasks.base import Task
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.executions.Labels")
class Labels(Task):
    kind: ClassVar[str] = "inline"
    TYPE: ClassVar[str] = "io.kestra.plugin.core.execution.Labels"
    labels: dict[str, Any] | list[dict[str, Any]] | str

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        rendered = walk.render(self.labels, tr)
        if isinstance(rendered, str):
            try:
                rendered = json.loads(rendered)
            except ValueError:
                raise TaskFailed("labels: expected a map, a list of {key, value} or a JSON object") from None
        try:
            labels = normalize_labels(rendered)
        except ValueError as exc:
            raise TaskFailed(f"labels: {exc}") from None
        reserved = [k for k in labels if k.startswith("system.")]
        if reserved:
            raise TaskFailed(f"labels: key {reserved[0]!r} is reserved (system.* labels cannot be set)")
        walk.set_labels(labels)
        return {}
