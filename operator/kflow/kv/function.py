"""`kv(key, namespace=null, errorOnMissing=true)`: the callable the engine puts in a context as `__kv`.

It also knows how to hand a task process the part of the store it may read (`snapshot_for`), since a task
pod cannot reach the Kubernetes API and a local worker process gets its context as JSON.
"""

from __future__ import annotations

import re
from typing import Any

from kflow.expr.state import STATE
from kflow.expr.values import ExprError
from kflow.kv.memory import MemoryKVStore
from kflow.kv.model import KVError, KVExpired, KVMissing, KVStore, kv_entry, parents

HOOK = "__kv"           # context key read by kflow.expr.functions' `kv()`
SNAPSHOT_KEY = "kv"     # worker spec key holding the snapshot (see kflow.worker)
_EXPLICIT_NS = re.compile(r"""kv\(\s*['"][^'"]+['"]\s*,\s*(?:namespace\s*=\s*)?['"]([^'"]+)['"]""")


class KVLookup:
    def __init__(self, store: KVStore, namespace: str):
        self.store = store
        self.namespace = namespace

    def __call__(self, key: Any = None, namespace: Any = None, errorOnMissing: Any = True) -> Any:
        if key is None:
            raise ExprError("The 'kv' function expects an argument 'key'.")
        renderer = STATE.renderer
        now = renderer.now() if renderer is not None else None
        if now is None:
            raise ExprError("kv(): no clock")
        try:
            entry = kv_entry(self.store, str(namespace or self.namespace), str(key), now,
                             inherit=namespace is None)
        except (KVMissing, KVExpired) as exc:
            if errorOnMissing is False:
                return None
            raise ExprError(str(exc)) from None
        except KVError as exc:
            raise ExprError(str(exc)) from None
        if entry.secret and renderer is not None and isinstance(entry.value, str):
            renderer.secret_values.add(entry.value)  # a value from a secret stays masked wherever it goes
        return entry.value

    def snapshot_for(self, text: str) -> list[dict[str, Any]] | None:
        """The entries a task whose properties read `text` may look up with kv(); None if it uses none."""
        if "kv(" not in text:
            return None
        wanted = set(parents(self.namespace)) | set(_EXPLICIT_NS.findall(text))
        entries = []
        for ns in sorted(wanted):
            try:
                keys = self.store.keys(ns)
            except KVError:
                continue
            for k in keys:
                entry = self.store.get(ns, k)
                if entry is not None and not entry.secret:
                    entries.append(entry)
        return MemoryKVStore(entries).snapshot()
