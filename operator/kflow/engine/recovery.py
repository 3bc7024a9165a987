"""Kestra's recovery actions on an execution (§8), pure: restart, replay, resume. They edit (or copy) the
Execution; the engine then carries on from it as from any other state.

- restart: same execution. Task runs that FAILED or were KILLED (or never ended: a crashed run) are reset
  for a new attempt (their earlier attempts kept, so attempt numbers go on), their flowable ancestors run
  again, error handlers / finally / afterExecution runs are removed (they run again if needed); successful
  task runs and their outputs are kept. The execution goes RESTARTED, then RUNNING at the next step.
- replay: a new execution (`originalId` the old one) with the task runs that came before the chosen one
  copied with their outputs; the chosen task run and everything after it run again.
- resume: a PAUSED execution's paused task runs end their pause, with the Pause's `onResume` inputs typed
  and validated as flow inputs are, available as `outputs.<pause>.onResume.<input>`.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kflow.engine.state import Execution, State, TaskRun
from kflow.errors import InputsInvalid

_RERUN = frozenset({State.FAILED, State.KILLED, State.CANCELLED})
_HANDLERS = frozenset({"errors", "finally", "afterExecution"})


class RecoveryError(ValueError):
    """The action does not apply to this execution (one line for the user)."""


def _ancestors(runs: dict[str, TaskRun], tr: TaskRun) -> list[TaskRun]:
    out = []
    while tr.parentId and tr.parentId in runs:
        tr = runs[tr.parentId]
        out.append(tr)
    return out


def _descendants(runs: list[TaskRun], roots: set[str]) -> set[str]:
    found = set(roots)
    for tr in runs:  # parents are always created before their children
        if tr.parentId in found:
            found.add(tr.id)
    return found


def _in_handler(runs: dict[str, TaskRun], tr: TaskRun) -> bool:
    return tr.branch in _HANDLERS or any(a.branch in _HANDLERS for a in _ancestors(runs, tr))


def _reset(tr: TaskRun) -> None:
    """Ready for a new attempt: the engine starts it (or re-evaluates a flowable) as a new task run."""
    tr.state, tr.endDate, tr.wakeAt, tr.error = State.CREATED, None, None, None
    tr.outputs = {}


def _reopen(tr: TaskRun) -> None:
    """A flowable parent of re-run task runs: running again, its own fields kept (ForEach items...)."""
    tr.state, tr.endDate, tr.error = State.RUNNING, None, None


def restart(ex: Execution, now: datetime, *, crashed: bool = False, reason: str | None = None) -> list[str]:
    """Restart `ex` in place; return the ids of the task runs that will run again. `crashed`: no process
    drives this non-terminal execution any more (its runner died), so it may be restarted too."""
    if not (ex.state.terminal or ex.state == State.PAUSED or crashed):
        raise RecoveryError(f"execution {ex.id} is {ex.state.value}: it must be terminated to be restarted "
                            "(kill it first)")
    if ex.state == State.SUCCESS:
        raise RecoveryError(f"execution {ex.id} ended SUCCESS: nothing to restart (replay it instead)")
    by_id = {tr.id: tr for tr in ex.taskRuns}
    handlers = {tr.id for tr in ex.taskRuns if _in_handler(by_id, tr)}
    failed = [tr for tr in ex.taskRuns if tr.id not in handlers
              and (tr.state in _RERUN or (crashed and not tr.state.terminal) or tr.state == State.PAUSED)]
    # a failed flowable whose children failed re-runs through them; one that failed on its own is reset
    leaves = [tr for tr in failed if not any(c.parentId == tr.id and c in failed for c in ex.taskRuns)]
    if not leaves and ex.state not in (State.FAILED, State.KILLED, State.CANCELLED) and not crashed:
        raise RecoveryError(f"execution {ex.id} ({ex.state.value}) has no failed task run to restart")
    reopened: set[str] = set()
    for tr in leaves:
        _reset(tr)
        for parent in _ancestors(by_id, tr):
            if parent.id not in reopened:
                reopened.add(parent.id)
                _reopen(parent)
    ex.taskRuns[:] = [tr for tr in ex.taskRuns if tr.id not in handlers]
    ex.error, ex.endDate, ex.outputs = None, None, {}
    ex.set_state(State.RESTARTED, now)
    ex.histories[-1].reason = reason
    return [tr.id for tr in leaves]


def replay(ex: Execution, from_run: str | None, new_id: str, now: datetime) -> tuple[Execution, list[str]]:
    """A copy of `ex` named `new_id`, ready to run from task run (or task id) `from_run` (None: from the
    start, same inputs). Returns it and the ids of the task runs copied from `ex`."""
    runs = ex.taskRuns
    by_id = {tr.id: tr for tr in runs}
    start = len(runs)
    if from_run is not None:
        chosen = by_id.get(from_run) or next((tr for tr in runs if tr.taskId == from_run), None)
        if chosen is None:
            ids = ", ".join(dict.fromkeys(tr.taskId for tr in runs)) or "none"
            raise RecoveryError(f"execution {ex.id} has no task run {from_run!r} (its tasks: {ids})")
        start = runs.index(chosen)
        redo = _descendants(runs, {chosen.id})
    else:
        start, redo = 0, set()
    ancestors = set() if from_run is None else {a.id for a in _ancestors(by_id, runs[start])}
    kept: list[TaskRun] = []
    for i, tr in enumerate(runs):
        if tr.id in ancestors:
            clone = copy.deepcopy(tr)
            _reopen(clone)
            kept.append(clone)
        elif i < start and tr.id not in redo and tr.state in (State.SUCCESS, State.WARNING, State.SKIPPED) \
                and not _in_handler(by_id, tr):
            kept.append(copy.deepcopy(tr))
    new = Execution(id=new_id, namespace=ex.namespace, flowId=ex.flowId, flowRevision=ex.flowRevision,
                    inputs=copy.deepcopy(ex.inputs), labels=dict(ex.labels), trigger=copy.deepcopy(ex.trigger),
                    taskRuns=kept, startDate=now)
    new.originalId = getattr(ex, "originalId", None) or ex.id  # Kestra's execution.originalId
    new.set_state(State.CREATED, now)
    return new, [tr.id for tr in kept if tr.id not in ancestors]


def rewrite_uris(value: Any, old_prefix: str, new_prefix: str) -> Any:
    """Outputs copied into a replay name the copies of their files: kestra:// URIs under the original's
    prefix move to the new execution's."""
    if isinstance(value, str):
        return new_prefix + value[len(old_prefix):] if value.startswith(old_prefix) else value
    if isinstance(value, dict):
        return {k: rewrite_uris(v, old_prefix, new_prefix) for k, v in value.items()}
    if isinstance(value, list):
        return [rewrite_uris(v, old_prefix, new_prefix) for v in value]
    return value


