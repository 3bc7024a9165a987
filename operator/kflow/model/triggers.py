"""Trigger declarations inside a flow (`triggers:`). Schedules are run by CronTrigger resources."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

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
    withSeconds: bool = False
    timezone: str = "UTC"
    recoverMissedSchedules: Literal["ALL", "LAST", "NONE"] | None = None
    lateMaximumDelay: Duration | None = None
    scheduleConditions: list[dict[str, Any]] | None = None
    backfill: dict[str, Any] | None = None
    interval: None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        nick = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
        if value.strip() in nick:
            return value
        fields = value.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(value):
            raise ValueError(f"invalid cron expression {value!r}: expected 5 fields "
                             "(minute hour day-of-month month day-of-week), 6 with seconds, or a nickname")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (expected an IANA name such as Europe/Paris)") \
                from None
        return value


class OpenTrigger(Trigger):
    """Webhook and Flow triggers: declared and kept, not run by kflow yet."""

    model_config = ConfigDict(extra="allow")


TRIGGER_TYPES: dict[str, type[Trigger]] = {
    SCHEDULE: Schedule,
    "io.kestra.plugin.core.trigger.Webhook": OpenTrigger,
    "io.kestra.plugin.core.trigger.Flow": OpenTrigger,
}
