"""Execution status <-> engine state (pure). The status is the operator's only memory of an execution,
so it holds everything the engine needs to resume, in a compact form that stays readable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from kflow.engine.state import Attempt, Execution, History, State, TaskRun
from kflow.k8s import naming as n

INLINE_OUTPUTS_BYTES = 1024       # larger outputs of one task run go to a ConfigMap
INLINE_OUTPUTS_BUDGET = 16 * 1024  # and so do all outputs once the status holds this much
STATUS_BUDGET = 448 * 1024  # past this, task runs leave out their taskId and finished ones their pod name


def ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_ts(text: str | None) -> datetime | None:
    return None if not text else datetime.fromisoformat(text.replace("Z", "+00:00"))


def duration(start: datetime | None, end: datetime | None) -> str | None:
    if start is None:
        return None
    secs = int(((end or datetime.now(UTC)) - start).total_seconds())
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m}m{s}s" if h else f"{m}m{s}s" if m else f"{s}s"


def task_run_status(execution_name: str, tr: TaskRun) -> dict[str, Any]:
    # iteration (the id's extra `.N` over its parent's id) is implied by the id; so is taskId (the id up
    # to its first dot), which only very large executions leave out (see execution_status).
    out: dict[str, Any] = {"id": tr.id, "taskId": tr.taskId}
    if tr.parentId:
        out["parentId"] = tr.parentId
    if tr.branch != "tasks":
        out["branch"] = tr.branch
    if tr.value is not None:
        out["value"] = tr.value
    out["state"] = tr.state.value
    if tr.attempts:
        last = tr.attempts[-1]
        out["attempts"] = len(tr.attempts)
        out["pod"] = n.pod_name(execution_name, tr.id, len(tr.attempts))
        if len(tr.attempts) > 1:
            out["attemptStartDate"] = ts(last.startDate)
            out["firstAttemptDate"] = ts(tr.attempts[0].startDate)
        if last.exitCode:
            out["exitCode"] = last.exitCode
    out["startDate"] = ts(tr.startDate)
    if tr.endDate:
        out["endDate"] = ts(tr.endDate)
    if tr.wakeAt:
        out["wakeAt"] = ts(tr.wakeAt)
    if tr.items is not None:
        out["items"] = tr.items
    if tr.error:
        out["error"] = tr.error[:2000]
    return out


def task_run_from_status(raw: dict[str, Any], by_id: dict[str, TaskRun],
                         outputs: dict[str, Any] | None) -> TaskRun:
    parent = by_id.get(raw.get("parentId") or "")
    task_id = raw.get("taskId") or raw["id"].split(".", 1)[0]
    iteration = raw.get("iteration")
    if iteration is None and parent is not None:
        own = raw["id"][len(task_id):]
        inherited = parent.id[len(parent.taskId):]
        if len(own) > len(inherited):
            iteration = int(own.rsplit(".", 1)[1])
    value = raw.get("value")
    if parent is None:
        value_path: list[str] = []
    elif iteration is not None:
        value_path = [*parent.valuePath, value]
    else:
        value_path = list(parent.valuePath)
    state = State(raw["state"])
    start = parse_ts(raw.get("startDate"))
    end = parse_ts(raw.get("endDate"))
    attempts: list[Attempt] = []
    count = int(raw.get("attempts") or 0)
    if count:
        first = parse_ts(raw.get("firstAttemptDate")) or start
        last_start = parse_ts(raw.get("attemptStartDate")) or start
        # Only the number of attempts, the first start and the last attempt matter to the engine.
        for i in range(count - 1):
            attempts.append(Attempt(state=State.FAILED, startDate=first if i == 0 else last_start,
                                    endDate=last_start))
        last_state = state if state != State.RETRYING else State.FAILED
        if state in (State.WARNING, State.SUCCESS) and raw.get("exitCode") not in (None, 0):
            last_state = State.FAILED
        attempts.append(Attempt(state=last_state, startDate=last_start if count > 1 else (first or start),
                                endDate=end if state.terminal else None, exitCode=raw.get("exitCode")))
    return TaskRun(id=raw["id"], taskId=task_id, parentId=raw.get("parentId"),
                   branch=raw.get("branch", "tasks"), value=value, valuePath=value_path,
                   iteration=iteration, state=state, attempts=attempts, outputs=outputs or {},
                   startDate=start, endDate=end, wakeAt=parse_ts(raw.get("wakeAt")), items=raw.get("items"),
                   error=raw.get("error"))


def conditions(ex: Execution, reason: str | None, message: str | None, generation: int | None,
               now: datetime, previous: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    state = ex.state
    terminal = state.terminal
    succeeded = "True" if state in (State.SUCCESS, State.WARNING) else "False" if terminal else "Unknown"
    running = "True" if state in (State.RUNNING, State.PAUSED, State.KILLING, State.RETRYING) else "False"
    why = reason or state.value.title()
    wanted = [("Running", running, why), ("Succeeded", succeeded, why), ("Completed", "True" if terminal
                                                                        else "False", why)]
    old = {c["type"]: c for c in previous or []}
    out = []
    for ctype, status, r in wanted:
        before = old.get(ctype)
        changed = before is None or before.get("status") != status
        out.append({"type": ctype, "status": status, "reason": r, "message": message or f"execution {state.value}",
                    "lastTransitionTime": ts(now) if changed else before.get("lastTransitionTime"),
                    "observedGeneration": generation})
    return out


def split_outputs(ex: Execution, spilled: set[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """(inline, to spill): outputs stay in the status while small, and in ConfigMaps after that.
    A task run once spilled stays spilled, so the decision never flips between two writes."""
    inline: dict[str, dict] = {}
    spill: dict[str, dict] = {}
    budget = INLINE_OUTPUTS_BUDGET
    for tr in ex.taskRuns:
        if not tr.outputs:
            continue
        size = len(json.dumps(tr.outputs, separators=(",", ":"), default=str))
        if tr.id not in spilled and size <= INLINE_OUTPUTS_BYTES and size <= budget:
            inline[tr.id] = tr.outputs
            budget -= size
        else:
            spill[tr.id] = tr.outputs
    return inline, spill


def _failure(ex: Execution) -> str | None:
    """Why a FAILED execution failed, for `kubectl wait`/`get` users: its first failed task run's error."""
    if ex.state != State.FAILED:
        return None
    tr = next((t for t in ex.taskRuns if t.state == State.FAILED and t.error), None)
    return f"task run {tr.id} failed: {tr.error}" if tr else None


