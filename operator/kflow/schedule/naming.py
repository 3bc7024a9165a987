"""Deterministic names and labels of schedule-created executions.

An execution is named from its trigger and its tick: `<trigger>-<YYYYMMDDHHMM>` (UTC; `...HHMMSS` when the
cron has a seconds field). Creating it twice hits the same name (409), across restarts and replicas.
A re-run of a tick (backfill `reprocess: failed|all`) is `<trigger>-<stamp>-r<k>`, k = 1, 2, ... one more
than the highest attempt of that tick so far. Names stay within 63 characters (a hash of the trigger name
replaces its tail when too long) so the pod names derived from them stay readable.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

L_TRIGGER = "kflow.dev/trigger"
L_SCHEDULED_AT = "kflow.dev/scheduled-at"
L_BACKFILL = "kflow.dev/backfill"
L_BACKFILL_ID = "kflow.dev/backfill-id"
L_RERUN = "kflow.dev/rerun"
L_FLOW = "kflow.dev/flow"
L_TRIGGER_ID = "kflow.dev/trigger-id"
MAX_NAME = 63


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def resource_name(text: str, limit: int = MAX_NAME) -> str:
    """A DNS-1123 label from any id: lower case, runs of other characters -> '-', hash only when cut."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(clean) <= limit:
        return clean
    return f"{clean[: limit - 9].rstrip('-')}-{_digest(text)}"


def label_value(text: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    if len(clean) > 63:
        clean = clean[:54].rstrip("-._") + "-" + _digest(text)
    return clean


def stamp(tick: datetime, seconds: bool) -> str:
    return tick.astimezone(UTC).strftime("%Y%m%d%H%M%S" if seconds else "%Y%m%d%H%M")


def execution_name(trigger: str, tick: datetime, seconds: bool, attempt: int = 0) -> str:
    suffix = stamp(tick, seconds) + (f"-r{attempt}" if attempt else "")
    room = MAX_NAME - len(suffix) - 1
    head = trigger if len(trigger) <= room else f"{trigger[: room - 9].rstrip('-')}-{_digest(trigger)}"
    return f"{head}-{suffix}"


def scheduled_at_label(tick: datetime) -> str:
    """Label-safe ISO-8601 basic form of a tick, in UTC: 20190101T090000Z."""
    return tick.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_scheduled_at(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def inline_trigger_name(flow: str, trigger_id: str) -> str:
    """CronTrigger of a Flow's inline Schedule trigger (also what `kflow convert --split-triggers` names it)."""
    return resource_name(f"{flow}-{trigger_id}")


def iso(instant: datetime) -> str:
    """RFC 3339 UTC, second precision unless sub-second (status fields)."""
    instant = instant.astimezone(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S") + (f".{instant.microsecond:06d}" if instant.microsecond else "") + "Z"


def parse_time(text: str) -> datetime:
    """RFC 3339 / ISO-8601; a date alone is midnight UTC; no offset means UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def valid_label(key: str, value: str) -> bool:
    name = key.rsplit("/", 1)[-1]
    ok = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
    return bool(re.fullmatch(ok, name)) and len(key) <= 253 and bool(re.fullmatch(f"|{ok}", value))
