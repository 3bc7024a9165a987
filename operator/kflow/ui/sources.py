"""What the server asks of a data source (local history or the cluster), and the errors sources raise.

A source is synchronous (the server calls it off the event loop). Reads:
  flows() / flow(key)            flow documents (views.flow_doc)
  executions() / execution(key)  summaries, newest first / one execution document (views.execution_doc)
  logs(key, task_run_id)         [{taskRunId, taskId, level, message, date?}]
  file(key, uri)                 a Path to a stored file (only when `files` is true)
  triggers() / trigger(key)      CronTrigger documents
Actions (only called with --allow-actions; a source lacking one answers 501):
  execute(flow_key, inputs, labels) -> execution key; kill(key); restart(key); replay(key, task_run_id)
  resume(key); backfill(trigger_key, request, dry_run) -> {"ticks": [...], ...}
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

_PROTOCOL = re.compile(r"^::(\{.*\})::$")
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


class NotFound(Exception):
    pass


class ActionError(Exception):
    """A refused action, shown to the user as is (`field` names the form field it is about)."""

    def __init__(self, message: str, field: str | None = None, status: int = 400):
        super().__init__(message)
        self.field = field
        self.status = status


class Source(Protocol):
    kind: str
    files: bool

    def flows(self) -> list[dict[str, Any]]: ...
    def flow(self, key: str) -> dict[str, Any]: ...
    def executions(self) -> list[dict[str, Any]]: ...
    def execution(self, key: str) -> dict[str, Any]: ...
    def logs(self, key: str, task_run_id: str | None = None) -> list[dict[str, Any]]: ...
    def triggers(self) -> list[dict[str, Any]]: ...


def level_of(text: str) -> str:
    up = str(text).upper()
    return "WARN" if up == "WARNING" else up if up in LEVELS else "INFO"


def log_lines(tr: dict[str, Any], text: str) -> list[dict[str, Any]]:
    """A task's raw output as log entries: the worker protocol's `logs` keep their level, result lines
    are not logs, anything else is an INFO line."""
    out = []
    for line in text.splitlines():
        m = _PROTOCOL.match(line.strip())
        if m:
            try:
                msg = json.loads(m.group(1))
            except ValueError:
                msg = None
            if isinstance(msg, dict):
                for entry in msg.get("logs") or []:
                    out.append({"taskRunId": tr["id"], "taskId": tr["taskId"],
                                "level": level_of(entry.get("level", "INFO")), "message": str(entry.get("message"))})
                continue
        out.append({"taskRunId": tr["id"], "taskId": tr["taskId"], "level": "INFO", "message": line})
    return out


def filter_logs(entries: list[dict[str, Any]], level: str | None) -> list[dict[str, Any]]:
    """Kestra's level filter: the chosen level and the more severe ones."""
    if not level or level.upper() not in LEVELS:
        return entries
    floor = LEVELS.index(level.upper())
    return [e for e in entries if LEVELS.index(level_of(e.get("level", "INFO"))) >= floor]
