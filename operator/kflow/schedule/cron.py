"""Cron expressions evaluated in an IANA time zone, with an explicit daylight-saving policy.

Syntax: 5 fields (`min hour dom month dow`), 6 fields with seconds *first* (`sec min hour dom month dow`, as
Kestra's `withSeconds: true`), or a nickname (`@yearly @annually @monthly @weekly @daily @midnight
@hourly`). Day-of-month and day-of-week combine with OR when both are restricted (Vixie cron, croniter).

Ticks are computed on the local wall clock of the zone, then mapped to instants (stored in UTC):

- **Skipped local time** (spring forward, e.g. 02:30 on the night 02:00 jumps to 03:00): the tick runs
  **once, at the first valid instant after the gap** (03:00 local). A daily job must not silently lose a
  day (Argo skips such ticks and users ask for catch-up); running at the end of the gap keeps the tick's
  order and its day. Several wall times inside one gap collapse into that single run.
- **Repeated local time** (fall back, 01:30 happens twice): the tick runs **once, at the first
  occurrence** (PEP 495 `fold=0`, the earlier instant). Nothing runs twice for one wall-clock time; a
  sub-hourly schedule therefore pauses during the repeated hour. Schedules that must follow absolute time
  should use `timezone: UTC`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from croniter.croniter import CroniterError

NICKNAMES = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
             "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"}


class CronError(ValueError):
    """An invalid cron expression or time zone; `reason` is a CamelCase condition reason."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError("UnknownTimeZone", f"unknown time zone {name!r}: expected an IANA name such as "
                        "Europe/Paris or UTC") from None


@dataclass(frozen=True)
class Cron:
    expression: str
    timezone: str = "UTC"
    tz: tzinfo = field(init=False, repr=False, compare=False)
    fields: str = field(init=False, repr=False, compare=False)
    seconds: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = " ".join(self.expression.split())
        text = NICKNAMES.get(text.lower(), text)
        parts = text.split(" ")
        if len(parts) not in (5, 6) or not croniter.is_valid(text, second_at_beginning=len(parts) == 6):
            raise CronError("InvalidCron", f"invalid cron expression {self.expression!r}: expected 5 fields "
                            "(minute hour day-of-month month day-of-week), 6 with seconds first, or a "
                            "nickname such as @daily")
        object.__setattr__(self, "fields", text)
        object.__setattr__(self, "seconds", len(parts) == 6)
        object.__setattr__(self, "tz", zone(self.timezone))
        try:  # croniter accepts e.g. `0 0 30 2 *`, which never happens: say so now, not at the first tick
            self._wall_next(datetime(2000, 1, 1))
        except CroniterError:
            raise CronError("InvalidCron", f"cron expression {self.expression!r} never matches a date") from None

    # ---- wall clock ------------------------------------------------------------------------------
    def _iter(self, start: datetime, backwards: bool = False) -> croniter:
        return croniter(self.fields, start, is_prev=backwards, second_at_beginning=self.seconds,
                        max_years_between_matches=30)

    def _wall_next(self, wall: datetime) -> datetime:
        return self._iter(wall).get_next(datetime)

    def _instant(self, wall: datetime) -> datetime:
        """The UTC instant a local wall-clock tick runs at (the DST policy of the module docstring)."""
        first = wall.replace(tzinfo=self.tz, fold=0)
        if first.astimezone(UTC).astimezone(self.tz).replace(tzinfo=None) == wall:
            return first.astimezone(UTC)  # exists (fold=0: the first of a repeated time)
        return _gap_end(wall, self.tz)

    def _wall(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz).replace(tzinfo=None)

    # ---- instants --------------------------------------------------------------------------------
    def next_after(self, instant: datetime) -> datetime:
        """The first tick strictly after `instant` (aware), in UTC."""
        instant = instant.astimezone(UTC)
        # From the wall time of `instant`: inside a repeated hour's second pass, the wall times ahead map
        # to their first occurrence (behind `instant`) and are passed over.
        it = self._iter(self._wall(instant))
        while True:
            tick = self._instant(it.get_next(datetime))
            if tick > instant:
                return tick

    def previous_before(self, instant: datetime) -> datetime:
        """The last tick strictly before `instant` (aware), in UTC."""
        instant = instant.astimezone(UTC)
        wall = instant.astimezone(self.tz)
        # In a repeated hour's second pass, ticks of the first pass have later wall times: start an hour on.
        start = wall.replace(tzinfo=None) + (timedelta(hours=1) if wall.fold else timedelta(0))
        it = self._iter(start, backwards=True)
        while True:
            tick = self._instant(it.get_prev(datetime))
            if tick < instant:
                return tick

    def ticks(self, after: datetime, until: datetime, inclusive_start: bool = False) -> Iterator[datetime]:
        """Ticks in (after, until] ([after, until] if inclusive_start), oldest first, each once."""
        after, until = after.astimezone(UTC), until.astimezone(UTC)
        cur = after - timedelta(microseconds=1) if inclusive_start else after
        # One wall-clock iterator: wall times only move forward and map to non-decreasing instants.
        it = self._iter(self._wall(cur))
        while True:
            tick = self._instant(it.get_next(datetime))
            if tick > until:
                return
            if tick > cur:  # also drops the repeats of one DST gap (same instant) and of a repeated hour
                yield tick
                cur = tick

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz)


def _gap_end(wall: datetime, tz: tzinfo) -> datetime:
    """First valid instant after the DST gap containing the nonexistent wall time `wall`."""
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)   # post-gap offset: an instant before the gap
    hi = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)   # pre-gap offset: an instant after the gap
    after = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):  # bisect for the first second on the new offset
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi
