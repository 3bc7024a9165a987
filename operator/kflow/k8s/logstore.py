"""Execution logs that outlive the task pods: Log task and engine messages, and the tail of each task run
attempt's pod log, masked and bounded, kept in a ConfigMap per execution (`<execution>-logs`) that a user
of the namespace can read (`kflow logs --cluster`, `kubectl get cm <execution>-logs`).

One key per writer pass (`0000000001`...), each a JSON list of lines {t, level, message, taskId,
taskRunId, attempt}: a pass appends a key, never rewrites one, so a write lost to a conflict costs
nothing but its retry, and readers sort the keys. When the ConfigMap grows past MAX_BYTES the oldest keys
are dropped (Kubernetes caps a ConfigMap at 1 MiB)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

MAX_BYTES = 700 * 1024
MOUNT = "/kflow/logs"     # where a log.Fetch task's pod reads them
TAIL_LINES = 200          # per task run attempt
LINE_CHARS = 2000
_PROTOCOL = re.compile(r"^::(\{.*\})::$")
LEVELS = {"WARNING": "WARN", "CRITICAL": "ERROR"}


def name_for(execution: str) -> str:
    from kflow.k8s import naming as n

    return n.dns_label(f"{execution}-logs")


def pod_lines(text: str) -> list[tuple[str, str]]:
    """(level, message) of a task pod's output: the worker protocol's logs keep their level, its result
    and outputs lines are not logs, anything else is INFO."""
    out: list[tuple[str, str]] = []
    for line in text.splitlines():
        m = _PROTOCOL.match(line.strip())
        if m:
            try:
                msg = json.loads(m.group(1))
            except ValueError:
                msg = None
            if isinstance(msg, dict):
                for entry in msg.get("logs") or []:
                    level = str(entry.get("level", "INFO")).upper()
                    out.append((LEVELS.get(level, level), str(entry.get("message", ""))))
                continue
        out.append(("INFO", line))
    return out


class LogBuffer:
    """Lines gathered during one reconcile pass, written by `flush`."""

    def __init__(self, mask: Any):
        self.mask = mask
        self.lines: list[dict[str, Any]] = []
        self.tails: set[tuple[str, int]] = set()   # task run attempts whose pod log is kept already
        self.keys: list[str] | None = None
        self.size = 0

    def add(self, level: str, message: str, task_id: str | None = None, task_run_id: str | None = None,
            attempt: int | None = None) -> None:
        doc: dict[str, Any] = {"t": datetime.now(UTC).isoformat(), "level": level,
                               "message": self.mask(str(message))[:LINE_CHARS]}
        if task_run_id:
            doc.update(taskId=task_id, taskRunId=task_run_id, attempt=attempt)
        self.lines.append(doc)

    def pod_log(self, task_id: str, task_run_id: str, attempt: int, text: str) -> None:
        if (task_run_id, attempt) in self.tails:
            return
        self.tails.add((task_run_id, attempt))
        for level, message in pod_lines(text)[-TAIL_LINES:]:
            self.add(level, message, task_id, task_run_id, attempt)

    async def flush(self, kube: Any, body: dict[str, Any], new: bool = False) -> None:
        """Append the buffered lines. `new`: the execution has just started, so its ConfigMap is created with
        them (one request; a 409 means an earlier process made it: read it, then patch)."""
        if not self.lines:
            return
        from kflow.k8s import resources

        ns, execution = body["metadata"]["namespace"], body["metadata"]["name"]
        name = name_for(execution)
        if self.keys is None and new:
            first = f"{1:010d}"
            text = json.dumps(self.lines, separators=(",", ":"))
            _, created = await kube.create(resources.config_map(body, name, {first: text}, "logs"))
            if created:
                self.keys, self.size, self.lines = [first], len(text), []
                return
        if self.keys is None:
            cm = await kube.get_config_map(ns, name)
            if cm is None:
                await kube.create(resources.config_map(body, name, {}, "logs"))
                cm = {"data": {}}
            data = cm.get("data") or {}
            self.keys = sorted(data)
            self.size = sum(len(v) for v in data.values())
            # the tails already kept by an earlier operator process are not kept twice
            for text in data.values():
                for line in json.loads(text):
                    if line.get("taskRunId") and line.get("attempt"):
                        self.tails.add((line["taskRunId"], line["attempt"]))
        text = json.dumps(self.lines, separators=(",", ":"))
        key = f"{(int(self.keys[-1]) + 1) if self.keys else 1:010d}"
        patch: dict[str, Any] = {key: text}
        self.size += len(text)
        while self.size > MAX_BYTES and self.keys:
            old = self.keys.pop(0)
            patch[old] = None  # merge patch: drop the oldest
            self.size -= MAX_BYTES // 20  # an estimate: the next load recounts
        await kube.patch_config_map(ns, name, patch)
        self.keys.append(key)
        self.lines = []


def read(data: dict[str, str]) -> list[dict[str, Any]]:
    """All lines of a logs ConfigMap's data, in order."""
    out: list[dict[str, Any]] = []
    for key in sorted(data):
        try:
            out.extend(json.loads(data[key]))
        except ValueError:
            continue
    return out
