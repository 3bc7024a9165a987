"""An in-memory KV store that journals its writes (the operator's and task pods' view of a snapshot)."""

from __future__ import annotations

from typing import Any

from kflow.kv.model import KVEntry


class MemoryKVStore:
    def __init__(self, entries: list[KVEntry] | None = None, read_only: bool = False):
        self.entries: dict[tuple[str, str], KVEntry] = {(e.namespace, e.key): e for e in entries or []}
        self.read_only = read_only
        # (namespace, key) -> the entry written, or None for a deletion; in order, last write wins.
        self.journal: dict[tuple[str, str], KVEntry | None] = {}

    def get(self, namespace: str, key: str) -> KVEntry | None:
        return self.entries.get((namespace, key))

    def put(self, entry: KVEntry) -> None:
        self._writable()
        self.entries[(entry.namespace, entry.key)] = entry
        self.journal[(entry.namespace, entry.key)] = entry

    def delete(self, namespace: str, key: str) -> bool:
        self._writable()
        existed = self.entries.pop((namespace, key), None) is not None
        if existed:
            self.journal[(namespace, key)] = None
        return existed

    def keys(self, namespace: str) -> list[str]:
        return sorted(k for ns, k in self.entries if ns == namespace)

    def _writable(self) -> None:
        if self.read_only:
            from kflow.kv.model import KVError

            raise KVError("the KV store is read-only here (KV tasks run in the engine, not in a task)")

    # ---- snapshots handed to a task process (plain JSON data) ----------------------------------------
    def snapshot(self, include_secrets: bool = False) -> list[dict[str, Any]]:
        from dataclasses import asdict

        return [asdict(e) for e in self.entries.values() if include_secrets or not e.secret]

    @classmethod
    def from_snapshot(cls, data: list[dict[str, Any]]) -> MemoryKVStore:
        return cls([KVEntry(**d) for d in data], read_only=True)
