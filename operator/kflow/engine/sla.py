"""Flow SLAs (pure): when a MAX_DURATION deadline passes or an EXECUTION_ASSERTION is false at the end.

A breach adds the SLA's labels and, for behavior FAIL/CANCEL, ends the execution FAILED/CANCELLED;
NONE only labels it. Kestra evaluates an assertion "during the execution"; we evaluate it once the
execution's tasks have ended (before afterExecution), which is when its outcome is known.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kflow.engine.state import State
from kflow.expr import truthy
from kflow.model.durations import parse_duration
from kflow.model.sla import SLA

BEHAVIOR_STATE = {"FAIL": State.FAILED, "CANCEL": State.CANCELLED, "NONE": None}


def duration_breach(slas: list[SLA], start: datetime | None, now: datetime,
                    render: Callable[[str], Any]) -> tuple[SLA | None, datetime | None]:
    """(the first MAX_DURATION SLA past its deadline, else None; the earliest deadline still ahead)."""
    ahead: datetime | None = None
    for sla in slas:
        if sla.type != "MAX_DURATION" or start is None or sla.duration is None:
            continue
        raw = render(sla.duration) if "{{" in sla.duration else sla.duration
        deadline = start + parse_duration(str(raw))
        if now >= deadline:
            return sla, None
        ahead = deadline if ahead is None or deadline < ahead else ahead
    return None, ahead


def assertion_breach(slas: list[SLA], render: Callable[[str], Any]) -> SLA | None:
    for sla in slas:
        if sla.type == "EXECUTION_ASSERTION" and sla.assert_ is not None and not truthy(render(sla.assert_)):
            return sla
    return None


def breach_message(sla: SLA) -> str:
    what = f"duration {sla.duration} exceeded" if sla.type == "MAX_DURATION" else f"assertion {sla.assert_} is false"
    return f"SLA `{sla.id}` violated: {what}"
