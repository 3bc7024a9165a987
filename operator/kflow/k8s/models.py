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


class KeySelector(_Open):
    name: str = Field(min_length=1, description="name of the ConfigMap or Secret, in the Execution's namespace")
    key: str = Field(min_length=1, description="the key whose value is the file's content")


class ExecutionFileRef(_Open):
    """A file in another Execution's internal storage (how a parent hands a file to a Subflow child)."""

    execution: str = Field(description="the Execution whose volume holds the file (same namespace)")
    path: str = Field(pattern=r"^[^/].*", description="the file's path below that execution's storage root")


class InputFileSource(_Open):
    """Where a FILE input's content comes from: exactly one of configMapKeyRef, secretKeyRef, url,
    executionFile."""

    configMapKeyRef: KeySelector | None = Field(default=None, description="a ConfigMap key (data or binaryData)")
    secretKeyRef: KeySelector | None = Field(default=None, description="a Secret key")
    url: str | None = Field(default=None, pattern=r"^https?://", description="an http(s) URL, downloaded by "
                            "the execution's first task pod")
    executionFile: ExecutionFileRef | None = Field(
        default=None, description="a file of another Execution of this namespace (Subflow/ForEachItem children: "
        "the parent's), read from its volume by the first task pod")
    filename: str | None = Field(default=None, pattern=r"^[^/]+$", description="file name in internal storage "
                                 "(default: the key, or the URL's last path segment)")


class ExecutionSpec(_Open):
    """A request to run a Flow once."""

    flowRef: FlowRef = Field(description="the Flow to run")
    inputs: dict[str, Any] = Field(default_factory=dict, description="input values by input id")
    inputsFrom: dict[str, InputFileSource] = Field(
        default_factory=dict, description="FILE inputs by input id: their content from a ConfigMap or Secret "
        "key or a URL; the input's value is the file's kestra:// URI", json_schema_extra={"maxProperties": 100})
    labels: dict[str, str] = Field(default_factory=dict, description="labels added to the execution")
    kill: bool = Field(default=False, description="set to true to kill the running execution")
    trigger: TriggerVars | None = Field(
        default=None, description="`trigger.*` variables, set by a CronTrigger for the tick it runs")
    ttlSecondsAfterFinished: int | None = Field(
        default=None, ge=0, description="seconds after the execution ends before the operator deletes it (and "
        "with it its pods, volume and logs ConfigMap); unset: the operator's default (chart value "
        "execution.ttlSecondsAfterFinished), none: kept")
    keepVolume: bool | None = Field(
        default=None, description="keep the execution's working-directory volume after it ends (unset: the "
        "operator's default, chart value execution.keepVolume; by default it is deleted at the end)")


class TaskRunStatus(_Open):
    """One task run (a task, or one iteration of a task inside ForEach)."""

    id: str = Field(description="task run id: the task id, plus loop iterations (`task.0.2`)")
    taskId: str | None = Field(default=None, description="the task id (also the id up to its first dot)")
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


# ---- CronTrigger ------------------------------------------------------------------------------------
class BackfillSpec(_Open):
    """Run the trigger's ticks in [start, end] (both included), alongside the regular schedule."""

    start: str = Field(description="first instant (RFC 3339), e.g. 2019-01-01T00:00:00Z",
                       json_schema_extra={"format": "date-time"})
    end: str = Field(description="last instant (RFC 3339), not in the future",
                     json_schema_extra={"format": "date-time"})
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs merged over the trigger's inputs")
    labels: dict[str, str] = Field(default_factory=dict, description="labels added to backfill executions")
    paused: bool = Field(default=False, description="true: create no new backfill execution for now")
    reprocess: Literal["missing", "failed", "all"] = Field(
        default="missing", description="missing: only ticks without an execution; failed: those and ticks "
        "whose latest attempt failed (re-run as <name>-r<k>); all: every tick")
    maxActive: int = Field(default=1, ge=1, le=1000, description="backfill executions active at once")
    order: Literal["oldest-first", "newest-first"] = Field(default="oldest-first")


class CronTriggerSpec(_Open):
    """Create an Execution of a Flow at every tick of a cron schedule (Kestra's Schedule trigger)."""

    flowRef: FlowRef = Field(description="the Flow to run, in the trigger's namespace")
    cron: str = Field(min_length=1, description="5 fields (min hour dom month dow), 6 with seconds first, or "
                      "a nickname (@hourly @daily @weekly @monthly @yearly)")
    timezone: str = Field(default="UTC", description="IANA time zone the cron is evaluated in")
    inputs: dict[str, Any] = Field(default_factory=dict, description="inputs of the created executions")
    labels: dict[str, str] = Field(default_factory=dict, description="labels of the created executions")
    suspend: bool = Field(default=False, description="true: create nothing (schedule and backfill)")
    recoverMissedSchedules: Literal["ALL", "LAST", "NONE"] = Field(
        default="ALL", description="ticks missed while the operator was down or the trigger suspended: "
        "run ALL (at most 100, the newest), the LAST one, or NONE")
    concurrencyPolicy: Literal["Allow", "Forbid", "Replace"] = Field(
        default="Forbid", description="a tick while a scheduled execution is active: Forbid waits for it "
        "(ticks run in order), Allow runs alongside, Replace kills it")
    successfulExecutionsHistoryLimit: int = Field(
        default=3, ge=0, description="finished successful scheduled executions kept (backfill runs are kept)")
    failedExecutionsHistoryLimit: int = Field(
        default=1, ge=0, description="finished failed scheduled executions kept (backfill runs are kept)")
    backfill: BackfillSpec | None = Field(default=None, description="a declarative backfill")


class BackfillStatus(_Open):
    id: str | None = Field(default=None, description="identity of the backfill (hash of range, mode, "
                           "inputs, labels); label kflow.dev/backfill-id of its executions")
    total: int | None = Field(default=None, description="ticks in the range")
    decided: int | None = Field(default=None, description="ticks decided (run or skipped) so far")
    created: int | None = Field(default=None, description="executions created by this backfill")
    skipped: int | None = Field(default=None, description="ticks not run (nothing to reprocess)")
    active: int | None = None
    succeeded: int | None = None
    failed: int | None = None
    currentTick: str | None = Field(default=None, description="the last tick decided")
    completionTime: str | None = None


class CronTriggerStatus(_Open):
    """Written by the operator only."""

    observedGeneration: int | None = None
    lastScheduleTime: str | None = Field(default=None, description="latest tick dealt with: its execution "
                                         "created, or skipped by recoverMissedSchedules")
    nextScheduleTime: str | None = None
    active: list[str] = Field(default_factory=list, description="active scheduled and backfill executions")
    activeCount: int | None = None
    backfill: BackfillStatus | None = None
    conditions: list[Condition] = Field(default_factory=list, description="Ready, Suspended, BackfillComplete")
