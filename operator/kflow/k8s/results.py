"""What a finished task pod tells: its attempt's outcome, read from container states and logs (pure)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.engine.machine import TaskRunResult
from kflow.engine.state import State
from kflow.model.durations import format_duration
from kflow.tasks.files import glob_regex
from kflow.worker import INLINE_LOG_KEY, RESULT_KEY

_PROTOCOL = re.compile(r"^::(\{.*\})::$")


def pod_finished(pod: dict[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


# Waiting reasons kubelet retries forever: the task would hang instead of failing.
_STUCK = ("ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerError")


def pod_stuck(pod: dict[str, Any]) -> str | None:
    """Why a container of the pod can never start (e.g. its image cannot be pulled), else None."""
    status = pod.get("status") or {}
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"container {cs.get('name')} cannot start in image {cs.get('image')} ({waiting['reason']}){detail}"
    return None


# DisruptionTarget reasons (set by the control plane when it deletes a pod) that mean the node is gone or
# unreachable: its kubelet may never finish the pod, so the attempt fails at once instead of waiting.
_NODE_LOST = ("DeletionByTaintManager", "DeletionByPodGC")
DELETE_GRACE_SLACK_SECONDS = 15.0


def deleted(pod: dict[str, Any], now: datetime) -> tuple[str, bool] | None:
    """(why the pod is being deleted, whether to fail its attempt now) for a pod deleted by someone other
    than the operator (a user, an eviction, the node's loss), or None. A pod whose kubelet answers ends
    within its grace period (its result then says what happened); one that is still there well after
    that, or whose node is lost, fails now: it would hang the execution."""
    meta = pod.get("metadata") or {}
    when = meta.get("deletionTimestamp")
    if not when:
        return None
    cond = next((c for c in (pod.get("status") or {}).get("conditions") or []
                 if c.get("type") == "DisruptionTarget" and c.get("status") == "True"), None)
    detail = f"{cond.get('reason')}: {cond.get('message')}" if cond else "by a user or a controller"
    why = f"pod {meta.get('name')} was deleted while its task ran ({detail})"
    late = (now - _parse_time(when)).total_seconds() >= DELETE_GRACE_SLACK_SECONDS
    return why, bool(cond and cond.get("reason") in _NODE_LOST) or late


def node_lost(pod: dict[str, Any], now: datetime, seconds: float) -> str | None:
    """Why the running pod's node counts as lost, or None. When a node stops answering, the node controller
    marks its pods not Ready (MarkPodsNotReady) while their containers still read running: a state the
    kubelet itself never reports for a task pod (no readiness probes). A one-node (or fully down) cluster
    never evicts, so the operator decides after `seconds`, as a NoExecute toleration would."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return None
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    containers = status.get("containerStatuses") or []
    if not ready or ready.get("status") != "False" or not ready.get("lastTransitionTime") or not containers \
            or not all("running" in (cs.get("state") or {}) for cs in containers):
        return None
    lost_for = (now - _parse_time(ready["lastTransitionTime"])).total_seconds()
    if lost_for < seconds:
        return None
    node = (pod.get("spec") or {}).get("nodeName") or "its node"
    limit = format_duration(timedelta(seconds=seconds))
    return (f"node {node} of pod {(pod.get('metadata') or {}).get('name')} stopped answering: the pod has not "
            f"been Ready for {format_duration(timedelta(seconds=int(lost_for)))}, over the {limit} allowed "
            "(chart value execution.nodeLostSeconds)")


def gone(pod_name: str) -> str:
    return (f"pod {pod_name} was deleted before it finished (by a user, an eviction or the loss of its node)")


# Reasons that may clear up on their own (a Secret created later, a node freed, a volume bound): the
# attempt waits for them, with the reason in the Execution, and fails after the start deadline.
_WAITING = ("CreateContainerConfigError",)


def start_problem(pod: dict[str, Any], now: datetime, deadline_seconds: float) -> tuple[str, bool] | None:
    """(why the pod has not started, whether its start deadline has passed), or None when it has started
    or is on its way. The deadline counts from the pod's creation."""
    status = pod.get("status") or {}
    if status.get("phase") not in (None, "Pending"):
        return None
    why = None
    for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _WAITING:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            why = f"container {cs.get('name')} cannot start ({waiting['reason']}){detail}"
            break
    if why is None:
        cond = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        if cond.get("status") == "False":
            why = f"pod cannot be scheduled ({cond.get('reason') or 'Unschedulable'}): {cond.get('message') or ''}"
        if any(((cs.get("state") or {}).get("waiting") or {}).get("reason") in ("ContainerCreating", "PodInitializing")
               for cs in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]):
            return None  # pulling a large image takes the time it takes
    created = (pod.get("metadata") or {}).get("creationTimestamp")
    age = (now - _parse_time(created)).total_seconds() if created else 0.0
    late = age >= deadline_seconds
    if why is None and not late:
        return None
    why = why or f"pod has not started (phase {status.get('phase') or 'Pending'})"
    limit = format_duration(timedelta(seconds=deadline_seconds))
    return (f"{why} -- not started within the start deadline of {limit} (chart value "
            "execution.startDeadlineSeconds)" if late else why), late


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


_EXEC = re.compile(r'exec: "([^"]+)": ([^:]+(?:: [^:]+)?)')


