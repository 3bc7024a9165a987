"""The local KV store of `kflow run`: `<root>/<namespace>/<key>.json`, root `$KFLOW_HOME/kv`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from kflow.kv.memory import MemoryKVStore
from kflow.kv.model import KVEntry, check_key, check_namespace


def default_kv_root(env: Mapping[str, str] | None = None) -> Path:
    home = (os.environ if env is None else env).get("KFLOW_HOME")
    return Path(home or Path.home() / ".kflow") / "kv"


class FileKVStore:
    """Every read goes to the file, so two executions (or two `kflow run`s) see each other's writes."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_kv_root()

    def _path(self, namespace: str, key: str) -> Path:
        return self.root / check_namespace(namespace) / f"{check_key(key)}.json"

    def get(self, namespace: str, key: str) -> KVEntry | None:
        try:
            return KVEntry.from_json(self._path(namespace, key).read_text())
        except FileNotFoundError:
            return None
        except ValueError:
            return None  # a torn or hand-edited file reads as missing rather than crashing a run

    def put(self, entry: KVEntry) -> None:
        path = self._path(entry.namespace, entry.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic replace: a concurrent reader sees the old or the new value, never half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            os.fchmod(fd, 0o600 if entry.secret else 0o644)
            with os.fdopen(fd, "w") as f:
                f.write(entry.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def delete(self, namespace: str, key: str) -> bool:
        try:
            self._path(namespace, key).unlink()
            return True
        except FileNotFoundError:
            return False

    def keys(self, namespace: str) -> list[str]:
        folder = self.root / check_namespace(namespace)
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.json") if not p.name.startswith("."))

    def snapshot_store(self, namespaces: list[str]) -> MemoryKVStore:
        """The entries of `namespaces`, in memory (what a task process is handed)."""
        entries = []
        for ns in namespaces:
            for key in self.keys(ns):
                entry = self.get(ns, key)
                if entry is not None:
                    entries.append(entry)
        return MemoryKVStore(entries)
