"""The expression context of a task run (`flow`, `execution`, `inputs`, `outputs`, `taskrun`, ...)."""

from __future__ import annotations

from typing import Any

from kflow.engine.state import Execution, TaskRun, iso
from kflow.model.flow import Flow


def outputs_map(execution: Execution) -> tuple[dict[str, Any], dict[str, Any]]:
    """`outputs.<task>` (nested by loop values inside ForEach) and `tasks.<task>.state` alike."""
    outputs: dict[str, Any] = {}
    states: dict[str, Any] = {}
    for tr in execution.taskRuns:
        put_view(states, tr, {"state": tr.state.value})
        if tr.outputs:
            put_view(outputs, tr, tr.outputs)
    return outputs, states


def put_view(target: dict[str, Any], tr: TaskRun, value: Any) -> None:
    if not tr.valuePath:
        target[tr.taskId] = value
        return
    node = target.setdefault(tr.taskId, {})
    for v in tr.valuePath[:-1]:
        node = node.setdefault(v, {})
    node[tr.valuePath[-1]] = value


def with_view(target: dict[str, Any], tr: TaskRun, value: Any) -> dict[str, Any]:
    """`put_view` without touching `target`: a new map sharing every branch but the changed one, so a
    context handed out earlier never changes under the task rendering with it."""
    new = dict(target)
    if not tr.valuePath:
        new[tr.taskId] = value
        return new
    node = new[tr.taskId] = dict(new.get(tr.taskId, {}))
    for v in tr.valuePath[:-1]:
        node[v] = node = dict(node.get(v, {}))
    node[tr.valuePath[-1]] = value
    return new


def base_context(flow: Flow, execution: Execution, envs: dict[str, str]) -> dict[str, Any]:
    ctx: dict[str, Any] = {
        "flow": {"id": flow.id, "namespace": flow.namespace, "revision": flow.revision or 1,
                 "tenantId": flow.tenantId},
        "execution": {"id": execution.id, "startDate": iso(execution.startDate),
                      "originalId": execution.id, "state": execution.state.value},
        "inputs": execution.inputs,
        "vars": flow.variables,
        "labels": execution.labels,
        "envs": envs,
        "globals": {},
    }
    if execution.trigger is not None:
        ctx["trigger"] = execution.trigger
        ctx["schedule"] = execution.trigger
    return ctx


def task_run_context(base: dict[str, Any], outputs: dict[str, Any], states: dict[str, Any],
                     execution: Execution, tr: TaskRun, task_type: str,
                     runs_by_id: dict[str, TaskRun]) -> dict[str, Any]:
    ctx = dict(base)
    ctx["outputs"] = outputs
    ctx["tasks"] = states
    ctx["task"] = {"id": tr.taskId, "type": task_type}
    ctx["taskrun"] = {
        "id": tr.id, "startDate": iso(tr.startDate), "attemptsCount": max(len(tr.attempts) - 1, 0),
        "parentId": tr.parentId, "value": tr.value, "iteration": tr.iteration,
    }
    parents = []
    parent = runs_by_id.get(tr.parentId) if tr.parentId else None
    while parent is not None:
        parents.append({"taskrun": {"value": parent.value, "id": parent.id}, "outputs": parent.outputs})
        parent = runs_by_id.get(parent.parentId) if parent.parentId else None
    if parents:
        ctx["parent"] = parents[0]
        ctx["parents"] = parents
    return ctx
