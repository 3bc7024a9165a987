"""Execution <-> JSON, lossless for the engine's state (every attempt, every history entry), so a recorded
execution can be continued (restart, resume) as well as shown. Values that JSON has no type for (dates
inside outputs or inputs) become strings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kflow.engine.state import Attempt, Execution, History, State, TaskRun


def _ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat()


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _plain(value: Any) -> Any:
    """JSON-safe copy of inputs/outputs (a date becomes its ISO text, a set a list)."""
    return json.loads(json.dumps(value, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def task_run_to_json(tr: TaskRun) -> dict[str, Any]:
    return {
        "id": tr.id, "taskId": tr.taskId, "parentId": tr.parentId, "branch": tr.branch, "value": tr.value,
        "valuePath": list(tr.valuePath), "iteration": tr.iteration, "state": tr.state.value,
        "attempts": [{"state": a.state.value, "startDate": _ts(a.startDate), "endDate": _ts(a.endDate),
                      "exitCode": a.exitCode} for a in tr.attempts],
        "outputs": _plain(tr.outputs), "startDate": _ts(tr.startDate), "endDate": _ts(tr.endDate),
        "wakeAt": _ts(tr.wakeAt), "items": _plain(tr.items), "error": tr.error,
    }


def task_run_from_json(raw: dict[str, Any]) -> TaskRun:
    return TaskRun(
        id=raw["id"], taskId=raw["taskId"], parentId=raw.get("parentId"), branch=raw.get("branch") or "tasks",
        value=raw.get("value"), valuePath=list(raw.get("valuePath") or []), iteration=raw.get("iteration"),
        state=State(raw["state"]),
        attempts=[Attempt(state=State(a["state"]), startDate=_dt(a["startDate"]),  # type: ignore[arg-type]
                          endDate=_dt(a.get("endDate")), exitCode=a.get("exitCode"))
                  for a in raw.get("attempts") or []],
        outputs=dict(raw.get("outputs") or {}), startDate=_dt(raw.get("startDate")),
        endDate=_dt(raw.get("endDate")), wakeAt=_dt(raw.get("wakeAt")), items=raw.get("items"),
        error=raw.get("error"))


def execution_fields_to_json(ex: Execution) -> dict[str, Any]:
    """Everything but the task runs (those are recorded one by one as they change)."""
    return {
        "id": ex.id, "namespace": ex.namespace, "flowId": ex.flowId, "flowRevision": ex.flowRevision,
        "state": ex.state.value,
        "histories": [{"state": h.state.value, "date": _ts(h.date), "reason": h.reason} for h in ex.histories],
        "inputs": _plain(ex.inputs), "labels": dict(ex.labels), "trigger": _plain(ex.trigger),
        "outputs": _plain(ex.outputs), "startDate": _ts(ex.startDate), "endDate": _ts(ex.endDate),
        "error": ex.error, "attempt": getattr(ex, "attempt", 1), "originalId": getattr(ex, "originalId", None),
        "originalStartDate": _ts(getattr(ex, "originalStartDate", None)), "retryAt": _ts(getattr(ex, "retryAt", None)),
    }


def execution_to_json(ex: Execution) -> dict[str, Any]:
    return {**execution_fields_to_json(ex), "taskRuns": [task_run_to_json(tr) for tr in ex.taskRuns]}


def execution_from_json(raw: dict[str, Any]) -> Execution:
    return Execution(
        id=raw["id"], namespace=raw["namespace"], flowId=raw["flowId"], flowRevision=raw.get("flowRevision"),
        state=State(raw["state"]),
        histories=[History(state=State(h["state"]), date=_dt(h["date"]),  # type: ignore[arg-type]
                           reason=h.get("reason")) for h in raw.get("histories") or []],
        inputs=dict(raw.get("inputs") or {}), labels=dict(raw.get("labels") or {}), trigger=raw.get("trigger"),
        taskRuns=[task_run_from_json(t) for t in raw.get("taskRuns") or []],
        outputs=dict(raw.get("outputs") or {}), startDate=_dt(raw.get("startDate")),
        endDate=_dt(raw.get("endDate")), error=raw.get("error"), **_extra(raw))


def _extra(raw: dict[str, Any]) -> dict[str, Any]:
    """Fields newer engines have (flow retry: attempt, originalId...), when this engine has them too."""
    from dataclasses import fields

    names = {f.name for f in fields(Execution)}
    out: dict[str, Any] = {}
    for key, conv in (("attempt", int), ("originalId", str), ("originalStartDate", _dt), ("retryAt", _dt)):
        if key in names and raw.get(key) is not None:
            out[key] = conv(raw[key])
    return out
