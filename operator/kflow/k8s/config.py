"""Operator settings, from the environment (the Helm chart sets them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import yaml


@dataclass(frozen=True)
class OperatorConfig:
    runtime_image: str = "ghcr.io/kflow-dev/kflow:0.1.0"
    storage_class: str | None = None
    storage_size: str = "1Gi"
    # ReadWriteOnce: the task pods of one execution are kept on one node (pod affinity), so parallel tasks
    # can all attach its volume; ReadWriteMany (a class that offers it): they may spread.
    storage_access_mode: str = "ReadWriteOnce"
    storage_mount: str = "/kflow/storage"
    pod_ttl_seconds: int | None = None
    # Default of Execution.spec.ttlSecondsAfterFinished (None: finished Executions are kept).
    execution_ttl_seconds: int | None = None
    # Default of Execution.spec.keepVolume: the per-execution PVC is deleted when the Execution ends.
    keep_volume: bool = False
    # How long a task pod may sit unable to start (Unschedulable, a missing Secret, an unbound PVC) before
    # its attempt fails; kubelet and scheduler retry those forever.
    start_deadline_seconds: float = 300.0
    # Seconds a running task pod waits for its NotReady or unreachable node before its attempt fails (retries
    # apply): its NoExecute tolerations, and the operator's own check (a one-node cluster never evicts).
    node_lost_seconds: int = 300
    run_as_user: int = 1000
    secrets_from: str | None = None
    worker_command: list[str] = field(default_factory=lambda: ["kflow", "worker"])
    pull_policy: str = "IfNotPresent"
    # Kestra's global plugin defaults (`kestra.plugins.defaults`): a list of {type, values, forced}.
    plugin_defaults: tuple[dict, ...] = ()

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> OperatorConfig:
        env = dict(os.environ if env is None else env)

        def number(key: str, default: Any, kind: type = int) -> Any:
            raw = env.get(key)
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{key}={raw!r}: expected a number") from None

        return cls(
            runtime_image=env.get("KFLOW_RUNTIME_IMAGE", cls.runtime_image),
            storage_class=env.get("KFLOW_STORAGE_CLASS") or None,
            storage_size=env.get("KFLOW_STORAGE_SIZE", cls.storage_size),
            storage_access_mode=env.get("KFLOW_STORAGE_ACCESS_MODE") or cls.storage_access_mode,
            pod_ttl_seconds=number("KFLOW_POD_TTL_SECONDS", None),
            execution_ttl_seconds=number("KFLOW_EXECUTION_TTL_SECONDS", None),
            keep_volume=env.get("KFLOW_KEEP_VOLUME", "false").lower() in ("1", "true", "yes"),
            start_deadline_seconds=number("KFLOW_START_DEADLINE_SECONDS", cls.start_deadline_seconds, float),
            node_lost_seconds=number("KFLOW_NODE_LOST_SECONDS", cls.node_lost_seconds),
            run_as_user=number("KFLOW_RUN_AS_USER", cls.run_as_user),
            secrets_from=env.get("KFLOW_SECRETS_FROM") or None,
            worker_command=(env.get("KFLOW_WORKER_COMMAND") or "kflow worker").split(),
            pull_policy=env.get("KFLOW_PULL_POLICY", cls.pull_policy),
            plugin_defaults=tuple(yaml.safe_load(env.get("KFLOW_PLUGIN_DEFAULTS") or "[]") or ()),
        )