def execution_status(ex: Execution, *, execution_name: str, flow_generation: int | None,
                     generation: int | None, now: datetime, reason: str | None = None,
                     previous: dict[str, Any] | None = None, inline: dict[str, dict] | None = None,
                     outputs_refs: list[str] | None = None) -> dict[str, Any]:
    """The whole status; `inline` holds the outputs kept in it (default: all of them)."""
    runs = []
    for tr in ex.taskRuns:
        item = task_run_status(execution_name, tr)
        if tr.outputs and (inline is None or tr.id in inline):
            item["outputs"] = tr.outputs
        runs.append(item)
    message = ex.error or _failure(ex) or f"execution {ex.state.value}"
    status = {
        "state": ex.state.value, "reason": reason or ex.state.value.title(), "message": message,
        "flowGeneration": flow_generation, "observedGeneration": generation,
        "startDate": ts(ex.startDate), "endDate": ts(ex.endDate),
        "duration": duration(ex.startDate, ex.endDate) if ex.endDate else None,
        "inputs": ex.inputs, "outputs": ex.outputs or None, "labels": ex.labels,
        "histories": [{"state": h.state.value, "date": ts(h.date), **({"reason": h.reason} if h.reason else {})}
                      for h in ex.histories],
        "taskRuns": runs,
        "outputsRefs": outputs_refs or None,
        "conditions": conditions(ex, reason, ex.error or _failure(ex), generation, now,
                                 (previous or {}).get("conditions")),
    }
    if len(runs) > 500 and len(json.dumps(runs, separators=(",", ":"), default=str)) > STATUS_BUDGET:
        for item in runs:
            item.pop("taskId", None)
            if item["state"] in ("SUCCESS", "SKIPPED"):
                item.pop("pod", None)
    return status


def execution_from_status(status: dict[str, Any], *, execution_id: str, namespace: str, flow_id: str,
                          trigger: dict[str, Any] | None, outputs_of: dict[str, dict[str, Any]]) -> Execution:
    """Rebuild the engine's Execution; `outputs_of` supplies outputs kept in ConfigMaps."""
    by_id: dict[str, TaskRun] = {}
    runs: list[TaskRun] = []
    for raw in status.get("taskRuns") or []:
        outputs = raw["outputs"] if "outputs" in raw else outputs_of.get(raw["id"])
        tr = task_run_from_status(raw, by_id, outputs)
        by_id[tr.id] = tr
        runs.append(tr)
    histories = [History(state=State(h["state"]), date=parse_ts(h["date"]), reason=h.get("reason"))
                 for h in status.get("histories") or []]
    return Execution(id=execution_id, namespace=namespace, flowId=flow_id,
                     state=State(status.get("state") or "CREATED"), histories=histories,
                     inputs=status.get("inputs") or {}, labels=status.get("labels") or {}, trigger=trigger,
                     taskRuns=runs, outputs=status.get("outputs") or {},
                     startDate=parse_ts(status.get("startDate")), endDate=parse_ts(status.get("endDate")),
                     error=status.get("message") if status.get("state") in ("FAILED", "KILLED") else None)
