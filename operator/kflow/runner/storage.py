"""Internal storage of one execution: a folder, and the `kestra://` URIs that name files in it.

Layout (same on a laptop and on the execution's volume in a pod):
  <root>/tasks/<taskId>/<taskRunId>/<file>   files produced by task runs
  <root>/work/<taskRunId>-<attempt>/         working directories (locally `work/.wd-N` while in use)
URIs keep Kestra's shape: kestra:///<namespace as path>/<flowId>/executions/<executionId>/<relative path>.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from pathlib import Path
from urllib.parse import quote, unquote

SCHEME = "kestra://"


class StorageError(Exception):
    pass


class ExecutionStorage:
    def __init__(self, root: Path, namespace: str, flow_id: str, execution_id: str):
        self.root = Path(root)
        self.prefix = f"/{namespace.replace('.', '/')}/{flow_id}/executions/{execution_id}/"
        self._spares: list[Path] = []               # empty working directories made ahead of need
        self._lent: dict[Path, str] = {}            # spare in use -> the name it gets when its run ends
        self._to_name: list[tuple[Path, str]] = []  # ended runs' spares, renamed at the next chance
        self._spare_ids = itertools.count()

    @classmethod
    def with_prefix(cls, root: Path, prefix: str) -> ExecutionStorage:
        """The storage a task pod is handed: its root and URI prefix as the operator computed them."""
        storage = cls(root, "", "", "")
        storage.prefix = prefix
        return storage

    def uri_for(self, path: Path) -> str:
        rel = Path(path).resolve().relative_to(self.root.resolve())
        return SCHEME + quote(self.prefix + rel.as_posix(), safe="/._-~+")

    def uri_for_relative(self, rel: str) -> str:
        """The URI of a file at `rel` below the root, without touching the file system."""
        return SCHEME + quote(self.prefix + rel.lstrip("/"), safe="/._-~+")

    def resolve(self, uri: str) -> Path:
        """Map a kestra:// URI of this execution to its file; refuse anything outside it."""
        if not uri.startswith(SCHEME):
            raise StorageError(f"not an internal storage URI: {uri!r}")
        path = unquote(uri[len(SCHEME):])
        if not path.startswith(self.prefix):
            raise StorageError(f"{uri} does not belong to this execution")
        target = (self.root / path[len(self.prefix):]).resolve()
        if self.root.resolve() not in target.parents:
            raise StorageError(f"{uri} points outside the execution's storage")
        if not target.exists():
            raise StorageError(f"file not found in internal storage: {uri}")
        return target

    def task_dir(self, task_id: str, task_run_id: str) -> Path:
        d = self.root / "tasks" / task_id / task_run_id
        d.mkdir(parents=True, exist_ok=True)
        return d

    def put(self, task_id: str, task_run_id: str, source: Path, name: str | None = None,
            move: bool = False) -> str:
        """Store a file produced by a task run; the stored name gets Kestra's deterministic prefix."""
        name = name or Path(source).name
        digest = hashlib.sha1(name.encode()).hexdigest()[:8]
        dest = self.task_dir(task_id, task_run_id) / f"{digest}-{Path(name).name}"
        if move:
            shutil.move(str(source), dest)
        else:
            shutil.copyfile(source, dest)
        return self.uri_for(dest)

    def work_dir(self, task_run_id: str, attempt: int) -> Path:
        # One per task run, so kept cheap: a single mkdir, and the parents only the first time.
        path = self.root.joinpath("work", f"{task_run_id}-{attempt}")
        try:
            os.mkdir(path)
        except FileNotFoundError:
            path.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            pass
        return path

    # The local runner keeps directory work off the path between two task runs: a mkdir or a rename costs
    # 50-300 us on ext4 there, up to half of what a `sh -c true` costs. While a task's process runs on
    # another core, `tidy()` makes a spare for the next run and names the directories of ended ones.
    def lend_work_dir(self, task_run_id: str, attempt: int) -> Path:
        """A spare made ahead of time, named `work/<taskRunId>-<attempt>` once the run has ended (see
        `returned`); `work_dir()` when there is none."""
        try:
            spare = self._spares.pop()
        except IndexError:
            return self.work_dir(task_run_id, attempt)
        self._lent[spare] = f"{task_run_id}-{attempt}"
        return spare

    def returned(self, path: Path) -> None:
        """The run working in `path` has ended."""
        name = self._lent.pop(path, None)
        if name is not None:
            self._to_name.append((path, name))

    def tidy(self) -> None:
        self._name_ended()
        if not self._spares:
            path = self.root.joinpath("work", f".wd-{next(self._spare_ids)}")
            try:
                os.mkdir(path)
            except OSError:
                return  # no work/ folder yet, or a full disk: lend_work_dir() falls back to work_dir()
            self._spares.append(path)

    def close(self) -> None:
        """The execution has ended: name the directories of ended runs, remove the unused spares."""
        self._name_ended()
        while self._spares:
            try:
                os.rmdir(self._spares.pop())
            except OSError:
                pass

    def _name_ended(self) -> None:
        while self._to_name:
            try:
                path, name = self._to_name.pop()
            except IndexError:  # another task's thread took the last one
                return
            try:
                os.rename(path, path.with_name(name))
            except OSError:
                pass  # a non-empty directory has that name (a resumed run): this one keeps its own

    def purge(self, keep: Path | None = None) -> list[str]:
        """Delete every stored file of the execution (PurgeCurrentExecutionFiles) but those below `keep`
        (the purging task's own working directory); return their URIs."""
        removed: list[str] = []
        keep = keep.resolve() if keep else None
        for top in ("tasks", "work"):
            base = self.root / top
            if not base.exists():
                continue
            for f in sorted(p for p in base.rglob("*") if p.is_file()):
                if keep is not None and (f.resolve() == keep or keep in f.resolve().parents):
                    continue
                removed.append(self.uri_for(f))
                f.unlink()
        return removed
