"""The writing side of the local history: what `kflow run` (and restart/resume) appends as it goes.

Per execution, in `<storage root>/.history/<execution id>/`:
  events.jsonl   append-only: `meta`, `execution` (its fields), `taskRun` (one task run, whole) and
                 `snapshot` (the whole execution, written on start and on restart) events, one per line
  logs.jsonl     append-only: one log line per line (task run, attempt, level, message)
  snapshot.json  the events folded, with the byte offset they were folded to (rewritten atomically when
                 a run ends), so reading a finished execution reads no events
  flow.yaml      the flow source as it ran
  lock           flock'ed by the process driving the execution: free means nobody is (crashed or done)
Every line is written and flushed before the runner goes on, so a killed or crashed run is readable up to
its last change; a torn last line (a crash mid-write) is ignored by the reader.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from kflow.engine.state import Execution, TaskRun
from kflow.history.codec import _default, execution_fields_to_json, execution_to_json, task_run_to_json

HISTORY_DIR = ".history"


def history_root(storage_root: Path) -> Path:
    # A dot folder: namespaces map to folders of the storage root and never start with a dot.
    return Path(storage_root) / HISTORY_DIR


def _line(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, default=_default, separators=(",", ":")) + "\n").encode()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class Recorder:
    """Records one execution. `changed(ex)` is cheap when nothing changed: it compares a small key per
    task run, so a ForEach over thousands of items does not rewrite them all on every step."""

    def __init__(self, storage_root: Path, ex: Execution, *, flow_path: str | None = None,
                 flow_source: str | None = None, raw_inputs: dict[str, Any] | None = None,
                 original_id: str | None = None, restart: bool = False,
                 extra: dict[str, Any] | None = None):
        self.dir = history_root(storage_root) / ex.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.dir / "lock", "a+b")  # noqa: SIM115 - held for the recorder's life
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            from kflow.history.records import HistoryError

            raise HistoryError(f"execution {ex.id} is being run by another process") from None
        self._mutex = threading.Lock()
        self._events: IO[bytes] = open(self.dir / "events.jsonl", "ab")  # noqa: SIM115
        self._logs: IO[bytes] = open(self.dir / "logs.jsonl", "ab")  # noqa: SIM115
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._ex_key: tuple[Any, ...] = ()
        self._attempts: dict[str, int] = {}
        if flow_source is not None and (restart is False or not (self.dir / "flow.yaml").exists()):
            write_atomic(self.dir / "flow.yaml", flow_source.encode())
        meta: dict[str, Any] = {"e": "meta", "pid": os.getpid(), "storageRoot": str(Path(storage_root).resolve()),
                                "at": datetime.now(UTC).isoformat()}
        if not restart:
            meta.update(flowPath=flow_path, rawInputs=raw_inputs or {}, originalId=original_id)
        meta.update(extra or {})
        self._write(self._events, meta)
        self.snapshot(ex)

    # -- events
    def _write(self, fh: IO[bytes], doc: dict[str, Any]) -> None:
        with self._mutex:
            fh.write(_line(doc))
            fh.flush()

    def snapshot(self, ex: Execution) -> None:
        """The whole execution as one event (start, restart: task runs may have been removed)."""
        self._write(self._events, {"e": "snapshot", "execution": execution_to_json(ex)})
        self._seen = {tr.id: _key(tr) for tr in ex.taskRuns}
        self._ex_key = _ex_key(ex)

    def changed(self, ex: Execution) -> None:
        """Append what changed in `ex` since the last call."""
        for tr in ex.taskRuns:
            key = _key(tr)
            if self._seen.get(tr.id) != key:
                self._seen[tr.id] = key
                self._attempts[tr.id] = len(tr.attempts)
                self._write(self._events, {"e": "taskRun", "taskRun": task_run_to_json(tr)})
        key = _ex_key(ex)
        if key != self._ex_key:
            self._ex_key = key
            self._write(self._events, {"e": "execution", "execution": execution_fields_to_json(ex)})

    def note(self, key: str, value: Any) -> None:
        """A meta fact (e.g. `attempt` after a restart)."""
        self._write(self._events, {"e": "meta", key: value})

    # -- logs
    def log(self, run_id: str | None, task_id: str | None, level: str, message: str) -> None:
        doc = {"t": datetime.now(UTC).isoformat(), "level": level, "message": message}
        if run_id is not None:
            doc.update(taskRunId=run_id, taskId=task_id, attempt=self._attempts.get(run_id))
        self._write(self._logs, doc)

    def close(self, ex: Execution) -> None:
        """The run is over (or this process stops driving it): last changes, compacted snapshot, unlock."""
        if self._events.closed:
            return
        self.changed(ex)
        with self._mutex:
            self._events.close()
            self._logs.close()
        from kflow.history.store import compact

        compact(self.dir)
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()


def _key(tr: TaskRun) -> tuple[Any, ...]:
    last = tr.attempts[-1].state if tr.attempts else None
    return tr.state, len(tr.attempts), last, tr.error, len(tr.outputs), id(tr.outputs), tr.items is None


def _ex_key(ex: Execution) -> tuple[Any, ...]:
    return ex.state, len(ex.histories), id(ex.labels), len(ex.labels), id(ex.outputs), ex.error, id(ex.trigger)
