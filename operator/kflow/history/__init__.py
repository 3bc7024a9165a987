"""Execution history: every `kflow run` recorded as it goes, and one read API over it.

Read API (`HistorySource`; `LocalHistory(storage_root)` here, `kflow.history.cluster.ClusterHistory` over
the Kubernetes API, same shapes):

  list_executions(flow=, namespace=, state=, labels=, since=, limit=) -> [ExecutionRecord], newest first
      flow: flow id or `namespace.flowId`; namespace: also its sub-namespaces; state: "FAILED" or
      "FAILED,KILLED"; labels: {key: value}, all must match; since: aware datetime (startDate >= since)
  get(execution_id) -> ExecutionRecord             a unique id prefix or `@latest` also work
  logs(execution_id, task=None, follow=False, offset=0) -> iterator of LogEntry, in order
      task: a task id or a task run id; follow: keep waiting for lines until the execution has ended
      (or its process is gone); offset: LogEntry.offset of the last line read, to continue after it
  resolve(execution_id, uri) -> Path               the file of a kestra:// URI the execution produced
  (local only) prune(older_than=, keep=, dry_run=) -> [ExecutionRecord] deleted, with their storage

ExecutionRecord: `.execution` is the engine's `Execution` (task runs with every attempt, dates, outputs,
labels, inputs, trigger, histories); plus `flow_source` (the YAML as it ran), `flow_path`, `raw_inputs`
(the -i strings), `storage_root`, `live` (a process drives it now) and `pid`, `attempt` (1 + restarts),
`original_id` (replays). `.outputs(task=None)` nests ForEach outputs by value; `.to_json()` is the
document `kflow get -o json` prints. LogEntry: date, level, message, task_id, task_run_id, attempt, offset.
Errors: `HistoryError` with a one-line message (unknown or ambiguous id, unreadable history).

Write side (`Recorder`, used by the local runner): append-only JSON lines per execution plus a compacted
snapshot, layout in `recorder.py`. Why files and not SQLite: one writer per execution and many readers in
other processes (`kflow logs -f`, `kflow ui`) need no locking between executions, a torn last line is the
worst a crash leaves, following logs is reading a growing file, and retention is deleting a folder.
"""

from kflow.history.recorder import Recorder, history_root
from kflow.history.records import ExecutionRecord, HistoryError, HistorySource, LogEntry
from kflow.history.store import DEFAULT_MAX_EXECUTIONS, DEFAULT_RETENTION, LocalHistory

__all__ = ["DEFAULT_MAX_EXECUTIONS", "DEFAULT_RETENTION", "ExecutionRecord", "HistoryError", "HistorySource",
           "LocalHistory", "LogEntry", "Recorder", "history_root"]
