"""Helpers of the CronTrigger tests: manifests, a trigger's executions, conditions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clusterlib import Cluster
from operator_harness import get

from kflow.schedule.naming import parse_scheduled_at

# A flow whose executions record their tick (tick_of reads it back).
TICK = """
id: tick
namespace: company.team
tasks:
  - id: t
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
"""


def trigger(name: str, flow: str, cron: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kflow.dev/v1alpha1", "kind": "CronTrigger", "metadata": {"name": name},
            "spec": {"flowRef": {"name": flow}, "cron": cron, **spec}}


def executions_of(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    items = cluster.custom.list_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "executions",
                                                         label_selector=f"kflow.dev/trigger={name}")["items"]
    return sorted(items, key=lambda e: e["metadata"]["name"])


def tick_of(ex: dict[str, Any]) -> datetime:
    return parse_scheduled_at(ex["metadata"]["labels"]["kflow.dev/scheduled-at"])


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == ctype), {})


def ct(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return get(cluster, ns, "crontriggers", name)


def running_interval(ex: dict[str, Any]) -> tuple[datetime, datetime]:
    """[first RUNNING, the state after the last RUNNING] from the status histories."""
    hist = [(h["state"], datetime.fromisoformat(h["date"].replace("Z", "+00:00"))) for h in ex["status"]["histories"]]
    start = next(d for s, d in hist if s == "RUNNING")
    end = max(d for s, d in hist)
    return start, end


def utcnow() -> datetime:
    return datetime.now(UTC)
