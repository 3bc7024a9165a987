"""ForEachItem on the cluster: a split pod, one child Execution per batch, a merge pod.

The batches live on the parent's volume, which only pods mount, so an attempt goes through three steps,
each recorded on the task run (its outputs while it runs) so that a restarted operator resumes it:
1. split: the attempt's pod runs the task itself (`ForEachItem.run`): it writes the batch files and
   reports their URIs, kept as the task run's `batches`;
2. children: Execution `<parent>-<taskRunId>-<attempt>-<i>` per batch (a repeated create is a 409), at
   most `concurrencyLimit` unfinished at once; `{{ taskrun.items }}` is the batch, handed to a FILE input
   as `inputsFrom.<id>.executionFile` (the child's first pod copies it from the parent's volume);
3. merge: once every child ended, a second pod of the attempt (`<taskRunId>.merge`) writes
   `subflowOutputs`; the task run then ends with the merged outputs (tasks/flow/foreach_item.py `merged`).
"""

from __future__ import annotations

from typing import Any

from kflow.engine.machine import StartTaskRun, TaskRunResult, Walk
from kflow.engine.state import Execution, State, TaskRun
from kflow.errors import TaskFailed
from kflow.k8s import naming as n
from kflow.k8s import subflows
from kflow.tasks.flow import foreach_item as fei
from kflow.tasks.flow import subflow as sf
from kflow.tasks.storage.files import Write

BATCHES = "batches"      # the split's output, kept on the running task run
MERGED = "kflowMerged"    # the merge pod's content, passed in its context (never rendered as a template)


def child_name(parent: str, run_id: str, attempt: int, index: int) -> str:
    return n.dns_label(f"{parent}-{run_id}-{attempt}-{index}", 253)


def merge_run_id(run_id: str) -> str:
    return f"{run_id}.merge"


def merge_task(task: fei.ForEachItem) -> Write:
    return Write.model_validate({"id": task.id, "type": Write.TYPE, "content": "{{ " + MERGED + " }}",
                                 "extension": ".jsonl"})


async def observe(driver: Any, engine: Any, ex: Execution, tr: TaskRun, task: fei.ForEachItem,
                  body: dict[str, Any]) -> None:
    attempt = len(tr.attempts)
    now = subflows.driver_now()
    batches = (tr.outputs or {}).get(BATCHES)
    if batches is None:  # 1. the split pod
        result = await driver.pod_result(engine, ex, tr, task, n.pod_name(driver.name, tr.id, attempt))
        if result is None:
            return
        if result.state != State.SUCCESS:
            engine.apply(ex, result, now)
            return
        batches = list(result.outputs.get(BATCHES) or [])
        tr.outputs = {**(tr.outputs or {}), BATCHES: batches, "numberOfBatches": len(batches)}
    children = await _children(driver, tr.id, attempt, len(batches))
    ended = [children.get(child_name(driver.name, tr.id, attempt, i)) for i in range(len(batches))]
    if not all(c is not None and _terminal(c) for c in ended):  # 2. start children, up to the limit
        await _start_children(driver, engine, ex, body, tr, task, attempt, batches, children)
        return
    results = [(c["metadata"]["name"], c["status"]["state"], (c.get("status") or {}).get("outputs"),
                subflows.why_failed(c.get("status") or {})) for c in ended]
    state, outputs, error = fei.merged(task, results)
    merge_pod = n.pod_name(driver.name, merge_run_id(tr.id), attempt)
    if await driver._pod(merge_pod) is None:  # 3. the merge pod
        context = {**Walk(engine, ex, now).context(tr), MERGED: fei.merged_lines(outputs["outputs"])}
        action = StartTaskRun(tr.id, merge_task(task), attempt, context, None)
        await driver.start_pod(engine, ex, body, action, pod_run_id=merge_run_id(tr.id))
        return
    written = await driver.pod_result(engine, ex, tr, merge_task(task), merge_pod)
    if written is None:
        return
    tr.outputs = {}  # the split's bookkeeping is not an output
    if written.state != State.SUCCESS:
        engine.apply(ex, TaskRunResult(tr.id, attempt, State.FAILED, outputs,
                                       f"writing subflowOutputs: {written.error}"), now)
        return
    engine.apply(ex, TaskRunResult(tr.id, attempt, state, {**outputs, "subflowOutputs": written.outputs.get("uri")},
                                   error), now)


async def _start_children(driver: Any, engine: Any, ex: Execution, body: dict[str, Any], tr: TaskRun,
                          task: fei.ForEachItem, attempt: int, batches: list[str], children: dict[str, dict]) -> None:
    running = sum(1 for c in children.values() if not _terminal(c))
    room = task.concurrencyLimit - running if task.concurrencyLimit else len(batches)
    context = None
    for i, uri in enumerate(batches):
        name = child_name(driver.name, tr.id, attempt, i)
        if name in children:
            continue
        if room <= 0:
            return
        context = context or Walk(engine, ex, subflows.driver_now()).context(tr)
        taskrun = {**(context.get("taskrun") or {}), "items": uri, "iteration": i}
        try:
            plan = sf.plan(task, driver.renderer, {**context, "taskrun": taskrun})
            flow = await subflows.child_flow(driver, engine, plan)
            manifest = subflows.child_manifest(body, name, flow["metadata"]["name"], plan, tr.id)
            subflows.hand_files(manifest, flow, driver.name, driver._storage(engine.flow).prefix)
            created = await subflows.create_child(driver, manifest)
        except TaskFailed as exc:
            engine.apply(ex, TaskRunResult(tr.id, attempt, State.FAILED, {}, str(exc)), subflows.driver_now())
            return
        if created:
            driver.post_event("Normal", "SubflowStarted", f"task run {tr.id}: child Execution {name} (batch {i})")
        room -= 1


async def _children(driver: Any, run_id: str, attempt: int, count: int) -> dict[str, dict]:
    """This attempt's child Executions by name (one list call, not one GET per batch)."""
    names = {child_name(driver.name, run_id, attempt, i) for i in range(count)}
    selector = f"{subflows.L_PARENT}={n.label_value(driver.name)}"
    return {c["metadata"]["name"]: c for c in await driver.kube.list_custom(driver.ns, "executions", selector)
            if c["metadata"]["name"] in names}


def _terminal(child: dict) -> bool:
    state = (child.get("status") or {}).get("state")
    return bool(state) and State(state).terminal


async def kill(driver: Any, tr: TaskRun) -> None:
    """The parent is killed: so are the children that have not ended (their drivers stop their pods)."""
    if not tr.attempts:
        return
    attempt = len(tr.attempts)
    await driver.kube.delete_pod(driver.ns, n.pod_name(driver.name, tr.id, attempt))
    count = len((tr.outputs or {}).get(BATCHES) or [])
    for name, child in (await _children(driver, tr.id, attempt, count)).items():
        if not _terminal(child):
            await driver.kube.patch_custom(driver.ns, "executions", name, {"spec": {"kill": True}})
