"""What a CronTrigger should create now: a pure function of its spec, its status and its executions.

Regular schedule (`plan_schedule`)
- `lastScheduleTime` is the latest tick *dealt with*: its execution was created, or it was skipped on
  purpose (recoverMissedSchedules, the cap). Ticks in (lastScheduleTime, now] are due.
- Missed ticks: when the scheduler (re)starts for a trigger (operator restart, end of a suspension, the
  Flow appearing) due ticks older than `GRACE` were missed. ALL runs them (at most `MISSED_CAP` = 100, the
  newest; beyond that a Warning event tells to backfill the rest), LAST runs the newest, NONE none.
- concurrencyPolicy, among the trigger's *scheduled* executions (backfill runs are ruled by maxActive):
  Allow creates every due tick; Forbid (default, Kestra's trigger lock) creates the oldest due tick only
  when none is active, the others wait in order; Replace kills the active ones and runs the newest tick.

Backfill (`plan_backfill`): ticks in [start, end] in `order`; a tick is run when `reprocess` says so
(missing: no execution yet; failed: none, or its latest attempt failed; all: always), unless its latest
attempt is still active or this very backfill already handled it (label kflow.dev/backfill-id, so a
restart never runs a tick twice). At most `maxActive` backfill executions are active at once. A cursor
(`status.backfill.currentTick`) remembers how far the decisions went.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from kflow.engine.state import State
from kflow.schedule.cron import Cron

MISSED_CAP = 100
GRACE = timedelta(seconds=1)
MAX_BACKFILL_TICKS = 100_000
FAILED = {"FAILED", "KILLED", "CANCELLED"}
Policy = Literal["ALL", "LAST", "NONE"]
Concurrency = Literal["Allow", "Forbid", "Replace"]
Reprocess = Literal["missing", "failed", "all"]


@dataclass(frozen=True)
class Run:
    """One execution created by a trigger, as the operator sees it."""

    name: str
    tick: datetime
    state: str | None = None
    backfill_id: str | None = None   # None: created by the regular schedule
    attempt: int = 0                 # 0, or k of a `-r<k>` re-run

    @property
    def active(self) -> bool:
        return not State(self.state or "CREATED").terminal

    @property
    def failed(self) -> bool:
        return self.state in FAILED

    @property
    def succeeded(self) -> bool:
        return not self.active and not self.failed


# ---- the regular schedule ---------------------------------------------------------------------------
@dataclass
class ScheduleDecision:
    create: list[datetime] = field(default_factory=list)
    last: datetime | None = None      # new lastScheduleTime
    next: datetime | None = None      # first tick after now
    missed: int = 0                   # missed ticks found (a lower bound when capped)
    skipped: int = 0                  # missed ticks not run (policy, cap)
    capped: bool = False
    kill: list[str] = field(default_factory=list)
    waiting: int = 0                  # due ticks held back by Forbid


def recent_ticks(cron: Cron, since: datetime, now: datetime, limit: int) -> tuple[list[datetime], bool]:
    """Up to `limit` newest ticks in (since, now], oldest first, and whether older ones were left out.
    Walks back from now, so a long outage of an every-second schedule costs `limit` steps, not millions."""
    out: list[datetime] = []
    cur = now + timedelta(microseconds=1)
    while len(out) <= limit:
        cur = cron.previous_before(cur)
        if cur <= since:
            break
        out.append(cur)
    capped = len(out) > limit
    return list(reversed(out[:limit])), capped


def plan_schedule(cron: Cron, since: datetime, now: datetime, policy: Policy, concurrency: Concurrency,
                  active: Sequence[str], recovering: bool, cap: int = MISSED_CAP) -> ScheduleDecision:
    due, capped = recent_ticks(cron, since, now, cap)
    d = ScheduleDecision(next=cron.next_after(now), capped=capped, last=since)
    if recovering:
        missed = [t for t in due if t < now - GRACE]
        on_time = due[len(missed):]
        kept = {"ALL": missed, "LAST": missed[-1:], "NONE": []}[policy]
        d.missed = len(missed) + (1 if capped else 0)
        d.skipped = len(missed) - len(kept)
        keep = kept + on_time
    else:
        keep = due
    if not keep:
        d.last = due[-1] if due else since
        return d
    first = due.index(keep[0])
    d.last = due[first - 1] if first else since  # everything before the first kept tick is dealt with
    if concurrency == "Allow":
        d.create = keep
    elif concurrency == "Replace":
        d.kill = list(active)
        d.create = keep[-1:]
    elif not active:  # Forbid
        d.create = keep[:1]
        d.waiting = len(keep) - 1
    else:
        d.waiting = len(keep)
    if d.create:
        d.last = d.create[-1]
    return d


# ---- backfills --------------------------------------------------------------------------------------
def backfill_id(backfill: dict[str, Any]) -> str:
    """Identity of a backfill request: its range, mode, inputs and labels (not paused/maxActive/order,
    which may change while it runs). Re-applying the same request is the same backfill."""
    key = {k: backfill.get(k) for k in ("start", "end", "reprocess", "inputs", "labels")}
    key["reprocess"] = key["reprocess"] or "missing"
    key["inputs"], key["labels"] = key["inputs"] or {}, key["labels"] or {}
    for k in ("start", "end"):  # 2019-01-01 and 2019-01-01T00:00:00Z are the same instant
        key[k] = _instant(key[k])
    return hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _instant(value: Any) -> str:
    from kflow.schedule.naming import iso, parse_time

    try:
        return iso(parse_time(str(value)))
    except ValueError:
        return str(value)


@dataclass
class TickDecision:
    tick: datetime
    action: Literal["run", "skip", "done", "busy"]  # done: this backfill ran it; busy: its run is active
    attempt: int = 0
    why: str = ""


def decide_tick(tick: datetime, runs: Sequence[Run], bf_id: str, reprocess: Reprocess) -> TickDecision:
    if any(r.backfill_id == bf_id for r in runs):
        return TickDecision(tick, "done", why="already run by this backfill")
    if not runs:
        return TickDecision(tick, "run", 0, "missing")
    latest = max(runs, key=lambda r: r.attempt)
    attempt = latest.attempt + 1
    if latest.active:
        return TickDecision(tick, "busy", why=f"{latest.name} is {latest.state or 'CREATED'}")
    if reprocess == "all" or (reprocess == "failed" and latest.failed):
        return TickDecision(tick, "run", attempt, f"re-run: {latest.name} is {latest.state}")
    return TickDecision(tick, "skip", why=f"{latest.name} is {latest.state}")


@dataclass
class BackfillPlan:
    create: list[TickDecision] = field(default_factory=list)
    position: int = 0        # ticks decided so far (in order)
    skipped: int = 0         # newly skipped in this pass


def backfill_ticks(cron: Cron, start: datetime, end: datetime, order: str) -> list[datetime]:
    ticks = []
    for tick in cron.ticks(start, end, inclusive_start=True):
        ticks.append(tick)
        if len(ticks) > MAX_BACKFILL_TICKS:
            raise ValueError(f"the backfill covers more than {MAX_BACKFILL_TICKS} ticks: split it")
    return ticks[::-1] if order == "newest-first" else ticks


def plan_backfill(ticks: Sequence[datetime], position: int, runs_by_tick: dict[datetime, list[Run]],
                  bf_id: str, reprocess: Reprocess, max_active: int, active: int,
                  paused: bool = False) -> BackfillPlan:
    """Decide ticks from `position` on until `maxActive` slots are used; `active` = this backfill's
    active executions (including just-created ones the watch hasn't shown yet)."""
    plan = BackfillPlan(position=position)
    if paused:
        return plan
    slots = max_active - active
    while plan.position < len(ticks):
        tick = ticks[plan.position]
        decision = decide_tick(tick, runs_by_tick.get(tick, []), bf_id, reprocess)
        if decision.action == "run":
            if slots <= 0:
                break
            plan.create.append(decision)
            slots -= 1
        elif decision.action in ("skip", "busy"):
            plan.skipped += 1
        plan.position += 1
    return plan


def dry_run(ticks: Sequence[datetime], runs_by_tick: dict[datetime, list[Run]], bf_id: str,
            reprocess: Reprocess) -> list[TickDecision]:
    return [decide_tick(t, runs_by_tick.get(t, []), bf_id, reprocess) for t in ticks]


def by_tick(runs: Iterable[Run]) -> dict[datetime, list[Run]]:
    out: dict[datetime, list[Run]] = {}
    for r in runs:
        out.setdefault(r.tick, []).append(r)
    return out


# ---- history ----------------------------------------------------------------------------------------
def to_prune(runs: Iterable[Run], keep_succeeded: int, keep_failed: int) -> list[str]:
    """Finished *scheduled* executions beyond the history limits, oldest first. Backfill executions are
    the record `reprocess` decides from, and active ones are never deleted."""
    done = sorted((r for r in runs if r.backfill_id is None and not r.active), key=lambda r: r.tick,
                  reverse=True)
    ok = [r for r in done if r.succeeded][keep_succeeded:]
    bad = [r for r in done if r.failed][keep_failed:]
    return [r.name for r in sorted(ok + bad, key=lambda r: r.tick)]
