"""The kopf operator: thin handlers around the Flow validator and the Execution driver."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf

from kflow.engine.state import State
from kflow.k8s import actions as requests
from kflow.k8s import (
    crontriggers,  # noqa: F401  (registers the CronTrigger handlers)
    kopf_fixes,
    lifecycle,
    metrics,
    subflows,
)
from kflow.k8s import naming as n
from kflow.k8s.config import OperatorConfig
from kflow.k8s.executions import Driver
from kflow.k8s.flows import flow_status
from kflow.k8s.kube import Kube, load_config
from kflow.k8s.models import GROUP, VERSION
from kflow.k8s.shared import Shared

log = logging.getLogger("kflow.operator")
kopf_fixes.install()
RESYNC_SECONDS = 30.0
DRIVER_BACKOFF = 5.0                # after a driver failed (settings.execution.default_backoff)
DRIVER_CANCELLATION_TIMEOUT = 5.0   # on exit: drivers still running after this are cancelled
METRICS_ADDRESS: str | None = None  # `kflow operator --metrics`


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP, v1=False)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP, key="last-handled",
                                                                             v1=False)
    settings.watching.label_selectors["pods"] = n.L_EXECUTION  # only our pods cross the wire
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 30
    settings.execution.default_backoff = 5
    # kopf's own per-handler "succeeded" events were most Event writes per execution: only its warnings
    # and errors are posted; kflow's events (start, task pods, failure, end) go through kopf.event.
    settings.posting.level = logging.WARNING
    settings.peering.standalone = True
    load_config()
    memo.shared = Shared(kube=Kube(), config=OperatorConfig.from_env())
    if METRICS_ADDRESS:
        metrics.serve(METRICS_ADDRESS, memo.shared.executions)


@kopf.on.probe(id="alive", errors=kopf.ErrorsMode.PERMANENT)
def alive(**_: Any) -> str:
    return datetime.now(UTC).isoformat()


# ---- Flows ----------------------------------------------------------------------------------------
@kopf.on.resume(GROUP, VERSION, "flows")
@kopf.on.create(GROUP, VERSION, "flows")
@kopf.on.update(GROUP, VERSION, "flows", field="spec")
async def validate_flow(name: str, spec: Any, status: Any, meta: Any, body: Any, patch: kopf.Patch,
                        memo: kopf.Memo, **_: Any) -> None:
    new = flow_status(name, dict(spec), meta.get("generation"), dict(status), meta.get("namespace"),
                      list(memo.shared.config.plugin_defaults))
    patch.status.update(new)
    if not new["valid"]:
        kopf.warn(body, reason="InvalidFlow", message=new["conditions"][0]["message"][:1000])


# ---- Executions ------------------------------------------------------------------------------------
# Each live Execution is driven by an asyncio task of ours, started and stopped from the watch events below,
# not by a kopf daemon: kopf keeps the last body of every object of a resource that has a daemon handler
# (ResourceMemory.daemons_memory.live_fresh_body, set on every event, kopf/_core/reactor/processing.py
# process_spawning_cause) for as long as the object exists, finished or not -- ~20 KB per finished
# Execution, which accumulate (backfills keep them all). Our tasks hold a body only while they run.
class Stopped:
    """What the driver is told of its end (kopf's `stopped`): true once stopped; an interruptible wait."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float | None = None) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        return bool(self)


@dataclass
class LiveExecution:
    body: dict[str, Any]  # the latest seen on the watch (spec edits such as kill)
    stopped: Stopped = field(default_factory=Stopped)
    task: asyncio.Task | None = None
    # Seen without a status (nobody has started it) and not driven yet: the first pass needs no GET.
    new: bool = False


@kopf.on.event(GROUP, VERSION, "executions")
async def track_execution(type: str, name: str, namespace: str, body: Any, spec: Any, status: Any, meta: Any,
                          memo: kopf.Memo, **_: Any) -> None:
    shared: Shared = memo.shared
    key = (namespace, name)
    flow = (spec.get("flowRef") or {}).get("name") or ""
    live = shared.drivers.get(key)
    if type == "DELETED":
        if live is not None:
            live.stopped.set()
        _stop_ending(shared, key)
        shared.finished.discard(key)
        shared.executions[(namespace, flow)].pop(name, None)
        running = shared.running.get((namespace, flow))
        if running is not None and name in running:
            running.discard(name)
            shared.wake_flow(namespace, flow)
        shared.wake(namespace, name)
        return
    shared.executions[(namespace, flow)][name] = (status.get("state"), meta.get("creationTimestamp") or "")
    parent = subflows.parent_of(meta)  # a child Execution changed: its parent's Subflow task may be done
    if parent:
        shared.wake(namespace, parent)
    if meta.get("deletionTimestamp"):
        if live is not None:
            live.stopped.set()
    elif live is not None:
        live.body = dict(body)
    elif (_live(status) and key not in shared.finished) or requests.pending(meta, status):
        shared.finished.discard(key)  # a restart or resume request brings an ended execution back
        _stop_ending(shared, key)
        live = shared.drivers[key] = LiveExecution(dict(body), new=not status)
        live.task = asyncio.create_task(_drive(shared, namespace, name, live), name=f"execution {namespace}/{name}")
    elif not _live(status) and status.get("endDate") and key not in shared.ending:
        _after_end(shared, namespace, name, dict(spec), dict(status))  # ended while no operator of ours ran
    shared.wake(namespace, name)


@kopf.on.event("pods", labels={n.L_EXECUTION: kopf.PRESENT})
def track_pod(type: str, name: str, namespace: str, body: Any, labels: Any, annotations: Any, memo: kopf.Memo,
              **_: Any) -> None:
    shared: Shared = memo.shared
    owner = next((o["name"] for o in body.get("metadata", {}).get("ownerReferences") or []
                  if o.get("kind") == "Execution"), None)
    if type == "DELETED":
        shared.forget_pod(namespace, name, owner)
    else:
        shared.remember_pod(namespace, name, owner, dict(body))
    if owner:
        shared.wake(namespace, owner)


def _live(status: Any, **_: Any) -> bool:
    return not State(status.get("state") or "CREATED").terminal


async def _drive(shared: Shared, namespace: str, name: str, live: LiveExecution) -> None:
    """Run the driver until it returns (execution over or gone) or is stopped; retry it when it fails."""
    key = (namespace, name)
    try:
        while not live.stopped:
            try:
                await drive_execution(shared, namespace, name, live, live.stopped)
            except Exception as exc:  # as kopf did for a failed daemon: log, back off, run it again
                log.exception("execution %s/%s: driver failed: %s", namespace, name, exc)
                await live.stopped.wait(DRIVER_BACKOFF)
                continue
            if not live.stopped:
                shared.finished.add(key)  # ended on its own: not driven again by this process
                shared.forget_pods(namespace, name)  # its pods' outcomes are in its status now
            return
    finally:
        if shared.drivers.get(key) is live:
            del shared.drivers[key]


async def drive_execution(shared: Shared, namespace: str, name: str, live: LiveExecution, stopped: Stopped) -> None:
    wake = shared.wakeups.setdefault((namespace, name), asyncio.Event())

    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(live.body, type=kind, reason=reason, message=message)  # ours, whatever posting.level

    driver = Driver(shared, namespace, name, post)
    try:
        while not stopped:
            wake.clear()
            if driver.last_status is None and live.new:
                # A new execution's first pass: the watch's body is all there is (no status was ever
                # written), so no GET. A later driver of it (after a failure) reads the API again.
                live.new = False
                fresh = dict(live.body)
            elif driver.last_status is None:
                # First pass of this process: what the API has now is the truth to resume from.
                fresh = await shared.kube.get_custom(namespace, "executions", name)
                if fresh is None:
                    return
            else:
                # Later passes: the live view (spec edits such as kill) with the status we wrote
                # ourselves, which the watch may not have delivered yet. Nobody else writes it.
                fresh = {**live.body, "status": driver.last_status}
            started = time.perf_counter()
            try:
                result = await driver.reconcile(fresh)
            except Exception as exc:  # an API hiccup or a bug must not kill the driver: retry soon
                log.exception("execution %s/%s: reconcile failed: %s", namespace, name, exc)
                metrics.RECONCILE_ERRORS.labels(namespace).inc()
                result = datetime.now(UTC).timestamp() + 2
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
            if result is True:
                # clean-up in the background: the driver ends now, so a restart or resume request
                # (k8s/actions.py) starts a new one at once
                _after_end(shared, namespace, name, dict(fresh.get("spec") or {}), driver.last_status or {})
                return
            timeout = RESYNC_SECONDS
            if isinstance(result, datetime):
                timeout = min(timeout, max((result - datetime.now(UTC)).total_seconds(), 0.0))
            elif isinstance(result, float):
                timeout = max(result - datetime.now(UTC).timestamp(), 0.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=timeout)
    finally:
        shared.wakeups.pop((namespace, name), None)


@kopf.on.cleanup()
async def stop_drivers(memo: kopf.Memo, **_: Any) -> None:
    """On exit, as kopf did for its daemons: ask the drivers to stop, cancel those still running after 5 s."""
    shared: Shared | None = getattr(memo, "shared", None)
    lives = list(shared.drivers.items()) if shared is not None else []
    for (namespace, name), live in lives:
        live.stopped.set()
        shared.wake(namespace, name)
    for stopped in list(shared.ending.values()) if shared is not None else []:
        stopped.set()
    tasks = [live.task for _, live in lives if live.task is not None]
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=DRIVER_CANCELLATION_TIMEOUT)
        for task in pending:
            task.cancel()


