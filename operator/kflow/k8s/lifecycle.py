"""What becomes of an Execution's resources once it ends: its volume, its task pods, then the Execution. The
volume goes first (with the finished pods that mount it), before the terminal status is written, so that
whoever waits for the end (a backfill's `maxActive`, `kubectl wait`) never sees more live volumes than
running executions. With `keepVolume`, task pods go after `podTTLSeconds`, the Execution itself (with its
pods, volume and ConfigMaps, which it owns) after `ttlSecondsAfterFinished`, as for a Job. Timers count from
the status' endDate, so an operator that restarts resumes them where they were."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from kflow.k8s import naming as n
from kflow.k8s.config import OperatorConfig
from kflow.k8s.snapshot import parse_ts

log = logging.getLogger("kflow.lifecycle")
PLURAL = "executions"


def keeps_volume(spec: dict[str, Any], config: OperatorConfig) -> bool:
    value = spec.get("keepVolume")
    return config.keep_volume if value is None else bool(value)


def ttl_seconds(spec: dict[str, Any], config: OperatorConfig) -> int | None:
    value = spec.get("ttlSecondsAfterFinished")
    return config.execution_ttl_seconds if value is None else int(value)


def expiry(spec: dict[str, Any], status: dict[str, Any], config: OperatorConfig) -> datetime | None:
    """When the ended Execution is to be deleted (None: kept)."""
    ttl = ttl_seconds(spec, config)
    end = parse_ts(status.get("endDate"))
    if ttl is None or end is None:
        return None
    return end + timedelta(seconds=ttl)


async def release_volume(kube: Any, spec: dict[str, Any], namespace: str, name: str, config: OperatorConfig,
                         claim: bool | None = True) -> None:
    """The volume, and the finished task pods with it: a PVC stays Terminating while any pod that mounts it
    exists, finished or not (kube-controller-manager's pvc-protection). Their log tails are kept in the
    execution's logs ConfigMap (k8s/logstore.py); `keepVolume` keeps both."""
    if keeps_volume(spec, config) or not claim:  # no claim: no pod ran, or they used an emptyDir (volumes.py)
        return
    for pod in await kube.list_pods(namespace, f"{n.L_EXECUTION}={n.label_value(name)}"):
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            await kube.delete_pod(namespace, pod["metadata"]["name"])
    await kube.delete_pvc(namespace, n.pvc_name(name))


async def after_end(shared: Any, namespace: str, name: str, spec: dict[str, Any], status: dict[str, Any],
                    stopped: Any) -> None:
    """Pods after the pod TTL, the Execution after its own TTL (both optional); stops early when told."""
    config: OperatorConfig = shared.config
    end = parse_ts(status.get("endDate")) or datetime.now(UTC)
    steps: list[tuple[datetime, str]] = []
    if config.pod_ttl_seconds is not None:
        steps.append((end + timedelta(seconds=config.pod_ttl_seconds), "pods"))
    expires = expiry(spec, status, config)
    if expires is not None:
        steps.append((expires, "execution"))
    for at, what in sorted(steps):
        if await stopped.wait(max((at - datetime.now(UTC)).total_seconds(), 0.0)):
            return
        if what == "pods":
            for pod in await shared.kube.list_pods(namespace, f"{n.L_EXECUTION}={n.label_value(name)}"):
                if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):  # not a restarted run's
                    await shared.kube.delete_pod(namespace, pod["metadata"]["name"])
        else:
            now = await shared.kube.get_custom(namespace, PLURAL, name)
            if now is None or (now.get("status") or {}).get("endDate") != status.get("endDate"):
                return  # gone already, or restarted since: its new end starts a new timer
            log.info("execution %s/%s: ttlSecondsAfterFinished passed, deleting it", namespace, name)
            await shared.kube.delete_custom(namespace, PLURAL, name)
            return
