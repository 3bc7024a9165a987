"""How an execution ends (pure): flow outputs, SLAs, and the CREATE_NEW_EXECUTION retry.

Called by `Engine.step` once the task tree is terminal (and, for MAX_DURATION, before each walk).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kflow.engine.outputs import flow_output
from kflow.engine.retry import next_attempt_at
from kflow.engine.sla import BEHAVIOR_STATE, assertion_breach, breach_message, duration_breach
from kflow.engine.state import Execution, State


def end_state(engine: Any, walk: Any, status: State) -> State:
    """The execution's final state once its tasks ended (computed once, afterExecution sees it):
    flow outputs, SLA assertions, then a CREATE_NEW_EXECUTION retry of a failed execution."""
    ex = walk.ex
    if ex.id in engine._ends:
        return engine._ends[ex.id]
    if status != State.KILLED:
        status = flow_outputs(engine, walk, status)
        sla = assertion_breach(engine.flow.sla, lambda v: engine.renderer.render(v, walk.flow_context()))
        if sla is not None:
            status = breach(walk, sla) or status
    if status == State.FAILED:
        at = new_execution_at(engine, ex, walk.now)
        if at is not None:
            ex.retryAt, status = at, State.RETRIED
    engine._ends[ex.id] = status
    return status


def max_duration(engine: Any, walk: Any) -> list[Any] | None:
    """A passed MAX_DURATION: kill what runs, end FAILED/CANCELLED (None: go on, maybe labelled)."""
    ex, now = walk.ex, walk.now
    sla, deadline = duration_breach(engine.flow.sla, ex.startDate, now,
                                    lambda v: engine.renderer.render(v, walk.flow_context()))
    if sla is None:
        if deadline is not None:
            walk.wake(deadline)
        return None
    state = breach(walk, sla)
    if state is None:
        return None  # behavior NONE: labelled, the execution goes on
    actions = engine.kill(ex, now)
    ex.histories.pop()  # kill() ended it KILLED; the SLA's behavior decides
    ex.state = State.RUNNING
    ex.set_state(state, now)
    return actions


def breach(walk: Any, sla: Any) -> State | None:
    ex = walk.ex
    if sla.labels and any(ex.labels.get(k) != v for k, v in sla.labels.items()):
        walk.set_labels(sla.labels)
    state = BEHAVIOR_STATE[sla.behavior]
    if state is not None:
        ex.error = breach_message(sla)
    return state


def new_execution_at(engine: Any, ex: Execution, now: datetime) -> datetime | None:
    """When the next execution of a CREATE_NEW_EXECUTION retry may start, None if none is left."""
    failed = [engine.retries.get(tr.taskId) for tr in ex.taskRuns if tr.state == State.FAILED]
    for retry in [*failed, engine.flow.retry]:
        if retry is not None and retry.behavior == "CREATE_NEW_EXECUTION":
            first = ex.originalStartDate or ex.startDate or now
            return next_attempt_at(retry, ex.attempt, first, now, ex.originalId or ex.id)
    return None


def next_execution(ex: Execution, execution_id: str, now: datetime) -> Execution:
    new = Execution(id=execution_id, namespace=ex.namespace, flowId=ex.flowId,
                    flowRevision=ex.flowRevision, inputs=ex.inputs, labels=dict(ex.labels),
                    trigger=ex.trigger, startDate=now, attempt=ex.attempt + 1,
                    originalId=ex.originalId or ex.id,
                    originalStartDate=ex.originalStartDate or ex.startDate)
    new.set_state(State.CREATED, now)
    return new


def flow_outputs(engine: Any, walk: Any, status: State) -> State:
    if not engine.flow.outputs or status == State.KILLED:
        return status
    ctx = walk.flow_context()
    out: dict[str, Any] = {}
    for o in engine.flow.outputs:
        try:
            out[o.id] = flow_output(engine.renderer, o, ctx)
        except Exception as exc:  # any render/parse problem makes the execution fail, not crash
            if not o.required:
                out[o.id] = None  # Kestra: an optional output that cannot be rendered is null
                continue
            walk.ex.error = f"Invalid output for `{o.id}`: {exc}"
            walk.ex.outputs = out
            return State.FAILED
    walk.ex.outputs = out
    return status
