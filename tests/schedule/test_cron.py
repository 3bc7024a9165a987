"""Cron parsing and tick iteration in a time zone, including the daylight-saving policy (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kflow.schedule.cron import Cron, CronError


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(cron: Cron, ticks) -> list[str]:
    return [cron.local(t).isoformat() for t in ticks]


def test_five_fields_nicknames_and_seconds_first():
    assert list(Cron("0 9 1 * *").ticks(utc(2019, 1, 1), utc(2019, 3, 31), inclusive_start=True)) == \
        [utc(2019, 1, 1, 9), utc(2019, 2, 1, 9), utc(2019, 3, 1, 9)]
    assert Cron("@daily").next_after(utc(2024, 1, 1, 5)) == utc(2024, 1, 2)
    assert Cron("@hourly").next_after(utc(2024, 1, 1, 5, 1)) == utc(2024, 1, 1, 6)
    every5 = Cron("*/5 * * * * *")
    assert every5.seconds and not Cron("@weekly").seconds
    assert list(every5.ticks(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 12))) == \
        [utc(2024, 1, 1, 0, 0, 5), utc(2024, 1, 1, 0, 0, 10)]
    assert every5.previous_before(utc(2024, 1, 1, 0, 0, 5)) == utc(2024, 1, 1)
    assert Cron("0 0 * * 7").next_after(utc(2024, 1, 1)) == utc(2024, 1, 7)  # 7 = Sunday, like Kestra
    assert Cron("0 0 * * MON").next_after(utc(2024, 1, 2)) == utc(2024, 1, 8)


def test_time_zone_and_offsets():
    paris = Cron("0 9 * * *", "Europe/Paris")
    assert paris.next_after(utc(2024, 1, 1)) == utc(2024, 1, 1, 8)
    assert paris.next_after(utc(2024, 7, 1)) == utc(2024, 7, 1, 7)
    assert paris.local(utc(2024, 7, 1, 7)).isoformat() == "2024-07-01T09:00:00+02:00"


@pytest.mark.parametrize("expr,tz,reason", [
    ("61 * * * *", "UTC", "InvalidCron"), ("* * *", "UTC", "InvalidCron"), ("0 0 30 2 *", "UTC", "InvalidCron"),
    ("hello", "UTC", "InvalidCron"), ("* * * * * * *", "UTC", "InvalidCron"),
    ("0 9 * * *", "Mars/Olympus", "UnknownTimeZone"), ("0 9 * * *", "", "UnknownTimeZone"),
])
def test_invalid(expr: str, tz: str, reason: str):
    with pytest.raises(CronError) as err:
        Cron(expr, tz)
    assert err.value.reason == reason
    assert (expr if reason == "InvalidCron" else tz) in str(err.value) or "never" in str(err.value)


def test_dst_skipped_local_time_runs_once_at_the_end_of_the_gap():
    # Europe/Paris, 2024-03-31: 02:00 CET -> 03:00 CEST; 02:30 does not exist that night.
    daily = Cron("30 2 * * *", "Europe/Paris")
    assert local(daily, daily.ticks(utc(2024, 3, 29), utc(2024, 4, 2))) == [
        "2024-03-29T02:30:00+01:00", "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:00:00+02:00",  # the first valid instant after the gap: not skipped, not 03:30
        "2024-04-01T02:30:00+02:00"]
    # Several wall times inside one gap collapse into that single run; the 03:00 tick is the same instant.
    many = Cron("0,30 2,3 * * *", "Europe/Paris")
    assert local(many, many.ticks(utc(2024, 3, 30, 23), utc(2024, 3, 31, 3))) == [
        "2024-03-31T03:00:00+02:00", "2024-03-31T03:30:00+02:00"]
    assert daily.next_after(utc(2024, 3, 31, 0, 59)) == utc(2024, 3, 31, 1)
    assert daily.previous_before(utc(2024, 3, 31, 12)) == utc(2024, 3, 31, 1)


def test_dst_repeated_local_time_runs_once_at_the_first_occurrence():
    # America/New_York, 2024-11-03: 02:00 EDT -> 01:00 EST; 01:30 happens twice.
    daily = Cron("30 1 * * *", "America/New_York")
    assert local(daily, daily.ticks(utc(2024, 11, 2), utc(2024, 11, 5))) == [
        "2024-11-02T01:30:00-04:00", "2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00"]
    # A sub-hourly schedule runs each wall-clock time once: nothing during the second 01:xx.
    often = Cron("*/20 * * * *", "America/New_York")
    assert local(often, often.ticks(utc(2024, 11, 3, 5, 30), utc(2024, 11, 3, 7, 30))) == [
        "2024-11-03T01:40:00-04:00", "2024-11-03T02:00:00-05:00", "2024-11-03T02:20:00-05:00"]
    # Asked from inside the second 01:xx, the next tick is 02:00 EST, not a repeat.
    assert often.next_after(utc(2024, 11, 3, 6, 10)) == utc(2024, 11, 3, 7)
    # ... and the previous one is 01:40 EDT (first pass), although its wall time is later than 01:10 EST.
    assert often.previous_before(utc(2024, 11, 3, 6, 10)) == utc(2024, 11, 3, 5, 40)


def test_hourly_year_has_8760_ticks_and_is_fast():
    import time

    t0 = time.monotonic()
    ticks = list(Cron("0 * * * *").ticks(utc(2023, 1, 1), utc(2023, 12, 31, 23), inclusive_start=True))
    assert len(ticks) == 8760 and time.monotonic() - t0 < 5
