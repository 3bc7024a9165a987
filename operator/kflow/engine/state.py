"""Execution and task-run state (Kestra's states, §8), as plain serializable data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    CREATED = "CREATED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RESTARTED = "RESTARTED"
    KILLING = "KILLING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    QUEUED = "QUEUED"
    RETRYING = "RETRYING"
    RETRIED = "RETRIED"
    SKIPPED = "SKIPPED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.SUCCESS, State.WARNING, State.FAILED, State.KILLED, State.CANCELLED,
                      State.RETRIED, State.SKIPPED})


def iso(dt: datetime | None) -> str | None:
    """Kestra renders instants as ISO-8601 UTC with microseconds and a Z."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Plain slotted dataclasses: the engine touches these on every step, and their producers (engine,
# status snapshot) build them from already-typed values, so validation would only cost time.
_model = dataclass(slots=True, kw_only=True)


@_model
class Attempt:
    state: State
    startDate: datetime
    endDate: datetime | None = None
    exitCode: int | None = None


@_model
class TaskRun:
    id: str
    taskId: str
    parentId: str | None = None
    branch: str = "tasks"
    value: str | None = None
    valuePath: list[str] = field(default_factory=list)
    iteration: int | None = None
    state: State = State.CREATED
    attempts: list[Attempt] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    startDate: datetime | None = None
    endDate: datetime | None = None
    wakeAt: datetime | None = None
    items: list[Any] | None = None
    error: str | None = None


@_model
class History:
    state: State
    date: datetime
    reason: str | None = None  # what caused it, when not the engine: `restart 2` (a recovery action)


@_model
class Execution:
    id: str
    namespace: str
    flowId: str
    flowRevision: int | None = None
    state: State = State.CREATED
    histories: list[History] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    trigger: dict[str, Any] | None = None
    taskRuns: list[TaskRun] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    startDate: datetime | None = None
    endDate: datetime | None = None
    error: str | None = None
    # Flow/task retry with CREATE_NEW_EXECUTION: this execution's attempt number, the first
    # execution of the chain, and when the next one may start once this one ended RETRIED.
    attempt: int = 1
    originalId: str | None = None
    originalStartDate: datetime | None = None
    retryAt: datetime | None = None

    def set_state(self, state: State, now: datetime) -> None:
        if self.state == state and self.histories:
            return
        self.state = state
        self.histories.append(History(state=state, date=now))
        if state.terminal:
            self.endDate = now

    def task_run(self, run_id: str) -> TaskRun | None:
        for tr in self.taskRuns:
            if tr.id == run_id:
                return tr
        return None
