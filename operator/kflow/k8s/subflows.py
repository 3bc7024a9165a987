"""Subflows on the cluster: a Subflow task run is a child Execution owned by its parent Execution.

The child is named `<parent>-<taskRunId>-<attempt>` (so a repeated create is a 409, never a second child),
labelled `kflow.dev/parent-execution=<parent>`, and found by `kubectl get executions`. Its Flow is the
Flow resource of the parent's Kubernetes namespace whose `spec.id`/`spec.namespace` (namespace defaulting
to the Kubernetes one) match the task's `flowId`/`namespace`; the resource name also matches as a flowId.
The parent's driver is woken when the child changes (operator.track_execution) and reads its state here.
"""

from __future__ import annotations

from typing import Any

from kflow.engine.machine import StartTaskRun, TaskRunResult
from kflow.engine.state import Execution, State, TaskRun
from kflow.errors import TaskFailed
from kflow.k8s import naming as n
from kflow.k8s.models import GROUP, VERSION
from kflow.k8s.resources import owner_reference
from kflow.tasks.flow import subflow as sf

L_PARENT = f"{n.LABEL_PREFIX}/parent-execution"
A_PARENT_RUN = f"{n.LABEL_PREFIX}/parent-task-run"


def child_name(parent: str, run_id: str, attempt: int) -> str:
    return n.dns_label(f"{parent}-{run_id}-{attempt}", 253)


def child_manifest(parent_body: dict[str, Any], name: str, flow_ref: str, plan: sf.ChildPlan,
                   run_id: str) -> dict[str, Any]:
    """The child Execution (pure)."""
    parent = parent_body["metadata"]["name"]
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
            "metadata": {"name": name, "namespace": parent_body["metadata"]["namespace"],
                         "labels": {L_PARENT: n.label_value(parent), n.L_MANAGED: "kflow"},
                         "annotations": {A_PARENT_RUN: run_id},
                         "ownerReferences": [owner_reference(parent_body)]},
            "spec": {"flowRef": {"name": flow_ref}, "inputs": plan.inputs, "labels": plan.labels}}


async def _flow_obj(driver: Any, namespace: str, flow_id: str) -> dict[str, Any] | None:
    flows = await driver.kube.list_custom(driver.ns, "flows")
    by_name = None
    for obj in flows:
        spec = obj.get("spec") or {}
        ns = spec.get("namespace") or driver.ns
        if spec.get("id") == flow_id and ns == namespace:
            return obj
        if obj["metadata"]["name"] == flow_id and ns == namespace:
            by_name = obj
    return by_name


async def child_flow(driver: Any, engine: Any, plan: sf.ChildPlan) -> dict[str, Any]:
    """The Flow resource the child runs (raises TaskFailed: recursion, not found)."""
    if plan.namespace == engine.flow.namespace and plan.flow_id == engine.flow.id:
        raise TaskFailed(f"recursive subflow: {plan.namespace}.{plan.flow_id} runs itself")
    obj = await _flow_obj(driver, plan.namespace, plan.flow_id)
    if obj is None:
        raise TaskFailed(f"flow {plan.namespace}.{plan.flow_id} not found among the Flows of namespace {driver.ns}")
    return obj


def hand_files(manifest: dict[str, Any], flow_obj: dict[str, Any], parent: str, prefix: str) -> None:
    """The parent's files given to the child's FILE inputs (`kestra://` URIs of the parent's storage) become
    `inputsFrom.<id>.executionFile`: each execution's storage only resolves its own URIs (pure)."""
    from urllib.parse import unquote

    from kflow.runner.storage import SCHEME

    file_ids = {str(i.get("id")) for i in (flow_obj.get("spec") or {}).get("inputs") or []
                if isinstance(i, dict) and str(i.get("type", "")).upper() == "FILE"}
    spec = manifest["spec"]
    for key in sorted(file_ids & set(spec["inputs"])):
        value = spec["inputs"][key]
        if isinstance(value, str) and unquote(value).startswith(SCHEME + prefix):
            path = unquote(value)[len(SCHEME + prefix):]
            spec.setdefault("inputsFrom", {})[key] = {"executionFile": {"execution": parent, "path": path}}
            del spec["inputs"][key]


async def create_child(driver: Any, manifest: dict[str, Any]) -> bool:
    """Create the child Execution (False: it existed); an object the API server refuses (422: labels,
    inputs) fails the task run with the server's reason instead of retrying forever."""
    import json

    from kubernetes.client.exceptions import ApiException

    try:
        return await driver.kube.create_custom(driver.ns, "executions", manifest)
    except ApiException as exc:
        if exc.status not in (400, 422):
            raise
        try:
            why = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            why = exc.reason
        raise TaskFailed(f"the API server refused child Execution {manifest['metadata']['name']}: {why}") from None


def why_failed(status: dict[str, Any]) -> str | None:
    return next((f"{t['id']}: {t['error']}" for t in status.get("taskRuns") or []
                 if t.get("state") == "FAILED" and t.get("error")), None) or status.get("message")


async def start(driver: Any, engine: Any, ex: Execution, body: dict[str, Any], action: StartTaskRun) -> None:
    task = action.task
    assert isinstance(task, sf.Subflow)
    name = child_name(driver.name, action.run_id, action.attempt)
    try:
        plan = sf.plan(task, driver.renderer, action.context)
        flow = await child_flow(driver, engine, plan)
        manifest = child_manifest(body, name, flow["metadata"]["name"], plan, action.run_id)
        hand_files(manifest, flow, driver.name, driver._storage(engine.flow).prefix)
        created = await create_child(driver, manifest)
    except TaskFailed as exc:
        engine.apply(ex, TaskRunResult(action.run_id, action.attempt, State.FAILED, {}, str(exc)),
                     driver_now())
        return
    if created:
        driver.post_event("Normal", "SubflowStarted", f"task run {action.run_id}: child Execution {name}")
    if not plan.wait:
        engine.apply(ex, TaskRunResult(action.run_id, action.attempt, State.SUCCESS, sf.started(name)),
                     driver_now())


async def observe(driver: Any, engine: Any, ex: Execution, tr: TaskRun, task: sf.Subflow) -> None:
    attempt = len(tr.attempts)
    name = child_name(driver.name, tr.id, attempt)
    child = await driver.kube.get_custom(driver.ns, "executions", name)
    if child is None:
        engine.apply(ex, TaskRunResult(tr.id, attempt, State.FAILED, {},
                                       f"child Execution {name} disappeared before it ended"), driver_now())
        return
    status = child.get("status") or {}
    state = status.get("state")
    if not state or not State(state).terminal:
        return
    why = why_failed(status)
    result_state, outputs, error = sf.outcome(task, name, state, status.get("outputs"), why)
    engine.apply(ex, TaskRunResult(tr.id, attempt, result_state, outputs, error), driver_now())


async def kill(driver: Any, tr: TaskRun) -> None:
    """The parent is killed: so is the child (its own driver stops its pods)."""
    if tr.attempts:
        name = child_name(driver.name, tr.id, len(tr.attempts))
        if await driver.kube.get_custom(driver.ns, "executions", name) is not None:
            await driver.kube.patch_custom(driver.ns, "executions", name, {"spec": {"kill": True}})


def parent_of(meta: dict[str, Any]) -> str | None:
    """The parent Execution of a child Execution (its owner), for waking the parent's driver."""
    for owner in meta.get("ownerReferences") or []:
        if owner.get("kind") == "Execution":
            return owner.get("name")
    return None


def driver_now() -> Any:
    from kflow.k8s.executions import utcnow

    return utcnow()
