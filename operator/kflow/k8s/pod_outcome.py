"""An attempt's pod read into its result: finished, failed to start, stuck, or deleted under it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from kflow.engine.machine import Engine, TaskRunResult
from kflow.engine.state import Execution, State
from kflow.k8s import results, workdirs
from kflow.k8s.execution_status import utcnow
from kflow.tasks.scripts.common import ScriptTask


async def pod_result(driver: Any, engine: Engine, ex: Execution, tr: Any, task: Any, pod_name: str) \
        -> TaskRunResult | None:
    """The result of the attempt's pod once it ended (or failed to start); None while it runs."""
    attempt = len(tr.attempts)
    pod = await driver._pod(pod_name)
    if pod is None:
        return TaskRunResult(tr.id, attempt, State.FAILED, {}, results.gone(pod_name))
    deleted = results.deleted(pod, utcnow())
    if deleted is not None and deleted[1] and not results.pod_finished(pod):
        return TaskRunResult(tr.id, attempt, State.FAILED, {}, deleted[0])
    lost = results.node_lost(pod, utcnow(), driver.config.node_lost_seconds)
    if lost:  # stopped by its kubelet when the node comes back: never two attempts running at once there
        await driver.kube.delete_pod(driver.ns, pod_name)
        return TaskRunResult(tr.id, attempt, State.FAILED, {}, lost)
    stuck = results.pod_stuck(pod)
    if stuck:  # kubelet would retry forever: fail the attempt (and stop the pod) instead of hanging
        await driver.kube.delete_pod(driver.ns, pod_name)
        return TaskRunResult(tr.id, attempt, State.FAILED, {}, stuck)
    problem = results.start_problem(pod, utcnow(), driver.config.start_deadline_seconds)
    if problem is not None:
        why, late = problem
        if late:  # the scheduler / kubelet would keep trying: fail the attempt (retries apply)
            driver.waiting.pop(tr.id, None)
            await driver.kube.delete_pod(driver.ns, pod_name)
            return TaskRunResult(tr.id, attempt, State.FAILED, {}, why)
        if driver.waiting.get(tr.id) != why:
            driver.post_event("Warning", "TaskPending", f"task run {tr.id} attempt {attempt}: {why}"[:1000])
        driver.waiting[tr.id] = why
        return None
    driver.waiting.pop(tr.id, None)
    if not results.pod_finished(pod):
        return None
    timeout = _timeout(task)
    script = isinstance(task, ScriptTask)
    # the log store keeps every attempt's output: from the termination message when it fit, else one read
    logs = results.inline_log(pod, script)
    if logs is None:
        logs = await driver.kube.pod_log(driver.ns, pod_name, "task")
    driver.logs.pod_log(tr.taskId, tr.id, attempt, logs)
    if script:
        workdir = workdirs.relative(engine, ex, tr.id, attempt)
        storage = driver._storage(engine.flow)
        result = results.script_result(tr.id, attempt, pod, logs, timeout, task.outputFiles or [],
                                       lambda rel, w=workdir, s=storage: s.uri_for_relative(w + rel),
                                       lambda level, msg: None)
    else:
        result = results.builtin_result(tr.id, attempt, pod, logs, timeout)
    if result.preview:
        driver.previews[tr.id] = result.preview
    if deleted is not None and result.state == State.FAILED:  # not "exit code 143": who stopped it
        result = dataclasses.replace(result, error=f"{deleted[0]}; {result.error}")
    return result


def _timeout(task: Any) -> timedelta | None:
    from kflow.model.common import is_template
    from kflow.model.durations import parse_duration

    if not task.timeout or is_template(task.timeout):
        return None
    return parse_duration(task.timeout)
