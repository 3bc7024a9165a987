"""Pure builders for CronTriggers: the Execution of a tick, CronTriggers from a Flow's Schedule triggers
(inline triggers and `kflow convert`), and the reading of a trigger's executions back into `Run`s."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from kflow.k8s import naming as kn
from kflow.k8s.models import API_VERSION
from kflow.model.triggers import SCHEDULE, TRIGGER_ALIASES
from kflow.schedule import naming as sn
from kflow.schedule.cron import Cron, CronError
from kflow.schedule.plan import Run


def owner_reference(owner: dict[str, Any], controller: bool = True) -> dict[str, Any]:
    # blockOwnerDeletion false: deleting a trigger (or a Flow) never waits for its children's GC.
    meta = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion", API_VERSION), "kind": owner["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": controller, "blockOwnerDeletion": False}


def execution_for_tick(trigger: dict[str, Any], cron: Cron, tick: datetime, *,
                       backfill: dict[str, Any] | None = None, bf_id: str | None = None,
                       attempt: int = 0) -> dict[str, Any]:
    """The Execution a CronTrigger creates for one tick (deterministic name: see kflow.schedule.naming)."""
    meta, spec = trigger["metadata"], trigger.get("spec") or {}
    user_labels = {**(spec.get("labels") or {}), **((backfill or {}).get("labels") or {})}
    labels = {k: v for k, v in user_labels.items() if sn.valid_label(k, str(v))}
    labels.update({sn.L_TRIGGER: sn.label_value(meta["name"]), sn.L_SCHEDULED_AT: sn.scheduled_at_label(tick),
                   kn.L_FLOW: sn.label_value(spec["flowRef"]["name"]), kn.L_MANAGED: "kflow"})
    if backfill is not None:
        labels[sn.L_BACKFILL] = "true"
        labels[sn.L_BACKFILL_ID] = bf_id or ""
    if attempt:
        labels[sn.L_RERUN] = str(attempt)
    return {
        "apiVersion": API_VERSION, "kind": "Execution",
        "metadata": {"name": sn.execution_name(meta["name"], tick, cron.seconds, attempt),
                     "namespace": meta["namespace"], "labels": labels,
                     "ownerReferences": [owner_reference(trigger)]},
        "spec": {
            "flowRef": {"name": spec["flowRef"]["name"]},
            "inputs": {**(spec.get("inputs") or {}), **((backfill or {}).get("inputs") or {})},
            "labels": {k: str(v) for k, v in user_labels.items()},
            "trigger": {"date": cron.local(tick).isoformat(),
                        "next": cron.local(cron.next_after(tick)).isoformat(),
                        "previous": cron.local(cron.previous_before(tick)).isoformat()},
        },
    }


def run_of(execution: dict[str, Any]) -> Run | None:
    """The `Run` an Execution stands for, or None if no trigger created it."""
    labels = execution["metadata"].get("labels") or {}
    try:
        tick = sn.parse_scheduled_at(labels[sn.L_SCHEDULED_AT])
    except (KeyError, ValueError):
        return None
    return Run(name=execution["metadata"]["name"], tick=tick,
               state=(execution.get("status") or {}).get("state"),
               backfill_id=labels.get(sn.L_BACKFILL_ID) or None,
               attempt=int(labels.get(sn.L_RERUN) or 0))


# ---- validation ---------------------------------------------------------------------------------------
def check_backfill(backfill: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
    try:
        start, end = sn.parse_time(str(backfill["start"])), sn.parse_time(str(backfill["end"]))
    except (KeyError, ValueError) as exc:
        raise CronError("InvalidBackfill", f"backfill start and end must be RFC 3339 times: {exc}") from None
    if end < start:
        raise CronError("InvalidBackfill", f"backfill end {sn.iso(end)} is before its start {sn.iso(start)}")
    if end > now:
        raise CronError("InvalidBackfill", f"backfill end {sn.iso(end)} is in the future: future ticks are "
                        "the regular schedule's")
    return start, end


# ---- Schedule triggers of a Flow -----------------------------------------------------------------------
def _labels(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return {str(x.get("key")): str(x.get("value")) for x in raw if isinstance(x, dict)}
    return {}


def schedule_triggers(flow_spec: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for raw in flow_spec.get("triggers") or []:
        if isinstance(raw, dict) and TRIGGER_ALIASES.get(raw.get("type"), raw.get("type")) == SCHEDULE:
            out.append(raw)
    return out


def crontrigger_for(flow_name: str, flow_spec: dict[str, Any], trigger: dict[str, Any]) -> dict[str, Any]:
    """The CronTrigger of one Kestra Schedule trigger of a Flow (no owner reference)."""
    spec: dict[str, Any] = {
        "flowRef": {"name": flow_name},
        "cron": str(trigger.get("cron", "")),
        "timezone": trigger.get("timezone") or "UTC",
        "inputs": copy.deepcopy(trigger.get("inputs") or {}),
        "labels": _labels(trigger.get("labels")),
        "suspend": bool(trigger.get("disabled") or flow_spec.get("disabled")),
        "recoverMissedSchedules": trigger.get("recoverMissedSchedules") or "ALL",
        "concurrencyPolicy": "Allow" if trigger.get("allowConcurrent") else "Forbid",
    }
    return {"apiVersion": API_VERSION, "kind": "CronTrigger",
            "metadata": {"name": sn.inline_trigger_name(flow_name, str(trigger.get("id"))),
                         "labels": {sn.L_FLOW: sn.label_value(flow_name),
                                    sn.L_TRIGGER_ID: sn.label_value(str(trigger.get("id"))),
                                    kn.L_MANAGED: "kflow"}},
            "spec": spec}


def inline_crontriggers(flow: dict[str, Any]) -> list[dict[str, Any]]:
    """CronTriggers the operator keeps for a Flow resource's inline Schedule triggers (owned by the Flow)."""
    meta, spec = flow["metadata"], flow.get("spec") or {}
    out = []
    for trig in schedule_triggers(spec):
        obj = crontrigger_for(meta["name"], spec, trig)
        obj["metadata"]["namespace"] = meta["namespace"]
        obj["metadata"]["ownerReferences"] = [owner_reference(flow)]
        out.append(obj)
    return out


def convert(kestra: dict[str, Any], split_triggers: bool = False) -> list[dict[str, Any]]:
    """A Flow manifest for a plain Kestra flow; with split_triggers, the Flow without its Schedule triggers
    plus one CronTrigger each (named as the operator would name the inline ones)."""
    if not isinstance(kestra, dict) or not kestra.get("id"):
        raise ValueError("not a Kestra flow: expected a map with an `id`")
    name = sn.resource_name(str(kestra["id"]))
    body = copy.deepcopy(kestra)
    docs: list[dict[str, Any]] = []
    if split_triggers:
        schedules = schedule_triggers(body)
        docs = [crontrigger_for(name, body, t) for t in schedules]
        rest = [t for t in body.get("triggers") or [] if t not in schedules]
        if rest:
            body["triggers"] = rest
        else:
            body.pop("triggers", None)
    flow = {"apiVersion": API_VERSION, "kind": "Flow", "metadata": {"name": name}, "spec": body}
    return [flow, *docs]