def _after_end(shared: Shared, namespace: str, name: str, spec: dict[str, Any], status: dict[str, Any]) -> None:
    """Pod TTL and ttlSecondsAfterFinished of an ended execution (k8s/lifecycle.py), one timer per execution."""
    key = (namespace, name)
    if shared.config.pod_ttl_seconds is None and lifecycle.expiry(spec, status, shared.config) is None:
        return
    _stop_ending(shared, key)
    stopped = Stopped()

    async def run() -> None:
        try:
            await lifecycle.after_end(shared, namespace, name, spec, status, stopped)
        except Exception as exc:  # an API failure: the next operator start tries again
            log.warning("execution %s/%s: clean-up after its end failed: %s", namespace, name, exc)
        finally:
            if shared.ending.get(key) is stopped:
                del shared.ending[key]

    shared.ending[key] = stopped
    cleanup = asyncio.create_task(run(), name=f"after end {namespace}/{name}")
    shared.cleanups.add(cleanup)
    cleanup.add_done_callback(shared.cleanups.discard)


def _stop_ending(shared: Shared, key: tuple[str, str]) -> None:
    stopped = shared.ending.pop(key, None)
    if stopped is not None:
        stopped.set()


def run(namespaces: list[str] | None = None, liveness: str | None = None, metrics: str | None = None,
        log_format: str = "full") -> None:
    """Run the operator in this process (blocking)."""
    import kflow.k8s.operator as handlers  # noqa: F401  (registers the handlers above)

    global METRICS_ADDRESS
    METRICS_ADDRESS = metrics
    kopf.configure(verbose=False, log_format=kopf.LogFormat[log_format.upper()])

    async def operate(stop_flag: asyncio.Event | None = None) -> None:
        await kopf.operator(clusterwide=not namespaces, namespaces=namespaces or [], liveness_endpoint=liveness,
                            standalone=True, stop_flag=stop_flag)

    if os.environ.get("KFLOW_LEADER_ELECTION", "").lower() in ("1", "true", "yes"):
        from kflow.k8s import leader

        asyncio.run(leader.run_elected(operate, liveness))  # several replicas: one leads (k8s/leader.py)
    else:
        asyncio.run(operate())
