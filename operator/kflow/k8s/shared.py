"""In-memory state of one operator process, shared by all handlers (kopf's memo)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from kflow.k8s.config import OperatorConfig
from kflow.k8s.kube import Kube

Key = tuple[str, str]


@dataclass
class Shared:
    kube: Kube
    config: OperatorConfig
    # (namespace, execution) -> event that wakes its driver (pod changed, a slot freed, spec edited)
    wakeups: dict[Key, asyncio.Event] = field(default_factory=dict)
    # (namespace, pod name) -> latest pod seen on the watch (slimmed: see slim_pod), live executions' only
    pods: dict[Key, dict[str, Any]] = field(default_factory=dict)
    # (namespace, execution) -> names of its pods in `pods`, so that its end drops them all
    execution_pods: dict[Key, set[str]] = field(default_factory=lambda: defaultdict(set))
    # (namespace, flow) -> names of executions holding a concurrency slot; None until first counted
    running: dict[Key, set[str] | None] = field(default_factory=lambda: defaultdict(lambda: None))
    flow_locks: dict[Key, asyncio.Lock] = field(default_factory=lambda: defaultdict(asyncio.Lock))
    # executions (ns, name) per flow, with state and creation time, fed by the executions watch
    executions: dict[Key, dict[str, tuple[str | None, str]]] = field(default_factory=lambda: defaultdict(dict))
    # (namespace, execution) -> its running driver task (live executions only; see operator.track_execution)
    drivers: dict[Key, Any] = field(default_factory=dict)
    # (namespace, execution) whose driver ended on its own: not driven again by this process (until deleted)
    finished: set[Key] = field(default_factory=set)
    # pod clean-ups of ended executions waiting for their TTL (kept so the tasks are not collected)
    cleanups: set[Any] = field(default_factory=set)
    # (namespace, execution) -> the stop flag of its clean-up timer (pod TTL, ttlSecondsAfterFinished)
    ending: dict[Key, Any] = field(default_factory=dict)

    def remember_pod(self, namespace: str, name: str, execution: str | None, body: dict[str, Any]) -> None:
        """Cache a pod from the watch. A finished pod of an execution this process has seen end is not
        kept: kept pods (no podTTLSeconds) would otherwise grow the operator with every execution."""
        key = (namespace, execution) if execution else None
        if key in self.finished and (body.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.forget_pod(namespace, name, execution)
            return
        self.pods[(namespace, name)] = slim_pod(body)
        if key is not None:
            self.execution_pods[key].add(name)

    def forget_pod(self, namespace: str, name: str, execution: str | None) -> None:
        self.pods.pop((namespace, name), None)
        names = self.execution_pods.get((namespace, execution)) if execution else None
        if names is not None:
            names.discard(name)
            if not names:
                del self.execution_pods[(namespace, execution)]

    def forget_pods(self, namespace: str, execution: str) -> None:
        """An execution's driver ended: its pods are read from the API if it is ever driven again."""
        for name in self.execution_pods.pop((namespace, execution), ()):
            self.pods.pop((namespace, name), None)

    def wake(self, namespace: str, name: str) -> None:
        event = self.wakeups.get((namespace, name))
        if event is not None:
            event.set()

    def wake_flow(self, namespace: str, flow: str) -> None:
        for name in list(self.executions[(namespace, flow)]):
            self.wake(namespace, name)


def slim_pod(body: dict[str, Any]) -> dict[str, Any]:
    """What the driver reads of a pod (k8s/results.py): its metadata without managedFields, its node and its
    status. The container spec (a whole inline script) and managedFields are most of a pod's bytes."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    return {"metadata": meta, "spec": {"nodeName": (body.get("spec") or {}).get("nodeName")},
            "status": body.get("status") or {}}