def _start_error(pod: dict[str, Any], term: dict[str, Any]) -> str | None:
    """A container that could not even start (StartError: e.g. its image has no /bin/sh)."""
    if term.get("reason") not in ("StartError", "ContainerCannotRun"):
        return None
    image = next((cs.get("image") for cs in (pod.get("status") or {}).get("containerStatuses") or []
                  if cs.get("name") == "task"), "?")
    message = term.get("message") or ""
    m = _EXEC.search(message)
    if m:
        return f"the task's image {image} cannot run {m.group(1)}: {m.group(2)}"
    return f"the task container could not start in image {image}: {message[-500:]}"


def _terminated(pod: dict[str, Any], name: str, init: bool = False) -> dict[str, Any] | None:
    key = "initContainerStatuses" if init else "containerStatuses"
    for cs in (pod.get("status") or {}).get(key) or []:
        if cs.get("name") == name:
            return (cs.get("state") or {}).get("terminated")
    return None


def inline_log(pod: dict[str, Any], script: bool) -> str | None:
    """A script container's whole output when its termination message carries it (it fit, after a
    `::{"kflow.log":true}::` line): then the operator makes no log read. Built-in tasks' pods always
    get one (their tasks may run processes writing to the container's stdout directly)."""
    message = (_terminated(pod, "task") or {}).get("message") or "" if script else ""
    head, sep, rest = message.partition("\n")
    m = _PROTOCOL.match(head.strip())
    try:
        marked = bool(sep and m and json.loads(m.group(1)).get(INLINE_LOG_KEY) is True)
    except (ValueError, AttributeError):
        marked = False
    return rest if marked else None


def _last_result(logs: str) -> dict[str, Any] | None:
    for line in reversed(logs.splitlines()):
        m = _PROTOCOL.match(line.strip())
        if m:
            try:
                msg = json.loads(m.group(1))
            except ValueError:
                continue
            if RESULT_KEY in msg:
                return msg[RESULT_KEY]
    return None


def builtin_result(run_id: str, attempt: int, pod: dict[str, Any], logs: str | None,
                   timeout: timedelta | None) -> TaskRunResult:
    deadline = _deadline(run_id, attempt, pod, timeout)
    if deadline:
        return deadline
    term = _terminated(pod, "task")
    payload: dict[str, Any] | None = None
    if term and term.get("message"):
        try:
            payload = json.loads(term["message"])
        except ValueError:
            payload = None
    if payload is None or payload.get("resultInLogs"):
        payload = _last_result(logs or "")
    if payload is None:
        code = (term or {}).get("exitCode")
        reason = (term or {}).get("reason") or (pod.get("status") or {}).get("reason") or "pod failed"
        return TaskRunResult(run_id, attempt, State.FAILED, {}, f"task pod ended ({reason}, exit code {code}) "
                             "without reporting a result", code)
    return TaskRunResult(run_id, attempt, State(payload["state"]), payload.get("outputs") or {},
                         payload.get("error"), payload.get("exitCode"), payload.get("preview"))


def script_result(run_id: str, attempt: int, pod: dict[str, Any], logs: str, timeout: timedelta | None,
                  output_patterns: list[str], uri_of: Any, on_log: Any) -> TaskRunResult:
    """A script task: `::{"outputs"}::` lines of its log become `vars`, the file list `outputFiles`."""
    deadline = _deadline(run_id, attempt, pod, timeout)
    if deadline:
        return deadline
    prep = _terminated(pod, "prepare", init=True)
    if prep and prep.get("exitCode"):
        error = "preparing the task failed"
        try:
            error = json.loads(prep.get("message") or "{}").get("error") or error
        except ValueError:
            error = prep.get("message") or error
        return TaskRunResult(run_id, attempt, State.FAILED, {}, error, prep.get("exitCode"))
    term = _terminated(pod, "task") or {}
    code = term.get("exitCode")
    start_error = _start_error(pod, term)
    if start_error:
        return TaskRunResult(run_id, attempt, State.FAILED, {"vars": {}, "exitCode": code, "outputFiles": {}},
                             start_error, code)
    variables: dict[str, Any] = {}
    files: list[str] = []
    message = term.get("message") or ""
    text = logs if not message.strip() or "kflow.protocolInLogs" in message else message
    for line in text.splitlines():
        m = _PROTOCOL.match(line.strip())
        if not m:
            on_log("INFO", line)
            continue
        try:
            msg = json.loads(m.group(1))
        except ValueError:
            continue
        if isinstance(msg, dict):
            variables.update(msg.get("outputs") or {})
            files = msg.get("kflow.files", files)
            for entry in msg.get("logs") or []:
                on_log(str(entry.get("level", "INFO")), str(entry.get("message", "")))
    regexes = [glob_regex(p) for p in output_patterns]
    output_files = {f: uri_of(f) for f in sorted(files) if any(rx.match(f) for rx in regexes)}
    outputs = {"vars": variables, "exitCode": code, "outputFiles": output_files}
    if code is None:
        return TaskRunResult(run_id, attempt, State.FAILED, outputs, "task container did not run", None)
    if code == 127:  # POSIX sh: command not found (the log says which)
        return TaskRunResult(run_id, attempt, State.FAILED, outputs, "Command failed with exit code 127: a command "
                             "the script runs is not in the task's image (see the task's logs)", code)
    if code != 0:
        return TaskRunResult(run_id, attempt, State.FAILED, outputs, f"Command failed with exit code {code}",
                             code)
    return TaskRunResult(run_id, attempt, State.SUCCESS, outputs, None, 0)


def _deadline(run_id: str, attempt: int, pod: dict[str, Any], timeout: timedelta | None) -> TaskRunResult | None:
    if (pod.get("status") or {}).get("reason") == "DeadlineExceeded":
        return TaskRunResult(run_id, attempt, State.FAILED, {},
                             f"Timeout after {format_duration(timeout or timedelta())}")
    return None
