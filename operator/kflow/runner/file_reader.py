"""What `read()`, `fileExists()`, `fileSize()` and `fileEmpty()` read on this machine: internal-storage
files of the flow's executions (`kestra://...`) and the namespace's files (a relative path, or a
`kestra:///<ns>/_files/...` URI). Injected into the Renderer so the expression layer stays pure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kflow.expr.values import ExprError
from kflow.tasks.nsfiles import source_dir

SCHEME = "kestra://"


class LocalFiles:
    def __init__(self, storage_root: Path, env: Mapping[str, str]):
        self.storage_root = storage_root
        self.env = env

    def path(self, namespace: str, flow_id: str, ref: str) -> Path:
        ref = str(ref)
        ns_path = namespace.replace(".", "/")
        if ref.startswith(SCHEME):
            rel = ref[len(SCHEME):].lstrip("/")
            files = f"{ns_path}/_files/"
            if rel.startswith(files):
                return _inside(source_dir(self.env, namespace), rel[len(files):], ref)
            if not rel.startswith(f"{ns_path}/{flow_id}/executions/"):
                raise ExprError(f"`{ref}`: only files of this flow's executions and namespace can be read")
            return _inside(self.storage_root, rel, ref)
        return _inside(source_dir(self.env, namespace), ref.lstrip("/"), ref)

    def read(self, namespace: str, flow_id: str, ref: str) -> str:
        p = self.path(namespace, flow_id, ref)
        try:
            return p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ExprError(f"read(): no file `{ref}`") from None
        except OSError as exc:
            raise ExprError(f"read(): cannot read `{ref}`: {exc.strerror}") from None

    def exists(self, namespace: str, flow_id: str, ref: str) -> bool:
        return self.path(namespace, flow_id, ref).is_file()

    def size(self, namespace: str, flow_id: str, ref: str) -> int:
        p = self.path(namespace, flow_id, ref)
        if not p.is_file():
            raise ExprError(f"fileSize(): no file `{ref}`")
        return p.stat().st_size

    def empty(self, namespace: str, flow_id: str, ref: str) -> bool:
        return self.size(namespace, flow_id, ref) == 0


def _inside(root: Path, rel: str, ref: str) -> Path:
    base = root.resolve()
    p = (base / rel).resolve()
    if p != base and base not in p.parents:
        raise ExprError(f"`{ref}` points outside its storage")
    return p
