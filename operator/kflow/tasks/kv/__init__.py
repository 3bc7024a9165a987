"""io.kestra.plugin.core.kv.{Set,Get,Delete,GetKeys}: evaluated by the engine against its KV store.

They run in the engine rather than in a task process so that, on the cluster, the operator (which can
reach the Kubernetes API) reads and writes the store: task pods have no API token.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.kv.model import KVError, KVMissing, kv_delete, kv_entry, kv_keys, kv_set
from kflow.model.common import Duration
from kflow.tasks.base import Task
from kflow.tasks.registry import register

KVType = Literal["STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"]


class _KVTask(Task):
    kind: ClassVar[str] = "inline"
    namespace: str = "{{ flow.namespace }}"

    def _store(self, walk: Any) -> Any:
        store = getattr(walk.renderer, "kv", None)
        if store is None:
            raise TaskFailed("no KV store is configured for this execution")
        return store

    def _ns(self, walk: Any, tr: Any) -> str:
        return str(walk.render(self.namespace, tr))


@register("io.kestra.core.tasks.kv.Set")
class Set(_KVTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.kv.Set"
    key: str
    value: Any
    overwrite: bool | str = True
    ttl: Duration | None = None
    kvType: KVType | None = None

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        key = str(walk.render(self.key, tr))
        value = walk.render_value(self.value, tr)
        ttl = walk.render(self.ttl, tr) if self.ttl else None
        overwrite = self.overwrite if isinstance(self.overwrite, bool) else \
            str(walk.render(self.overwrite, tr)).strip().lower() == "true"
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        secret = any(s and s in text for s in walk.renderer.secret_values)
        try:
            kv_set(self._store(walk), self._ns(walk, tr), key, value, walk.now, kv_type=self.kvType,
                   ttl=ttl, overwrite=overwrite, secret=secret)
        except KVError as exc:
            raise TaskFailed(str(exc)) from None
        return {}


@register("io.kestra.core.tasks.kv.Get")
class Get(_KVTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.kv.Get"
    key: str
    errorOnMissing: bool = False

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        try:
            entry = kv_entry(self._store(walk), self._ns(walk, tr), str(walk.render(self.key, tr)), walk.now)
        except KVMissing as exc:
            if self.errorOnMissing:
                raise TaskFailed(str(exc)) from None
            return {"value": None}
        except KVError as exc:
            raise TaskFailed(str(exc)) from None
        if entry.secret and isinstance(entry.value, str):
            walk.renderer.secret_values.add(entry.value)
        return {"value": entry.value}


@register("io.kestra.core.tasks.kv.Delete")
class Delete(_KVTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.kv.Delete"
    key: str
    errorOnMissing: bool = False

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        ns, key = self._ns(walk, tr), str(walk.render(self.key, tr))
        try:
            deleted = kv_delete(self._store(walk), ns, key)
        except KVError as exc:
            raise TaskFailed(str(exc)) from None
        if not deleted and self.errorOnMissing:
            raise TaskFailed(f"The key '{key}' does not exist in the namespace '{ns}'.")
        return {"deleted": deleted}


@register("io.kestra.core.tasks.kv.GetKeys")
class GetKeys(_KVTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.kv.GetKeys"
    prefix: str | None = Field(default=None)

    def evaluate(self, walk: Any, tr: Any) -> dict[str, Any]:
        prefix = str(walk.render(self.prefix, tr)) if self.prefix else None
        try:
            return {"keys": kv_keys(self._store(walk), self._ns(walk, tr), walk.now, prefix)}
        except KVError as exc:
            raise TaskFailed(str(exc)) from None
