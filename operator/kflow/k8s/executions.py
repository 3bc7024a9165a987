"""The Execution driver: one level-based reconcile loop per live Execution.

Each pass reads what is true now (the Execution's status, its pods), feeds finished pods to the pure
engine, carries out the engine's actions (create pods with deterministic names; a 409 means done),
and writes the status. Killing the operator at any point loses nothing: the next pass redoes
whatever had not been recorded, and the names make every create idempotent.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from kflow.engine.machine import Engine, KillTaskRun, LogLine, StartTaskRun, TaskRunResult, Wake
from kflow.engine.state import Execution, State
from kflow.errors import FlowInvalid, InputsInvalid
from kflow.expr import Renderer
from kflow.k8s import actions as requests
from kflow.k8s import (
    file_inputs,
    foreach_items,
    inline_prepare,
    kvstore,
    lifecycle,
    logstore,
    pod_outcome,
    resources,
    snapshot,
    subflows,
    workdirs,
)
from kflow.k8s import naming as n
from kflow.k8s import volumes as shared_files
from kflow.k8s.execution_status import StatusWriter, masking, utcnow
from kflow.k8s.shared import Shared
from kflow.model.flow import Flow, parse_flow
from kflow.runner.storage import ExecutionStorage
from kflow.tasks import nsfiles
from kflow.tasks.base import RunnableTask
from kflow.tasks.core import log_fetch
from kflow.tasks.flow import working_directory as wdir
from kflow.tasks.flow.foreach_item import ForEachItem
from kflow.tasks.flow.waitfor import flat_iterations
from kflow.worker import build_spec

log = logging.getLogger("kflow.executions")
PLURAL = "executions"
ACTIVE = (State.RUNNING, State.PAUSED, State.KILLING, State.RETRYING)


class Pending(Exception):
    """Not ready yet (e.g. the Flow is not there): try again after `delay` seconds."""

    def __init__(self, reason: str, message: str, delay: float = 5.0):
        self.reason, self.delay = reason, delay
        super().__init__(message)


class Driver(StatusWriter):
    def __init__(self, shared: Shared, namespace: str, name: str, post_event: Any = None):
        self.shared = shared
        self.kube = shared.kube
        self.config = shared.config
        self.ns = namespace
        self.name = name
        self.post_event = masking(post_event, self)  # events carry no secret either
        self.flow: Flow | None = None
        self.flow_name: str | None = None
        self.flow_generation: int | None = None
        self.renderer = Renderer(secrets=os.environ)
        self.outputs_of: dict[str, dict] = {}
        self.chunks: dict[str, int] = {}      # outputs ConfigMap -> bytes used
        self.spilled: dict[str, str] = {}     # task run id -> ConfigMap
        self.pvc_ready = False
        self.claim: bool | None = None  # does the execution need its own PVC (k8s/volumes.py)?
        self.waiting: dict[str, str] = {}  # task run id -> why its pod has not started (shown in the status)
        self.last_status: dict[str, Any] | None = None
        self.labels_synced: dict[str, str] | None = None
        self.previews: dict[str, list] = {}
        self._kv: bool | None = None  # does the flow use the KV store (k8s/kvstore.py)?
        self._secrets: list[str] | bool | None = False  # secretsFrom keys its pods get (False: not known yet)
        self.logs = logstore.LogBuffer(self.renderer.mask)  # kept past the pods (k8s/logstore.py)

    # ---- the flow this execution runs, frozen at its start ----------------------------------------
    async def load_flow(self, body: dict[str, Any]) -> Flow:
        if self.flow is not None:
            return self.flow
        snap_name = n.flow_snapshot_name(self.name)
        # A new execution has no snapshot yet (a 409 below says otherwise): no GET for it.
        started = bool((body.get("status") or {}).get("flowGeneration"))
        snap = await self.kube.get_config_map(self.ns, snap_name) if started else None
        if snap is None:
            ref = body["spec"]["flowRef"]["name"]
            flow_obj = await self.kube.get_custom(self.ns, "flows", ref)
            if flow_obj is None:
                raise Pending("FlowNotFound", f"Flow {ref!r} not found in namespace {self.ns}")
            data = {"flow.yaml": yaml.safe_dump(flow_obj.get("spec") or {}, sort_keys=False),
                    "generation": str(flow_obj["metadata"].get("generation", 1)), "name": ref}
            _, created = await self.kube.create(resources.config_map(body, snap_name, data, "flow"))
            snap = {"data": data} if created else await self.kube.get_config_map(self.ns, snap_name)
            assert snap is not None  # ours, or whichever snapshot won
        data = snap.get("data") or {}
        self.flow_name = data.get("name")
        self.flow_generation = int(data.get("generation") or 1)
        raw = yaml.safe_load(data.get("flow.yaml") or "{}") or {}
        raw.setdefault("id", self.flow_name)
        raw.setdefault("namespace", self.ns)
        self.flow = parse_flow(raw, f"Flow {self.flow_name}", "spec", list(self.config.plugin_defaults))
        return self.flow

    # ---- one pass ---------------------------------------------------------------------------------
    async def reconcile(self, body: dict[str, Any]) -> datetime | bool | None:
        """Returns True when the execution is over, else when to look again (None: on the next event)."""
        status = body.get("status") or {}
        spec = body.get("spec") or {}
        now = utcnow()
        if requests.pending(body["metadata"], status):  # restart / resume annotations (k8s/actions.py)
            status = await requests.recover(self, body, status, now)
            body = {**body, "status": status}
        if State(status.get("state") or "CREATED").terminal:
            return True
        try:
            flow = await self.load_flow(body)
        except Pending as exc:
            await self._patch(body, {"state": "CREATED", "reason": exc.reason, "message": str(exc),
                                     "conditions": self._conditions("Unknown", exc.reason, str(exc), body)})
            return now + timedelta(seconds=exc.delay)
        except FlowInvalid as exc:
            return await self._fail_early(body, "InvalidFlow", "; ".join(str(p) for p in exc.problems))
        await self._secret_keys(flow)  # the renderer knows the secrets before anything renders
        engine = Engine(flow, self.renderer)
        if not status.get("state") or (not status.get("taskRuns") and status.get("state") == "CREATED"):
            try:
                files = file_inputs.input_values(self._file_inputs(flow, spec), self._storage(flow))
                ex = engine.create_execution(self.name, {**(spec.get("inputs") or {}), **files}, now,
                                             labels=spec.get("labels") or {}, trigger=spec.get("trigger"))
            except InputsInvalid as exc:
                return await self._fail_early(body, "InvalidInputs", str(exc))
        else:
            await self._load_spilled(status)
            ex = snapshot.execution_from_status(status, execution_id=self.name, namespace=flow.namespace,
                                                flow_id=flow.id, trigger=spec.get("trigger"),
                                                outputs_of=self.outputs_of)
            flat_iterations(engine, ex)  # WaitFor's iterations are not nested by value
        if spec.get("kill") and not ex.state.terminal:
            for action in engine.kill(ex, now):
                await self._kill(ex, action)
        else:
            if ex.state in (State.CREATED, State.QUEUED):
                await self._admit(ex, flow, body, engine, now)
            if ex.state not in (State.CREATED, State.QUEUED) and not ex.state.terminal:
                await self._observe(engine, ex, body)
                self.renderer.kv = await kvstore.load(self.kube, self.ns) if self._uses_kv(flow) else None
                actions = engine.step(ex, utcnow())
                wake = await self._carry_out(engine, ex, body, actions)
                await kvstore.flush(self.kube, self.ns, self.renderer.kv)
                await self._persist(body, ex, now)
                if ex.state.terminal:
                    self._release(body)
                    return True
                return wake
        await self._persist(body, ex, now)
        if ex.state.terminal:
            self._release(body)
            return True
        return None

    def flow_task(self, task_id: str) -> Any:
        return next((t for t in self.flow.all_tasks() if t.id == task_id), None) if self.flow else None

    async def _secret_keys(self, flow: Flow) -> list[str] | None:
        """The secretsFrom keys this execution's pods get (None: all), read once per driver; the
        renderer gets their values too: inline tasks render secret(), everything written is masked."""
        if self._secrets is False:
            from kflow.k8s import secret_refs

            data = await self.kube.secret_data(self.ns, self.config.secrets_from) if self.config.secrets_from else None
            self._secrets, env = secret_refs.for_execution(data, secret_refs.referenced_keys(flow.as_json()))
            self.renderer.add_secrets(env)
        return self._secrets  # type: ignore[return-value]

    def _uses_kv(self, flow: Flow) -> bool:
        if self._kv is None:
            self._kv = kvstore.uses_kv(json.dumps(flow.as_json(), default=str))
        return self._kv

    def _file_inputs(self, flow: Flow, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """FILE inputs of spec.inputsFrom (raises InputsInvalid); every task pod stages them."""
        return file_inputs.plan(flow, spec.get("inputsFrom"))

    async def _worker_volumes(self, spec: dict[str, Any], staged: list[dict[str, Any]],
                              task: Any) -> list[tuple[dict[str, Any], str]]:
        """Read-only volumes the task's worker reads: FILE inputs, the namespace files (labelled ConfigMaps)."""
        out = []
        volume = file_inputs.volume(staged)
        if volume is not None:
            out.append((volume, file_inputs.MOUNT))
        out += file_inputs.execution_volumes(staged)
        nsf = getattr(task, "namespaceFiles", None)
        if nsf is not None and nsf.enabled:
            spec["env"] = {**spec.get("env", {}), nsfiles.ENV: nsfiles.MOUNT}
            cms = await self.kube.list_config_maps(self.ns, f"{nsfiles.LABEL}={n.label_value(self.flow.namespace)}")
            sources = nsfiles.projected_sources(cms)
            if sources:
                out.append(({"name": "kflow-namespace-files", "projected": {"sources": sources}}, nsfiles.MOUNT))
        return out

    # ---- concurrency ------------------------------------------------------------------------------
    async def _admit(self, ex: Execution, flow: Flow, body: dict[str, Any], engine: Engine, now: datetime) -> None:
        if flow.concurrency is None:
            engine.start(ex, now)
            return
        key = (self.ns, self.flow_name or "")
        async with self.shared.flow_locks[key]:
            running = self.shared.running[key]
            if running is None:
                running = self.shared.running[key] = {
                    name for name, (state, _) in self.shared.executions[key].items()
                    if state in {s.value for s in ACTIVE}}
            waiting = sorted((created, name) for name, (state, created) in self.shared.executions[key].items()
                             if name not in running and state in (None, "CREATED", "QUEUED"))
            mine = (body["metadata"].get("creationTimestamp") or "", self.name)
            first = not waiting or min([*waiting, mine]) == mine
            if len(running) < flow.concurrency.limit and (first or flow.concurrency.behavior != "QUEUE"):
                running.add(self.name)
                engine.start(ex, now)
                # Record the slot before anyone else counts: the status write below makes it durable.
                await self._persist(body, ex, now)
                return
        behavior = flow.concurrency.behavior
        if behavior == "QUEUE":
            if ex.state != State.QUEUED:
                engine.queue(ex, now)
                self.post_event("Normal", "Queued", f"waiting for a concurrency slot of flow {self.flow_name}")
        elif behavior == "CANCEL":
            engine.cancel(ex, now, State.CANCELLED, f"concurrency limit {flow.concurrency.limit} reached")
        else:
            engine.cancel(ex, now, State.FAILED, f"concurrency limit {flow.concurrency.limit} reached")

    def _release(self, body: dict[str, Any]) -> None:
        key = (self.ns, self.flow_name or body["spec"]["flowRef"]["name"])
        running = self.shared.running.get(key)
        if running is not None:
            running.discard(self.name)
        self.shared.wake_flow(*key)

    # ---- pods -------------------------------------------------------------------------------------
    def _storage(self, flow: Flow) -> ExecutionStorage:
        return ExecutionStorage(Path(self.config.storage_mount), flow.namespace, flow.id, self.name)

    async def _pod(self, name: str) -> dict[str, Any] | None:
        pod = self.shared.pods.get((self.ns, name))
        if pod is None:
            pod = await self.kube.get_pod(self.ns, name)
        return pod

    async def _observe(self, engine: Engine, ex: Execution, body: dict[str, Any]) -> None:
        for tr in list(ex.taskRuns):
            task = wdir.runnable_view(engine.tasks.get(tr.taskId), tr)  # a WorkingDirectory's Collect attempt
            if tr.state != State.RUNNING or not isinstance(task, RunnableTask) or not tr.attempts:
                continue
            if getattr(task, "child_execution", False):
                if isinstance(task, ForEachItem):
                    await foreach_items.observe(self, engine, ex, tr, task, body)
                else:
                    await subflows.observe(self, engine, ex, tr, task)
                continue
            attempt = len(tr.attempts)
            result = await self.pod_result(engine, ex, tr, task, n.pod_name(self.name, tr.id, attempt))
            if result is not None:
                engine.apply(ex, result, utcnow())

    async def pod_result(self, engine: Engine, ex: Execution, tr: Any, task: Any, pod_name: str) \
            -> TaskRunResult | None:
        return await pod_outcome.pod_result(self, engine, ex, tr, task, pod_name)

    async def _carry_out(self, engine: Engine, ex: Execution, body: dict[str, Any],
                         actions: list[Any]) -> datetime | None:
        wake = None
        for action in actions:
            if isinstance(action, StartTaskRun):
                await self._start(engine, ex, body, action)
            elif isinstance(action, KillTaskRun):
                await self._kill(ex, action)
            elif isinstance(action, LogLine):
                log.info("[%s/%s] %s %s", self.name, action.task_id, action.level, action.message)
                run = ex.task_run(action.run_id)
                self.logs.add(action.level, action.message, action.task_id, action.run_id,
                              len(run.attempts) if run is not None and run.attempts else None)
            elif isinstance(action, Wake):
                wake = action.at
        return wake

    async def _start(self, engine: Engine, ex: Execution, body: dict[str, Any], action: StartTaskRun) -> None:
        if isinstance(action.task, ForEachItem):  # a split pod, then child Executions (k8s/foreach_items.py)
            await self.start_pod(engine, ex, body, action)
            return
        if getattr(action.task, "child_execution", False):  # Subflow: a child Execution (k8s/subflows.py)
            await subflows.start(self, engine, ex, body, action)
            return
        await self.start_pod(engine, ex, body, action)

    async def start_pod(self, engine: Engine, ex: Execution, body: dict[str, Any], action: StartTaskRun,
                        pod_run_id: str | None = None) -> None:
        """The task run attempt's pod (`pod_run_id`: a second pod of the same attempt, named after it)."""
        flow = engine.flow
        if self.claim is None:
            self.claim = shared_files.needs_claim(flow, lifecycle.keeps_volume(body.get("spec") or {}, self.config))
        if self.claim and not self.pvc_ready:
            await self.kube.create(resources.storage_pvc(body, self.config))
            self.pvc_ready = True
        storage = self._storage(flow)
        workdir, shared, wd_task = workdirs.place(engine, ex, action.run_id, action.attempt, self.config.storage_mount)
        spec = build_spec(action.task, action.context, execution_id=self.name, task_run_id=action.run_id,
                          attempt=action.attempt, workdir=workdir, storage=storage, kv=self.renderer.kv)
        if shared:
            spec[wdir.SPEC_KEY] = shared  # the WorkingDirectory's files, staged by its first child
        staged = self._file_inputs(flow, body.get("spec") or {})
        if staged:
            spec["stageInputs"] = file_inputs.worker_entries(staged)
        nsf_task = wd_task if wd_task is not None and getattr(action.task, "namespaceFiles", None) is None \
            else action.task
        volumes = await self._worker_volumes(spec, staged, nsf_task)
        if isinstance(action.task, log_fetch.Fetch):  # the logs so far, as a read-only ConfigMap volume
            await self.logs.flush(self.kube, body)
            target = self.renderer.render(action.task.executionId, action.context) if action.task.executionId \
                else self.name
            volumes.append(({"name": "kflow-logs", "configMap": {"name": logstore.name_for(str(target)),
                                                                 "optional": True}}, logstore.MOUNT))
            spec["env"] = {**spec.get("env", {}), log_fetch.CLUSTER_LOGS_ENV: logstore.MOUNT}
        keys = await self._secret_keys(flow)  # no init container when the operator can prepare the task
        inline = await inline_prepare.pod_script(spec, action.task, volumes, self.config, keys, self.renderer,
                                                 shared=wd_task is not None)
        pod = resources.task_pod(body, flow_name=self.flow_name or "", task=action.task,
                                 task_run_id=pod_run_id or action.run_id,
                                 attempt=action.attempt, worker_spec=spec, timeout=action.timeout,
                                 config=self.config, extra_volumes=volumes, claim=bool(self.claim),
                                 secret_keys=keys, inline=inline)
        _, created = await self.kube.create(pod)
        if created:
            self.post_event("Normal", "TaskStarted",
                            f"task run {action.run_id} attempt {action.attempt}: pod {pod['metadata']['name']}")

    async def _kill(self, ex: Execution, action: KillTaskRun) -> None:
        tr = ex.task_run(action.run_id)
        if tr is not None and getattr(self.flow_task(tr.taskId), "child_execution", False):
            await (foreach_items if isinstance(self.flow_task(tr.taskId), ForEachItem) else subflows).kill(self, tr)
            return
        if tr is not None and tr.attempts:
            await self.kube.delete_pod(self.ns, n.pod_name(self.name, tr.id, len(tr.attempts)))