def resume(ex: Execution, flow: Any, inputs: dict[str, Any], now: datetime,
           render: Any = None, reason: str | None = None) -> list[str]:
    """End the pause of `ex`'s PAUSED task runs with `onResume` inputs (InputsInvalid if one is bad,
    nothing changed then). Returns the resumed task run ids."""
    from kflow.model.inputs import Input, resolve_inputs

    if ex.state != State.PAUSED:
        raise RecoveryError(f"execution {ex.id} is {ex.state.value}, not PAUSED: nothing to resume")
    tasks = {t.id: t for t in flow.all_tasks()}
    paused = [tr for tr in ex.taskRuns if tr.state == State.PAUSED and not any(
        c.parentId == tr.id and c.state == State.PAUSED for c in ex.taskRuns)]
    if not paused:
        raise RecoveryError(f"execution {ex.id} has no paused task run")
    typed: dict[str, dict[str, Any]] = {}
    declared_all: set[str] = set()
    for tr in paused:
        declared = [Input.model_validate(d) for d in getattr(tasks.get(tr.taskId), "onResume", None) or []]
        declared_all |= {d.id for d in declared}
        typed[tr.id] = resolve_inputs(declared, inputs, render)
    unknown = sorted(set(inputs) - declared_all)
    if unknown:
        raise InputsInvalid(unknown[0], f"the paused task has no onResume input `{unknown[0]}`"
                            + (f" (declared: {', '.join(sorted(declared_all))})" if declared_all else ""))
    for tr in paused:
        tr.outputs = {**tr.outputs, "resumed": True, "onResume": typed[tr.id]}
    ex.set_state(State.RUNNING, now)
    ex.histories[-1].reason = reason
    return [tr.id for tr in paused]
