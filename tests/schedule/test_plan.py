"""Missed-tick recovery, concurrency policies, backfill planning, history limits and naming (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kflow.schedule import naming as sn
from kflow.schedule.cron import Cron
from kflow.schedule.plan import (
    Run,
    backfill_id,
    backfill_ticks,
    by_tick,
    decide_tick,
    dry_run,
    plan_backfill,
    plan_schedule,
    to_prune,
)

EVERY5 = Cron("*/5 * * * * *")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def s(n: float) -> datetime:
    return T0 + timedelta(seconds=n)


# ---- missed ticks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("policy,created", [("ALL", [5, 10, 15, 20, 25]), ("LAST", [25]), ("NONE", [])])
def test_recovery_after_five_missed_ticks(policy: str, created: list[int]):
    d = plan_schedule(EVERY5, s(0), s(27), policy, "Allow", [], recovering=True)
    assert d.create == [s(n) for n in created]
    assert d.missed == 5 and d.skipped == 5 - len(created)
    assert d.last == s(25) and d.next == s(30)  # dealt with, whether run or skipped


def test_on_time_ticks_are_not_missed():
    # Restarted 0.5 s after a tick: that tick is on time whatever the policy.
    d = plan_schedule(EVERY5, s(0), s(25.5), "NONE", "Allow", [], recovering=True)
    assert d.create == [s(25)] and d.missed == 4
    # Not recovering (the same scheduler woke up): every due tick runs.
    d = plan_schedule(EVERY5, s(0), s(12), "NONE", "Allow", [], recovering=False)
    assert d.create == [s(5), s(10)] and d.missed == 0


def test_missed_ticks_are_capped_at_100_newest():
    d = plan_schedule(EVERY5, s(0), s(5 * 500 + 1), "ALL", "Allow", [], recovering=True)
    assert d.capped and len(d.create) == 100
    assert d.create[0] == s(5 * 401) and d.create[-1] == s(5 * 500)
    assert d.last == s(5 * 500)


def test_forbid_waits_and_runs_in_order_replace_kills():
    d = plan_schedule(EVERY5, s(0), s(12), "ALL", "Forbid", ["a"], recovering=False)
    assert d.create == [] and d.waiting == 2 and d.last == s(0)
    d = plan_schedule(EVERY5, s(0), s(12), "ALL", "Forbid", [], recovering=False)
    assert d.create == [s(5)] and d.last == s(5) and d.waiting == 1
    # LAST under Forbid with an active run: the older missed ticks are dealt with (skipped) now
    d = plan_schedule(EVERY5, s(0), s(27), "LAST", "Forbid", ["a"], recovering=True)
    assert d.create == [] and d.last == s(20)
    d = plan_schedule(EVERY5, s(0), s(12), "ALL", "Replace", ["a"], recovering=False)
    assert d.kill == ["a"] and d.create == [s(10)]


# ---- backfill -----------------------------------------------------------------------------------------
MONTHLY = Cron("0 9 1 * *")
START, END = datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 3, 31, tzinfo=UTC)
JAN, FEB, MAR = (datetime(2019, m, 1, 9, tzinfo=UTC) for m in (1, 2, 3))


def test_backfill_ticks_and_order(monkeypatch):
    assert backfill_ticks(MONTHLY, START, END, "oldest-first") == [JAN, FEB, MAR]
    assert backfill_ticks(MONTHLY, START, END, "newest-first") == [MAR, FEB, JAN]
    assert backfill_ticks(MONTHLY, JAN, MAR, "oldest-first") == [JAN, FEB, MAR]  # both ends included
    monkeypatch.setattr("kflow.schedule.plan.MAX_BACKFILL_TICKS", 1000)
    with pytest.raises(ValueError, match="more than 1000 ticks"):
        backfill_ticks(Cron("* * * * * *"), START, END, "oldest-first")


def test_backfill_id_ignores_knobs_and_time_spelling():
    a = {"start": "2019-01-01", "end": "2019-03-31T00:00:00Z", "maxActive": 1}
    b = {"start": "2019-01-01T00:00:00Z", "end": "2019-03-31T00:00:00+00:00", "maxActive": 5, "paused": True,
         "reprocess": "missing", "inputs": {}}
    assert backfill_id(a) == backfill_id(b)
    assert backfill_id(a) != backfill_id({**a, "reprocess": "all"})


def test_max_active_and_cursor():
    ticks = [JAN, FEB, MAR]
    plan = plan_backfill(ticks, 0, {}, "b1", "missing", max_active=2, active=0)
    assert [d.tick for d in plan.create] == [JAN, FEB] and plan.position == 2
    plan = plan_backfill(ticks, 2, {}, "b1", "missing", max_active=2, active=2)
    assert plan.create == [] and plan.position == 2
    plan = plan_backfill(ticks, 2, {}, "b1", "missing", max_active=2, active=1)
    assert [d.tick for d in plan.create] == [MAR] and plan.position == 3
    assert plan_backfill(ticks, 0, {}, "b1", "missing", 2, 0, paused=True).create == []


def runs(*specs: tuple) -> dict[datetime, list[Run]]:
    return by_tick(Run(f"t-{tick:%Y%m}-{a}", tick, state, bf, a) for tick, state, bf, a in specs)


def test_reprocess_modes():
    existing = runs((JAN, "SUCCESS", None, 0), (FEB, "FAILED", "old", 0))
    missing = plan_backfill([JAN, FEB, MAR], 0, existing, "b1", "missing", 10, 0)
    assert [(d.tick, d.attempt) for d in missing.create] == [(MAR, 0)] and missing.skipped == 2
    failed = plan_backfill([JAN, FEB, MAR], 0, existing, "b1", "failed", 10, 0)
    assert [(d.tick, d.attempt) for d in failed.create] == [(FEB, 1), (MAR, 0)]  # FEB re-run as -r1
    every = plan_backfill([JAN, FEB, MAR], 0, existing, "b1", "all", 10, 0)
    assert [(d.tick, d.attempt) for d in every.create] == [(JAN, 1), (FEB, 1), (MAR, 0)]


def test_a_backfill_never_runs_a_tick_twice_even_when_it_failed_again():
    existing = runs((FEB, "FAILED", None, 0), (FEB, "FAILED", "b1", 1))  # b1's own re-run failed too
    assert decide_tick(FEB, existing[FEB], "b1", "failed").action == "done"
    assert decide_tick(FEB, existing[FEB], "b2", "failed").attempt == 2  # a new backfill may: -r2
    busy = runs((FEB, "RUNNING", None, 0))
    assert decide_tick(FEB, busy[FEB], "b1", "all").action == "busy"


def test_dry_run_lists_every_tick():
    out = dry_run([JAN, FEB, MAR], runs((JAN, "SUCCESS", None, 0)), "b1", "missing")
    assert [d.action for d in out] == ["skip", "run", "run"]


# ---- history and names -----------------------------------------------------------------------------
def test_history_limits_only_touch_finished_scheduled_runs():
    rs = [Run(f"r{i}", s(i), "SUCCESS") for i in range(5)] + [Run("f1", s(10), "FAILED"), Run("f2", s(11), "KILLED"),
                                                              Run("live", s(0), "RUNNING"),
                                                              Run("bf", s(0), "SUCCESS", "b1")]
    assert to_prune(rs, 3, 1) == ["r0", "r1", "f1"]
    assert to_prune(rs, 0, 0) == ["r0", "r1", "r2", "r3", "r4", "f1", "f2"]


def test_execution_names_are_deterministic_and_short():
    tick = datetime(2019, 1, 1, 9, tzinfo=UTC)
    assert sn.execution_name("taxi", tick, False) == "taxi-201901010900"
    assert sn.execution_name("taxi", tick, True, 2) == "taxi-20190101090000-r2"
    long = sn.execution_name("x" * 80, tick, True, 12)
    assert len(long) <= 63 and long.endswith("-20190101090000-r12")
    assert long == sn.execution_name("x" * 80, tick, True, 12)
    assert sn.execution_name("x" * 80, tick, False) != sn.execution_name("x" * 79 + "y", tick, False)
    assert sn.parse_scheduled_at(sn.scheduled_at_label(tick)) == tick
    assert sn.scheduled_at_label(tick) == "20190101T090000Z"
    assert sn.resource_name("My_Flow.v2") == "my-flow-v2"
    assert sn.inline_trigger_name("taxi", "monthly_Schedule") == "taxi-monthly-schedule"
