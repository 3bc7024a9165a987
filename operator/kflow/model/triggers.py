"""Trigger declarations inside a flow (`triggers:`). Schedules are run by CronTrigger resources."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from kflow.model.common import Duration, Strict

SCHEDULE = "io.kestra.plugin.core.trigger.Schedule"
TRIGGER_ALIASES = {
    "io.kestra.core.models.triggers.types.Schedule": SCHEDULE,
    "io.kestra.core.models.triggers.types.Flow": "io.kestra.plugin.core.trigger.Flow",
    "io.kestra.core.models.triggers.types.Webhook": "io.kestra.plugin.core.trigger.Webhook",
}


class Trigger(Strict):
    TYPE: ClassVar[str] = ""
    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
    type: str
    description: str | None = None
    conditions: list[dict[str, Any]] = Field(default_factory=list)
    disabled: bool = False
    workerGroup: dict[str, Any] | None = None
    logLevel: str | None = None
    labels: dict[str, Any] | list[dict[str, Any]] | None = None
    stopAfter: list[str] | None = None
    logToFile: bool = False
    allowConcurrent: bool = False
    inputs: dict[str, Any] | None = None


class Schedule(Trigger):
    TYPE: ClassVar[str] = SCHEDULE
    cron: str
    withSeconds: bool = Field(default=False, validate_default=True)
    timezone: str = "UTC"
    recoverMissedSchedules: Literal["ALL", "LAST", "NONE"] | None = None
    lateMaximumDelay: Duration | None = None
    scheduleConditions: list[dict[str, Any]] | None = None
    backfill: dict[str, Any] | None = None
    interval: None = None

    # One cron parser for validation and the scheduler (kflow.schedule.cron): same fields, same ranges,
    # same "never matches a date" check.
    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from kflow.schedule.cron import Cron, CronError

        try:
            Cron(value, "UTC")
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("withSeconds")
    @classmethod
    def _seconds(cls, value: bool, info: ValidationInfo) -> bool:
        cron = str(info.data.get("cron") or "").strip()
        if cron and not cron.startswith("@") and (len(cron.split()) == 6) != value:
            raise ValueError(f"cron {cron!r} has {len(cron.split())} fields: withSeconds must be "
                             f"{'true' if not value else 'false'} (6 fields = seconds first)")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from kflow.schedule.cron import CronError, zone

        try:
            zone(value)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return value


class OpenTrigger(Trigger):
    """Webhook and Flow triggers: declared and kept, not run by kflow yet."""

    model_config = ConfigDict(extra="allow")


TRIGGER_TYPES: dict[str, type[Trigger]] = {
    SCHEDULE: Schedule,
    "io.kestra.plugin.core.trigger.Webhook": OpenTrigger,
    "io.kestra.plugin.core.trigger.Flow": OpenTrigger,
}
