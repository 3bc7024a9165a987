"""The KV store: Kestra's namespaced key-value pairs (`kv()`, `io.kestra.plugin.core.kv.*`).

Pure part (this package's `model` and `function` modules, no I/O) and adapters:
- `kflow.kv.local.FileKVStore(root)`: `kflow run`; one JSON file per key, `<root>/<namespace>/<key>.json`,
  root = `$KFLOW_HOME/kv` (default `~/.kflow/kv`), see `default_kv_root()`.
- `kflow.kv.memory.MemoryKVStore`: an in-memory store that journals its writes; the operator loads a
  Kubernetes namespace's KV objects into one before an engine pass and writes the journal back after it
  (`kflow.k8s.kvstore`), and a task pod reads the snapshot it was handed.

Python-facing API (what other task modules use; everything takes the *Kestra* namespace, e.g. `company.team`):

    from kflow.kv import KVStore, KVEntry, kv_get, kv_set, kv_delete, kv_keys, KVError
    store: KVStore = ...                     # FileKVStore, MemoryKVStore, or `ctx.kv` inside tasks
    kv_set(store, "company.team", "my_key", {"a": 1}, now, kv_type="JSON", ttl="PT1H",
           overwrite=True, secret=False)     # validates key/namespace/type; raises KVError
    kv_get(store, "company.team", "my_key", now, inherit=True)  # typed value, or KVMissing/KVExpired
    kv_delete(store, "company.team", "my_key") -> bool
    kv_keys(store, "company.team", now, prefix="my_") -> list[str] (live keys, sorted)

A store implements `get(namespace, key) -> KVEntry | None`, `put(entry)`, `delete(namespace, key) -> bool`
and `keys(namespace) -> list[str]`; expiry, typing and inheritance live in the helpers above.
Entries whose value came from a secret carry `secret=True`: adapters store them privately (mode 0600
files, Kubernetes Secrets), and `kv()` adds their value to the renderer's masked strings.

Namespace inheritance (as Kestra's KvFunction): `kv('k')` without a namespace looks in the flow's namespace,
then its parents (`a.b.c` -> `a.b` -> `a`); with an explicit namespace, only there. Defaults follow Kestra:
`kv()` errors on a missing key (`errorOnMissing=true` since 0.22), the `kv.Get` task does not.
"""

from kflow.kv.model import (
    KV_TYPES,
    KVEntry,
    KVError,
    KVExpired,
    KVMissing,
    KVStore,
    kv_delete,
    kv_get,
    kv_keys,
    kv_set,
)

__all__ = ["KV_TYPES", "KVEntry", "KVError", "KVExpired", "KVMissing", "KVStore", "kv_delete", "kv_get",
           "kv_keys", "kv_set"]
