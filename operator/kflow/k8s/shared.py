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
    # (namespace, pod name) -> latest pod seen on the watch
    pods: dict[Key, dict[str, Any]] = field(default_factory=dict)
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

    def wake(self, namespace: str, name: str) -> None:
        event = self.wakeups.get((namespace, name))
        if event is not None:
            event.set()

    def wake_flow(self, namespace: str, flow: str) -> None:
        for name in list(self.executions[(namespace, flow)]):
            self.wake(namespace, name)
