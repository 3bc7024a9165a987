"""`io.kestra.plugin.core.execution.Exit`: the execution ends in the state the Exit task names.

Once an Exit task run has succeeded, nothing new starts (Walk.sequence and Dag consult `walk.exited`).
With `state: KILLED` running task runs are killed; with any other state they finish first, then the
execution takes that state. Pure: it reads and updates the Execution handed in.
"""

from __future__ import annotations

from typing import Any

from kflow.engine.state import Execution, State

EXIT_TYPE = "io.kestra.plugin.core.execution.Exit"
STATES = {"SUCCESS": State.SUCCESS, "WARNING": State.WARNING, "FAILED": State.FAILED, "KILLED": State.KILLED,
          "CANCELED": State.CANCELLED, "CANCELLED": State.CANCELLED}


def exited(engine: Any, ex: Execution) -> State | None:
    """The state an Exit task run asked for, if one ran."""
    has_exit = engine.__dict__.get("_has_exit")
    if has_exit is None:
        has_exit = engine.__dict__["_has_exit"] = any(t.TYPE == EXIT_TYPE for t in engine.tasks.values())
    if not has_exit:
        return None
    for tr in ex.taskRuns:
        if tr.state == State.SUCCESS and engine.tasks.get(tr.taskId) is not None \
                and engine.tasks[tr.taskId].TYPE == EXIT_TYPE and tr.outputs.get("state") in STATES:
            return STATES[tr.outputs["state"]]
    return None


def settle(walk: Any, status: State) -> State:
    """The execution's status after an Exit: RUNNING while task runs finish, then the Exit's state."""
    from kflow.engine.machine import KillTaskRun
    from kflow.tasks.base import RunnableTask

    state: State = walk.exited
    engine, ex, now = walk.engine, walk.ex, walk.now
    live = [tr for tr in ex.taskRuns if not tr.state.terminal]
    working = [tr for tr in live if isinstance(engine.tasks.get(tr.taskId), RunnableTask)
               and tr.state in (State.RUNNING, State.RETRYING)]
    if state == State.KILLED:
        for tr in working:
            if tr.state == State.RUNNING:
                walk.actions.append(KillTaskRun(tr.id))
    elif working:
        return State.RUNNING
    for tr in live:  # what waited behind the Exit (its parents, a queued retry) ends with it
        if tr.attempts and not tr.attempts[-1].state.terminal:
            tr.attempts[-1].state, tr.attempts[-1].endDate = State.KILLED, now
        tr.state, tr.endDate, tr.wakeAt = (State.KILLED if state == State.KILLED else state), now, None
    walk.outputs_changed()
    return state
