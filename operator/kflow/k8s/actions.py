"""Recovery actions on an Execution object, as kubectl users (and `kflow ... --cluster`) ask for them.

Annotations, each with a token that names one request (the CLI counts up: "1", "2", ...):
  kflow.dev/restart: "<token>"                 Kestra Restart (kflow.engine.recovery.restart)
  kflow.dev/resume: "<token>"                  resume a PAUSED execution
  kflow.dev/resume-inputs: '{"name": "value"}' its Pause's onResume inputs (JSON), read with the resume
(kill stays `spec.kill: true`.) The operator carries a request out once and records it in
`status.histories` as the entry's `reason` ("restart 2", or "restart 2 refused: ..."): a request whose
token is there is done, so re-applying the same manifest (GitOps) or patching the same token twice does
nothing, and annotations that Flux does not manage are left alone by its server-side apply.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kflow.engine import recovery
from kflow.engine.state import Execution, History
from kflow.errors import InputsInvalid

PREFIX = "kflow.dev/"
ACTIONS = ("restart", "resume")
RESUME_INPUTS = PREFIX + "resume-inputs"


def requested(meta: dict[str, Any]) -> list[tuple[str, str]]:
    annotations = meta.get("annotations") or {}
    return [(a, str(annotations[PREFIX + a])) for a in ACTIONS if annotations.get(PREFIX + a)]


def done(status: dict[str, Any]) -> set[str]:
    """`<action> <token>` of every request already carried out (or refused)."""
    out = set()
    for h in status.get("histories") or []:
        reason = h.get("reason") or ""
        parts = reason.split(" ", 2)
        if len(parts) >= 2 and parts[0] in ACTIONS:
            out.add(f"{parts[0]} {parts[1]}")
    return out


def pending(meta: dict[str, Any], status: dict[str, Any]) -> list[tuple[str, str]]:
    handled = done(status or {})
    return [(a, t) for a, t in requested(meta or {}) if f"{a} {t}" not in handled]


def apply(ex: Execution, flow: Any, meta: dict[str, Any], action: str, token: str, now: datetime,
          render: Any = None) -> str | None:
    """Carry one request out on `ex` (pure); the error message when refused (recorded too)."""
    reason = f"{action} {token}"
    try:
        if action == "restart":
            recovery.restart(ex, now, reason=reason)
        else:
            raw = (meta.get("annotations") or {}).get(RESUME_INPUTS) or "{}"
            try:
                inputs = json.loads(raw)
            except ValueError:
                raise recovery.RecoveryError(f"{RESUME_INPUTS} is not JSON: {raw[:200]}") from None
            if not isinstance(inputs, dict):
                raise recovery.RecoveryError(f"{RESUME_INPUTS} must be a JSON object of input values")
            recovery.resume(ex, flow, inputs, now, render=render, reason=reason)
    except (recovery.RecoveryError, InputsInvalid) as exc:
        message = f"onResume.{exc.input_id}: {exc}" if isinstance(exc, InputsInvalid) else str(exc)
        ex.histories.append(History(state=ex.state, date=now, reason=f"{reason} refused: {message}"[:1000]))
        return message
    return None


async def recover(driver: Any, body: dict[str, Any], status: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The driver's side: carry out the pending requests on the Execution's status and write it; returns
    the new status (a restarted or resumed execution is live again; the driver goes on with it)."""
    from kflow.k8s import snapshot

    flow = await driver.load_flow(body)
    await driver._load_spilled(status)
    ex = snapshot.execution_from_status(status, execution_id=driver.name, namespace=flow.namespace,
                                        flow_id=flow.id, trigger=(body.get("spec") or {}).get("trigger"),
                                        outputs_of=driver.outputs_of)
    before = {tr.id: len(tr.attempts) for tr in ex.taskRuns}
    for action, token in pending(body["metadata"], status):
        error = apply(ex, flow, body["metadata"], action, token, now,
                      render=lambda v, ctx: driver.renderer.render_value(v, ctx))
        if error:
            driver.post_event("Warning", f"{action.title()}Refused", error[:1000])
            driver.logs.add("WARN", f"{action} {token} refused: {error}")
        else:
            driver.post_event("Normal", f"{action.title()}ed" if action == "restart" else "Resumed",
                              f"{action} {token}: execution {ex.state.value}")
            driver.logs.add("INFO", f"execution {action}ed ({action} {token})")
    for tr in ex.taskRuns:  # reset task runs get new outputs: their spilled copies must not win
        if not tr.outputs and tr.id in driver.spilled and before.get(tr.id) is not None:
            driver.spilled.pop(tr.id, None)
            driver.outputs_of.pop(tr.id, None)
    await driver._persist(body, ex, now)
    return driver.last_status or status
