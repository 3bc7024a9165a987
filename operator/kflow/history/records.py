"""What the history read API returns, the same whether a local store or the cluster backs it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kflow.engine.state import Execution, TaskRun
from kflow.history.codec import _plain, execution_to_json


class HistoryError(Exception):
    """An execution that cannot be found or read; the message is one line for the user."""


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


@dataclass
class ExecutionRecord:
    execution: Execution
    source: str = "local"                 # "local" (this machine's store) or "cluster"
    flow_path: str | None = None          # the file `kflow run` was given
    flow_source: str | None = None        # the flow's YAML as it ran
    raw_inputs: dict[str, Any] = field(default_factory=dict)  # -i values as given (typed again on restart)
    storage_root: Path | None = None      # internal storage root its kestra:// URIs live under
    live: bool = False                    # a process (kflow run/restart/resume) is driving it right now
    pid: int | None = None                # that process, while live
    attempt: int = 1                      # Kestra's metadata.attempt: 1 + number of restarts
    original_id: str | None = None        # replay: the execution it was replayed from
    namespace_k8s: str | None = None      # cluster: the Kubernetes namespace of the Execution object
    meta: dict[str, Any] = field(default_factory=dict)  # what else the recorder noted (pluginDefaults...)

    @property
    def id(self) -> str:
        return self.execution.id

    def outputs(self, task: str | None = None) -> dict[str, Any]:
        """Task run outputs by task id; inside ForEach nested by value (`{task: {value: {...}}}`)."""
        out: dict[str, Any] = {}
        for tr in self.execution.taskRuns:
            if not tr.outputs or (task is not None and tr.taskId != task):
                continue
            if tr.valuePath:
                node = out.setdefault(tr.taskId, {})
                for v in tr.valuePath[:-1]:
                    node = node.setdefault(v, {})
                node[tr.valuePath[-1]] = tr.outputs
            else:
                out[tr.taskId] = tr.outputs
        return out

    def task_runs(self, task: str | None = None) -> list[TaskRun]:
        return [tr for tr in self.execution.taskRuns if task is None or tr.taskId == task]

    def to_json(self) -> dict[str, Any]:
        """The document `kflow get -o json` prints and the UI serves: the execution (every task run with
        its attempts, outputs and dates) plus where it came from."""
        ex = self.execution
        doc = execution_to_json(ex)
        doc["durationSeconds"] = seconds(ex.startDate, ex.endDate)
        for raw, tr in zip(doc["taskRuns"], ex.taskRuns, strict=True):
            raw["durationSeconds"] = seconds(tr.startDate, tr.endDate)
        doc.update(source=self.source, flowPath=self.flow_path, live=self.live, pid=self.pid,
                   attempt=self.attempt, originalId=self.original_id, taskOutputs=_plain(self.outputs()))
        if self.namespace_k8s:
            doc["kubernetesNamespace"] = self.namespace_k8s
        return doc


@dataclass
class LogEntry:
    date: datetime
    level: str
    message: str
    task_id: str | None = None            # None: a line of the execution itself (killed, restarted...)
    task_run_id: str | None = None
    attempt: int | None = None
    offset: int = 0                       # pass it back as `offset` to read what comes after this line

    def to_json(self) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "level": self.level, "message": self.message,
                "taskId": self.task_id, "taskRunId": self.task_run_id, "attempt": self.attempt,
                "offset": self.offset}


class HistorySource(Protocol):
    """The read API (see the package docstring); `LocalHistory` and `ClusterHistory` implement it."""

    def list_executions(self, *, flow: str | None = None, namespace: str | None = None,
                        state: str | None = None, labels: dict[str, str] | None = None,
                        since: datetime | None = None, limit: int | None = None) -> list[ExecutionRecord]: ...

    def get(self, execution_id: str) -> ExecutionRecord: ...

    def logs(self, execution_id: str, *, task: str | None = None, follow: bool = False,
             offset: int = 0) -> Iterator[LogEntry]: ...

    def resolve(self, execution_id: str, uri: str) -> Path: ...
