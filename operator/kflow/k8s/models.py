"""Custom resources of kflow.dev/v1alpha1, as pydantic models: the one source the CRDs are generated from.

- Flow: `spec` is the Kestra flow body unchanged (kflow.model.flow.Flow).
- Execution: a run of a Flow; `status` is written by the operator only.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GROUP = "kflow.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


class _Open(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(_Open):
    """A standard Kubernetes condition (one per type)."""

    type: str = Field(description="condition type, e.g. Ready (Flow) or Completed / Succeeded (Execution)")
    status: Literal["True", "False", "Unknown"]
    reason: str | None = Field(default=None, description="machine-readable CamelCase reason")
    message: str | None = Field(default=None, description="human-readable details")
    lastTransitionTime: str | None = Field(default=None, description="RFC 3339 time the status last changed")
    observedGeneration: int | None = Field(default=None, description="metadata.generation the condition is based on")


class FlowStatus(_Open):
    """Written by the operator after validating a Flow."""

    observedGeneration: int | None = Field(default=None, description="metadata.generation last validated")
    valid: bool | None = Field(default=None, description="whether the Kestra body is valid")
    tasks: int | None = Field(default=None, description="number of tasks at any depth")
    conditions: list[Condition] = Field(default_factory=list, description="Ready: True when the Kestra body is valid")


class FlowRef(_Open):
    name: str = Field(description="name of the Flow resource in the Execution's namespace")


class TriggerVars(_Open):
    """What `{{ trigger.* }}` holds for a scheduled execution (ISO-8601, in the trigger's time zone)."""

    date: str = Field(description="the tick this execution runs for")
    next: str | None = Field(default=None, description="the tick after it")
    previous: str | None = Field(default=None, description="the tick before it")


class ExecutionSpec(_Open):
    """A request to run a Flow once."""

    flowRef: FlowRef = Field(description="the Flow to run")
    inputs: dict[str, Any] = Field(default_factory=dict, description="input values by input id")
    labels: dict[str, str] = Field(default_factory=dict, description="labels added to the execution")
    kill: bool = Field(default=False, description="set to true to kill the running execution")
    trigger: TriggerVars | None = Field(
        default=None, description="`trigger.*` variables, set by a CronTrigger for the tick it runs")


class TaskRunStatus(_Open):
    """One task run (a task, or one iteration of a task inside ForEach)."""

    id: str = Field(description="task run id: the task id, plus loop iterations (`task.0.2`)")
    taskId: str
    parentId: str | None = Field(default=None, description="id of the flowable task run containing it")
    branch: str | None = Field(default=None, description="which child list of the parent (then, errors, ...)")
    iteration: int | None = Field(default=None, description="index of the ForEach value it runs for")
    value: str | None = Field(default=None, description="ForEach value (`taskrun.value`)")
    state: str = Field(description="Kestra task-run state")
    attempts: int | None = Field(default=None, description="number of attempts (runnable tasks)")
    pod: str | None = Field(default=None, description="pod of the last attempt")
    exitCode: int | None = None
    startDate: str | None = None
    endDate: str | None = None
    attemptStartDate: str | None = Field(default=None, description="start of the last attempt (retries)")
    firstAttemptDate: str | None = Field(default=None, description="start of the first attempt (retries)")
    wakeAt: str | None = Field(default=None, description="next retry, end of a Sleep or Pause")
    items: list[str] | None = Field(default=None, description="ForEach values")
    error: str | None = None
    outputs: dict[str, Any] | None = Field(
        default=None, description="task outputs; absent when kept in a ConfigMap of status.outputsRefs")
    preview: list[dict[str, Any]] | None = Field(
        default=None, description="first rows of a fetchType STORE result, for reading (not an output)")


class History(_Open):
    state: str
    date: str


class ExecutionStatus(_Open):
    """Written by the operator only."""

    state: str | None = Field(default=None, description="Kestra execution state: CREATED, QUEUED, RUNNING, "
                                                       "PAUSED, SUCCESS, WARNING, FAILED, KILLED, CANCELLED, ...")
    reason: str | None = Field(default=None, description="short CamelCase reason for the state")
    message: str | None = Field(default=None, description="human-readable details (e.g. the failed task's error)")
    flowGeneration: int | None = Field(default=None, description="generation of the Flow this execution runs")
    observedGeneration: int | None = Field(default=None, description="metadata.generation last acted on")
    startDate: str | None = Field(default=None, description="ISO-8601 UTC start time")
    endDate: str | None = Field(default=None, description="ISO-8601 UTC end time")
    duration: str | None = Field(default=None, description="wall-clock duration, e.g. 12s or 3m4s "
                                                          "(running: so far; for `kubectl get`)")
    inputs: dict[str, Any] | None = Field(default=None, description="resolved, typed inputs")
    outputs: dict[str, Any] | None = Field(default=None, description="flow outputs, once rendered")
    labels: dict[str, str] | None = Field(default=None, description="execution labels (flow + spec + Labels tasks)")
    taskRuns: list[TaskRunStatus] = Field(default_factory=list, description="task runs, in start order")
    conditions: list[Condition] = Field(default_factory=list, description="Completed (True in any final "
                                        "state, for kubectl wait) and Succeeded")
    histories: list[dict[str, str]] | None = Field(default=None, description="state changes: {state, date}")
