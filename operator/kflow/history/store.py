"""The reading side of the local history (layout in `recorder.py`), and retention."""

from __future__ import annotations

import fcntl
import json
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kflow.engine.state import State
from kflow.history.codec import _dt, execution_from_json
from kflow.history.recorder import history_root, write_atomic
from kflow.history.records import ExecutionRecord, HistoryError, LogEntry

# Default retention, applied when `kflow run` starts: like Kestra's purge of old executions, bounded by age
# and by count so a busy laptop does not fill up (override with KFLOW_HISTORY_RETENTION / _MAX).
DEFAULT_RETENTION = timedelta(days=30)
DEFAULT_MAX_EXECUTIONS = 1000


def _read_lines(path: Path, offset: int) -> Iterator[tuple[dict[str, Any], int]]:
    """Complete JSON lines from `offset`, each with the offset just after it (a torn last line is left)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            for raw in fh:
                if not raw.endswith(b"\n"):
                    return
                offset += len(raw)
                try:
                    yield json.loads(raw), offset
                except ValueError:
                    continue
    except FileNotFoundError:
        return


def fold(folder: Path) -> tuple[dict[str, Any], int]:
    """The snapshot plus every event after it: {"meta": {...}, "execution": {... "taskRuns": [...]}}."""
    state: dict[str, Any] = {"meta": {}, "execution": None}
    offset = 0
    try:
        snap = json.loads((folder / "snapshot.json").read_text())
        state, offset = snap["state"], snap["offset"]
    except (FileNotFoundError, ValueError, KeyError):
        pass
    runs: dict[str, dict[str, Any]] = {}
    ex = state["execution"]
    if ex is not None:
        runs = {tr["id"]: tr for tr in ex["taskRuns"]}
    for doc, end in _read_lines(folder / "events.jsonl", offset):
        offset = end
        kind = doc.get("e")
        if kind == "meta":
            state["meta"].update({k: v for k, v in doc.items() if k != "e"})
        elif kind == "snapshot":
            ex = doc["execution"]
            runs = {tr["id"]: tr for tr in ex["taskRuns"]}
        elif kind == "execution" and ex is not None:
            ex = {**doc["execution"], "taskRuns": []}
        elif kind == "taskRun" and ex is not None:
            runs[doc["taskRun"]["id"]] = doc["taskRun"]
    if ex is not None:
        ex["taskRuns"] = list(runs.values())  # dicts keep first-insertion order: the order runs were made
    state["execution"] = ex
    return state, offset


def compact(folder: Path) -> None:
    state, offset = fold(folder)
    write_atomic(folder / "snapshot.json", json.dumps({"offset": offset, "state": state}).encode())


def _live(folder: Path) -> bool:
    try:
        with open(folder / "lock", "rb") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


class LocalHistory:
    """Executions recorded under one storage root (`~/.kflow/storage` unless `--storage`)."""

    def __init__(self, storage_root: Path):
        self.storage_root = Path(storage_root)
        self.root = history_root(self.storage_root)

    # -- one execution
    def _folder(self, execution_id: str) -> Path:
        if execution_id in ("@latest", "latest"):
            found = self.list_executions(limit=1)
            if not found:
                raise HistoryError(f"no executions recorded in {self.root}")
            return self.root / found[0].id
        folder = self.root / execution_id
        if "/" not in execution_id and (folder / "events.jsonl").exists():
            return folder
        # a unique prefix is enough, as with git or docker ids
        matches = [p for p in self.root.glob(f"{execution_id}*") if (p / "events.jsonl").exists()] \
            if execution_id and "/" not in execution_id and self.root.is_dir() else []
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise HistoryError(f"execution id prefix {execution_id!r} is ambiguous ({len(matches)} executions)")
        raise HistoryError(f"execution {execution_id} not found in {self.root}")

    def _record(self, folder: Path) -> ExecutionRecord:
        state, _ = fold(folder)
        if state["execution"] is None:
            raise HistoryError(f"execution {folder.name}: history is empty")
        meta = state["meta"]
        live = _live(folder)
        flow_file = folder / "flow.yaml"
        return ExecutionRecord(
            execution=execution_from_json(state["execution"]), source="local", flow_path=meta.get("flowPath"),
            flow_source=flow_file.read_text() if flow_file.exists() else None,
            raw_inputs=meta.get("rawInputs") or {},
            storage_root=Path(meta["storageRoot"]) if meta.get("storageRoot") else self.storage_root,
            live=live, pid=meta.get("pid") if live else None, attempt=meta.get("attempt") or 1,
            original_id=meta.get("originalId"), meta=meta)

    def get(self, execution_id: str) -> ExecutionRecord:
        return self._record(self._folder(execution_id))

    def folder(self, execution_id: str) -> Path:
        return self._folder(execution_id)

    # -- many
    def list_executions(self, *, flow: str | None = None, namespace: str | None = None,
                        state: str | None = None, labels: dict[str, str] | None = None,
                        since: datetime | None = None, limit: int | None = None) -> list[ExecutionRecord]:
        """Newest first. `flow` matches the flow id (or `namespace.flowId`); `namespace` also matches
        its sub-namespaces, as in Kestra's UI; `state` is a state name or a comma-separated list."""
        if not self.root.is_dir():
            return []
        states = {s.strip().upper() for s in state.split(",")} if state else None
        out: list[ExecutionRecord] = []
        for folder in self.root.iterdir():
            if not (folder / "events.jsonl").exists():
                continue
            try:
                rec = self._record(folder)
            except (HistoryError, ValueError, KeyError, TypeError):
                continue  # unreadable history: skipped, `kflow get` names the problem
            ex = rec.execution
            if flow and flow not in (ex.flowId, f"{ex.namespace}.{ex.flowId}"):
                continue
            if namespace and not (ex.namespace == namespace or ex.namespace.startswith(namespace + ".")):
                continue
            if states and ex.state.value not in states:
                continue
            if labels and any(ex.labels.get(k) != v for k, v in labels.items()):
                continue
            if since and (ex.startDate is None or ex.startDate < since):
                continue
            out.append(rec)
        out.sort(key=lambda r: r.execution.startDate or datetime.min.replace(tzinfo=UTC), reverse=True)
        return out[:limit] if limit else out

    # -- logs and files
    def logs(self, execution_id: str, *, task: str | None = None, follow: bool = False,
             offset: int = 0, poll: float = 0.2) -> Iterator[LogEntry]:
        """Log lines in order; `task` keeps one task's (its id or a task run id). With `follow`, waits
        for more until the execution has ended and nobody drives it."""
        folder = self._folder(execution_id)
        path = folder / "logs.jsonl"
        while True:
            for doc, end in _read_lines(path, offset):
                offset = end
                if task is not None and task not in (doc.get("taskId"), doc.get("taskRunId")):
                    continue
                yield LogEntry(date=_dt(doc["t"]) or datetime.now(UTC), level=doc.get("level", "INFO"),
                               message=doc.get("message", ""), task_id=doc.get("taskId"),
                               task_run_id=doc.get("taskRunId"), attempt=doc.get("attempt"), offset=end)
            if not follow:
                return
            if not _live(folder):
                rec = self._record(folder)
                if rec.execution.state.terminal or rec.execution.state == State.PAUSED:
                    # a last read: lines written between the read above and the end
                    follow = False
                    continue
                return  # not live and not ended: its process died; nothing more will come
            time.sleep(poll)

    def resolve(self, execution_id: str, uri: str) -> Path:
        """The local file of a kestra:// URI produced by this execution."""
        from kflow.runner.storage import ExecutionStorage, StorageError

        ex = self.get(execution_id)
        root = self.execution_storage(ex)
        try:
            return ExecutionStorage(root, ex.execution.namespace, ex.execution.flowId, ex.id).resolve(uri)
        except StorageError as exc:
            raise HistoryError(str(exc)) from None

    @staticmethod
    def execution_storage(rec: ExecutionRecord) -> Path:
        ex = rec.execution
        base = rec.storage_root or Path()
        return base / ex.namespace.replace(".", "/") / ex.flowId / "executions" / ex.id

    # -- retention
    def prune(self, *, older_than: timedelta | None = None, keep: int | None = None,
              now: datetime | None = None, dry_run: bool = False) -> list[ExecutionRecord]:
        """Delete ended executions that started before now - `older_than`, and the oldest beyond the `keep`
        newest, with their internal storage files. Live and paused executions are kept."""
        now = now or datetime.now(UTC)
        records = self.list_executions()
        doomed: list[ExecutionRecord] = []
        for i, rec in enumerate(records):
            ex = rec.execution
            if rec.live or not ex.state.terminal:
                continue
            old = older_than is not None and (ex.startDate or now) < now - older_than
            if old or (keep is not None and i >= keep):
                doomed.append(rec)
        if not dry_run:
            for rec in doomed:
                shutil.rmtree(self.execution_storage(rec), ignore_errors=True)
                shutil.rmtree(self.root / rec.id, ignore_errors=True)
        return doomed
