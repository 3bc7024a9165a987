"""Flow resources: validated with the engine's model; conditions Valid and Ready name each problem."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kflow.errors import FlowInvalid
from kflow.model.flow import parse_flow


def flow_status(name: str, spec: dict[str, Any], generation: int | None,
                previous: dict[str, Any] | None = None, namespace: str | None = None,
                global_defaults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Pure: the status of a Flow whose spec is `spec`."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = dict(spec or {})
    raw.setdefault("id", name)  # a manifest's id and namespace default to the resource's
    if namespace:
        raw.setdefault("namespace", namespace)
    try:
        flow = parse_flow(raw, None, "spec", global_defaults)
    except FlowInvalid as exc:
        message = "; ".join(str(p) for p in exc.problems)
        valid, tasks, reason = False, None, "InvalidFlow"
    else:
        valid, tasks, reason = True, len(flow.all_tasks()), "Valid"
        message = f"flow {flow.namespace}.{flow.id} is valid: {tasks} task(s)"
    old = {c["type"]: c for c in (previous or {}).get("conditions") or []}

    def cond(ctype: str, status: str) -> dict[str, Any]:
        same = old.get(ctype, {}).get("status") == status
        return {"type": ctype, "status": status, "reason": reason, "message": message[:4000],
                "lastTransitionTime": old[ctype].get("lastTransitionTime") if same else now,
                "observedGeneration": generation}

    flag = "True" if valid else "False"
    return {"observedGeneration": generation, "valid": valid, "tasks": tasks,
            "conditions": [cond("Valid", flag), cond("Ready", flag)]}
