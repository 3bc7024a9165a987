"""io.kestra.plugin.core.flow.Subflow: start an execution of another flow, wait for it, take its outputs.

The engine hands it to the adapter like a runnable task (a `StartTaskRun`), but no process runs it: the
adapter starts a *child execution* (`child_execution = True`) and reports back when the child ends.
- `kflow run` (`kflow.runner.subflows`): the child flow is looked up by namespace and id among the flow
  files of the parent's folder, of `kflow run --flows DIR` and of `$KFLOW_FLOWS`; the child runs in
  this process, in the same storage root, and is recorded in the history as its own execution.
- the operator (`kflow.k8s.subflows`): a child Execution named `<parent>-<taskRunId>-<attempt>`, owned
  by the parent (deleting the parent deletes it), visible with `kubectl get executions`.
Both adapters use `plan()` (what to start) and `outcome()` (the task run's end) below, so the same flow
gives the same state and outputs in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kflow.engine.state import State
from kflow.errors import TaskFailed
from kflow.model.common import normalize_labels
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register

CORRELATION = "system.correlationId"


@register("io.kestra.core.tasks.flows.Subflow", "io.kestra.core.tasks.flows.Flow",
          "io.kestra.plugin.core.flow.Flow")
class Subflow(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.Subflow"
    child_execution: ClassVar[bool] = True
    isolate: ClassVar[bool] = False

    namespace: str
    flowId: str
    revision: int | None = None
    inputs: dict[str, Any] | None = None
    labels: dict[str, str] | list[dict[str, Any]] | None = None
    wait: bool = True
    transmitFailed: bool = True
    inheritLabels: bool = False
    scheduleDate: str | None = None
    outputs: dict[str, Any] | None = Field(default=None, description="deprecated: child outputs by name")
    restartBehavior: str | None = None

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: Any) -> Any:
        normalize_labels(value)  # a clear error at validation time, the map is rebuilt at run time
        return value

    def run(self, ctx: Any) -> dict[str, Any]:
        raise TaskFailed("a Subflow is started by the runner as a child execution, not as a process")


@dataclass
class ChildPlan:
    namespace: str
    flow_id: str
    inputs: dict[str, Any]
    labels: dict[str, str]
    wait: bool
    transmit_failed: bool
    trigger: dict[str, Any] = field(default_factory=dict)


def plan(task: Subflow, renderer: Any, context: dict[str, Any]) -> ChildPlan:
    """The child to start, rendered with the task run's context (raises TaskFailed on a bad render)."""
    from kflow.expr import RenderError

    try:
        namespace = str(renderer.render(task.namespace, context))
        flow_id = str(renderer.render(task.flowId, context))
        inputs = renderer.render_value(task.inputs or {}, context)
        own = normalize_labels(renderer.render_value(task.labels, context)) if task.labels else {}
    except (RenderError, ValueError) as exc:
        raise TaskFailed(str(exc)) from None
    parent_labels = dict(context.get("labels") or {})
    labels: dict[str, str] = {}
    if task.inheritLabels:
        labels.update({k: v for k, v in parent_labels.items() if not k.startswith("system.")})
    labels.update(own)
    execution = context.get("execution") or {}
    labels[CORRELATION] = parent_labels.get(CORRELATION) or str(execution.get("id") or "")
    flow = context.get("flow") or {}
    trigger = {"type": Subflow.TYPE, "executionId": execution.get("id"), "namespace": flow.get("namespace"),
               "flowId": flow.get("id"), "flowRevision": flow.get("revision")}
    return ChildPlan(namespace, flow_id, inputs if isinstance(inputs, dict) else {}, labels, task.wait,
                     task.transmitFailed, trigger)


def started(child_id: str) -> dict[str, Any]:
    """Outputs of a Subflow with `wait: false` once its child exists (the task succeeds then)."""
    return {"executionId": child_id}


def outcome(task: Subflow, child_id: str, child_state: str, child_outputs: dict[str, Any] | None,
            child_error: str | None = None) -> tuple[State, dict[str, Any], str | None]:
    """The Subflow task run's state, outputs and error once its child ended in `child_state`."""
    state = State(child_state)
    outputs: dict[str, Any] = {"executionId": child_id, "state": state.value}
    if child_outputs:
        outputs["outputs"] = child_outputs
    if task.outputs:  # the deprecated form: values rendered against the child's outputs (kept as given)
        outputs.update({k: v for k, v in task.outputs.items() if k not in outputs})
    if state in (State.FAILED, State.KILLED, State.CANCELLED) and task.transmitFailed:
        why = f": {child_error}" if child_error else ""
        return State.FAILED, outputs, f"subflow execution {child_id} ended {state.value}{why}"
    if state == State.WARNING and task.transmitFailed:
        return State.WARNING, outputs, None
    return State.SUCCESS, outputs, None


def static_problems(flow: Any, body: dict[str, Any], prefix: str) -> list[Any]:
    """A flow calling itself (literal namespace and flowId): Kestra rejects recursive flows."""
    from kflow.errors import Problem
    from kflow.model.common import is_template
    from kflow.model.flow import _raw_tasks
    from kflow.tasks.registry import canonical_type

    out = []
    for path, raw in _raw_tasks(body, prefix):
        if canonical_type(str(raw.get("type"))) != Subflow.TYPE:
            continue
        ns, fid = raw.get("namespace"), raw.get("flowId")
        if any(is_template(v) for v in (ns, fid)):
            continue
        if ns == flow.namespace and fid == flow.id:
            out.append(Problem(f"{path}.flowId", f"recursive flow: {ns}.{fid} cannot run itself as a subflow"))
    return out
