"""Schedule triggers for a flow run on this machine (`kflow run --trigger-date`, `kflow backfill --local`):
which Schedule trigger a tick belongs to, and the `trigger.*` variables of its execution (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kflow.model.flow import Flow
from kflow.model.triggers import Schedule
from kflow.schedule.cron import Cron


class TriggerChoiceError(ValueError):
    pass


def schedules(flow: Flow) -> list[Schedule]:
    return [t for t in flow.triggers if isinstance(t, Schedule)]


def cron_of(trigger: Schedule) -> Cron:
    return Cron(trigger.cron, trigger.timezone or "UTC")


def pick_schedule(flow: Flow, trigger_id: str | None, inputs: dict[str, Any],
                  date: datetime | None = None) -> Schedule | None:
    """The Schedule trigger named `trigger_id`; without one, the only Schedule, else the one whose `inputs`
    agree with the given inputs (the taxi flow: `-i taxi=green` is the green schedule), else the one with
    a tick at `date`. None when the flow has no Schedule trigger and none was named."""
    found = schedules(flow)
    if trigger_id is not None:
        for t in flow.triggers:
            if t.id == trigger_id:
                if not isinstance(t, Schedule):
                    raise TriggerChoiceError(f"trigger {trigger_id!r} is a {t.type}, not a Schedule")
                return t
        names = ", ".join(t.id for t in found) or "none"
        raise TriggerChoiceError(f"flow {flow.namespace}.{flow.id} has no trigger {trigger_id!r} "
                                 f"(Schedule triggers: {names})")
    if len(found) <= 1:
        return found[0] if found else None
    agree = [t for t in found if all(str(inputs.get(k, v)) == str(v) for k, v in (t.inputs or {}).items())]
    if len(agree) > 1 and date is not None:
        agree = [t for t in agree if _is_tick(t, date)] or agree
    if len(agree) == 1:
        return agree[0]
    raise TriggerChoiceError(f"flow {flow.namespace}.{flow.id} has {len(found)} Schedule triggers "
                             f"({', '.join(t.id for t in found)}): name one with --trigger")


def _is_tick(trigger: Schedule, date: datetime) -> bool:
    cron = cron_of(trigger)
    return cron.next_after(cron.previous_before(date)) == date


def trigger_variables(flow: Flow, trigger: Schedule | None, date: datetime) -> dict[str, Any]:
    """`trigger.date/next/previous` (in the trigger's timezone, as the scheduler sets them) plus its id and
    type. `date` need not be a tick: a manual run at that date, next/previous are the ticks around it."""
    if trigger is None:
        return {"date": date.isoformat()}
    cron = cron_of(trigger)
    return {"date": cron.local(date).isoformat(), "next": cron.local(cron.next_after(date)).isoformat(),
            "previous": cron.local(cron.previous_before(date)).isoformat(), "id": trigger.id,
            "type": trigger.type}
