"""CronTrigger resources on kopf: one scheduler task per trigger, plus the inline Schedule triggers of Flows.

The scheduler is an asyncio task of ours, started from the watch events, not a kopf daemon: kopf puts a
finalizer on every object with a daemon, so after `helm uninstall` deleting a CronTrigger (or its namespace)
waited forever for an operator that was gone. Without a finalizer a deleted trigger simply vanishes; the
DELETED event stops its task. The scheduler is level-based: each pass reads the trigger (spec + status) and
the executions it created (a kopf index by label kflow.dev/trigger, complete before any handler runs at
startup), asks the pure planner (kflow.schedule.plan) what to create, creates Executions with deterministic
names (409 = done already), deletes executions beyond the history limits and writes the status. It then
sleeps until the next tick, a wake-up (an execution of the trigger changed, the trigger's spec or a Flow
changed) or a resync. The last tick dealt with lives in `status.lastScheduleTime`, so a restarted operator
knows exactly what it missed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import kopf
from kubernetes.client.rest import ApiException

from kflow.k8s import metrics
from kflow.k8s.models import API_VERSION, GROUP, VERSION
from kflow.k8s.schedules import check_backfill, execution_for_tick, inline_crontriggers, run_of
from kflow.schedule import naming as sn
from kflow.schedule.cron import Cron, CronError
from kflow.schedule.plan import Run, backfill_id, backfill_ticks, by_tick, plan_backfill, plan_schedule, to_prune

log = logging.getLogger("kflow.crontriggers")
PLURAL = "crontriggers"
RESYNC = 60.0      # look again at least this often (spec edits are also signalled, this is a safety net)
DEBOUNCE = 0.05    # coalesce bursts of execution events into one pass
Key = tuple[str, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


LEGACY_FINALIZER = f"{GROUP}/finalizer"  # what kopf's daemons put on triggers (kflow before 0.2)


@dataclass
class CronMemo:
    wakeups: dict[Key, asyncio.Event] = field(default_factory=dict)  # (namespace, trigger label) -> event
    tasks: dict[Key, tuple[asyncio.Task, asyncio.Event]] = field(default_factory=dict)  # (ns, name) -> task, stop

    def wake(self, namespace: str, trigger_label: str) -> None:
        event = self.wakeups.get((namespace, trigger_label))
        if event is not None:
            event.set()

    def wake_namespace(self, namespace: str) -> None:
        for (ns, _), event in list(self.wakeups.items()):
            if ns == namespace:
                event.set()


@kopf.on.startup()
async def cron_memo(memo: kopf.Memo, **_: Any) -> None:
    memo.cron = CronMemo()


# ---- signals -------------------------------------------------------------------------------------------
@kopf.index(GROUP, VERSION, "executions", labels={sn.L_TRIGGER: kopf.PRESENT})
def trigger_runs(namespace: str, name: str, labels: Any, status: Any, **_: Any) -> dict[Key, Run] | None:
    run = run_of({"metadata": {"name": name, "labels": dict(labels)}, "status": dict(status)})
    return None if run is None else {(namespace, labels[sn.L_TRIGGER]): run}


@kopf.on.event(GROUP, VERSION, "executions", labels={sn.L_TRIGGER: kopf.PRESENT})
def wake_trigger(namespace: str, labels: Any, memo: kopf.Memo, **_: Any) -> None:
    memo.cron.wake(namespace, labels[sn.L_TRIGGER])


@kopf.on.event(GROUP, VERSION, PLURAL)
async def trigger_changed(type: str, namespace: str, name: str, meta: Any, status: Any, body: Any,
                          memo: kopf.Memo, trigger_runs: kopf.Index, **_: Any) -> None:
    key = (namespace, name)
    running = memo.cron.tasks.get(key)
    if type == "DELETED" or meta.get("deletionTimestamp"):
        if running is not None:
            running[1].set()
        memo.cron.wake(namespace, sn.label_value(name))
        if LEGACY_FINALIZER in (meta.get("finalizers") or []):
            await _drop_legacy_finalizer(memo.shared.kube, namespace, name, list(meta["finalizers"]))
        return
    if running is None or running[0].done():
        stop = asyncio.Event()
        task = asyncio.create_task(run_crontrigger(name, namespace, dict(body), memo, stop, trigger_runs),
                                   name=f"crontrigger {namespace}/{name}")
        memo.cron.tasks[key] = (task, stop)
    if LEGACY_FINALIZER in (meta.get("finalizers") or []):
        await _drop_legacy_finalizer(memo.shared.kube, namespace, name, list(meta["finalizers"]))
    if meta.get("generation") != status.get("observedGeneration"):  # not our own status writes
        memo.cron.wake(namespace, sn.label_value(name))


async def _drop_legacy_finalizer(kube: Any, namespace: str, name: str, finalizers: list[str]) -> None:
    try:
        await kube.patch_custom(namespace, PLURAL, name,
                                {"metadata": {"finalizers": [f for f in finalizers if f != LEGACY_FINALIZER]}})
    except ApiException as exc:
        if exc.status != 404:
            raise


@kopf.on.cleanup()
async def stop_schedulers(memo: kopf.Memo, **_: Any) -> None:
    cron: CronMemo | None = getattr(memo, "cron", None)
    running = list(cron.tasks.values()) if cron is not None else []
    for _task, stop in running:
        stop.set()
    for (ns, _name) in list(cron.wakeups) if cron is not None else []:
        cron.wake_namespace(ns)
    if running:
        _, pending = await asyncio.wait([t for t, _ in running], timeout=5)
        for task in pending:
            task.cancel()


@kopf.on.event(GROUP, VERSION, "flows")
def flow_changed(namespace: str, memo: kopf.Memo, **_: Any) -> None:
    memo.cron.wake_namespace(namespace)  # a trigger waiting for its Flow (FlowNotFound) looks again


# ---- the scheduler ---------------------------------------------------------------------------------------
async def run_crontrigger(name: str, namespace: str, body: dict[str, Any], memo: kopf.Memo, stopped: asyncio.Event,
                          trigger_runs: kopf.Index) -> None:
    key = (namespace, sn.label_value(name))
    wake = memo.cron.wakeups.setdefault(key, asyncio.Event())

    def post(kind: str, reason: str, message: str) -> None:
        kopf.event(body, type=kind, reason=reason, message=message[:1000])

    loop = TriggerLoop(memo.shared.kube, namespace, name, lambda: list(trigger_runs.get(key, [])), post)
    try:
        while not stopped.is_set():
            wake.clear()
            try:
                delay = await loop.reconcile()
            except ApiException as exc:  # e.g. 403 while the namespace terminates: no traceback, retry
                log.warning("crontrigger %s/%s: pass failed: %s %s", namespace, name, exc.status, exc.reason)
                delay = 5.0
            except Exception as exc:  # an API hiccup or a bug must not kill the scheduler: retry soon
                log.exception("crontrigger %s/%s: pass failed: %s", namespace, name, exc)
                delay = 5.0
            if delay is None:
                return
            try:
                await asyncio.wait_for(wake.wait(), timeout=delay)
                await asyncio.sleep(DEBOUNCE)
            except TimeoutError:
                pass
    finally:
        memo.cron.wakeups.pop(key, None)
        if memo.cron.tasks.get((namespace, name), (None,))[0] is asyncio.current_task():
            memo.cron.tasks.pop((namespace, name), None)


class TriggerLoop:
    """State of one trigger's scheduler within this operator process (all of it can be lost)."""

    def __init__(self, kube: Any, namespace: str, name: str, runs: Any, post: Any):
        self.kube, self.ns, self.name, self.runs, self.post = kube, namespace, name, runs, post
        self.recovering = True                # first pass, or first after a suspension / missing Flow
        self.pending: dict[str, Run] = {}     # created here, not yet seen on the watch
        self.ticks_key: tuple | None = None
        self.ticks: list[datetime] = []
        self.ticks_error: ValueError | None = None
        self.bf_position: tuple[str, int] | None = None

    async def reconcile(self) -> float | None:
        obj = await self.kube.get_custom(self.ns, PLURAL, self.name)
        if obj is None:
            return None
        spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
        now = utcnow()
        cond = Conditions(status, meta.get("generation"))
        new: dict[str, Any] = {"observedGeneration": meta.get("generation")}
        backfill = spec.get("backfill")
        try:
            cron = Cron(spec.get("cron", ""), spec.get("timezone") or "UTC")
            if backfill:
                start, end = check_backfill(backfill, now)
                self._load_ticks(cron, start, end, backfill.get("order") or "oldest-first")
        except (CronError, ValueError) as exc:
            reason = getattr(exc, "reason", "InvalidBackfill")
            cond.set("Ready", "False", reason, str(exc))
            self.recovering = True
            return await self._write(obj, {**new, "nextScheduleTime": None}, cond, RESYNC)
        flow_name = spec["flowRef"]["name"]
        if await self.kube.get_custom(self.ns, "flows", flow_name) is None:
            cond.set("Ready", "False", "FlowNotFound", f"Flow {flow_name!r} not found in namespace {self.ns}")
            self.recovering = True
            return await self._write(obj, new, cond, RESYNC)
        if spec.get("suspend"):
            cond.set("Ready", "True", "Suspended", "suspended: no execution is created")
            cond.set("Suspended", "True", "Suspended", "spec.suspend is true")
            self.recovering = True
            return await self._write(obj, {**new, "nextScheduleTime": None}, cond, RESYNC)
        cond.set("Suspended", "False", "Active", "spec.suspend is false")

        runs = self._runs()
        since = _time(status.get("lastScheduleTime")) or _time(meta.get("creationTimestamp")) or now
        scheduled_active = sorted(r.name for r in runs if r.backfill_id is None and r.active)
        policy = spec.get("recoverMissedSchedules") or "ALL"
        d = plan_schedule(cron, since, now, policy, spec.get("concurrencyPolicy") or "Forbid",
                          scheduled_active, self.recovering)
        for victim in d.kill:
            await self.kube.patch_custom(self.ns, "executions", victim, {"spec": {"kill": True}})
        for tick in d.create:
            await self._create(execution_for_tick(obj, cron, tick))
        if d.missed:
            self.post("Normal", "MissedSchedules", f"{d.missed}{'+' if d.capped else ''} missed tick(s) since "
                      f"{sn.iso(since)}; recoverMissedSchedules={policy}: {d.missed - d.skipped} run")
        if d.capped:
            self.post("Warning", "TooManyMissedSchedules",
                      f"more than 100 ticks due since {sn.iso(since)}: only the newest 100 are considered; "
                      "use spec.backfill to run older ones")
        if status.get("lastScheduleTime") or d.last != since:  # not the creation time: no tick yet
            new["lastScheduleTime"] = sn.iso(d.last) if d.last else None
        new["nextScheduleTime"] = sn.iso(d.next) if d.next else None
        if backfill:
            new["backfill"] = await self._backfill(obj, cron, backfill, status.get("backfill") or {}, cond)
        else:
            cond.drop("BackfillComplete")
            new["backfill"] = None
        runs = self._runs()
        active = sorted(r.name for r in runs if r.active)
        new.update(active=active, activeCount=len(active))
        for victim in to_prune([r for r in runs if r.name not in self.pending],
                               int(spec.get("successfulExecutionsHistoryLimit", 3)),
                               int(spec.get("failedExecutionsHistoryLimit", 1))):
            await self.kube.delete_custom(self.ns, "executions", victim)
        message = f"next tick {sn.iso(d.next)}" if d.next else "no next tick"
        if d.waiting:
            message += f"; {d.waiting} due tick(s) wait for {', '.join(scheduled_active)} (Forbid)"
        cond.set("Ready", "True", "Scheduled", message)
        self.recovering = False
        delay = (d.next - utcnow()).total_seconds() + 0.005 if d.next else RESYNC
        return await self._write(obj, new, cond, min(max(delay, 0.0), RESYNC))

    # ---- helpers ----------------------------------------------------------------------------------
    def _runs(self) -> list[Run]:
        runs = self.runs()
        seen = {r.name for r in runs}
        self.pending = {n: r for n, r in self.pending.items() if n not in seen}
        return runs + list(self.pending.values())

    async def _create(self, execution: dict[str, Any]) -> None:
        name = execution["metadata"]["name"]
        created = await self.kube.create_custom(self.ns, "executions", execution)
        run = run_of(execution)
        if created and run is not None:
            self.pending[name] = run
        tick = ((execution.get("spec") or {}).get("trigger") or {}).get("date")
        if created and tick and not (execution["metadata"].get("labels") or {}).get(sn.L_BACKFILL):
            lag = (datetime.now(UTC) - datetime.fromisoformat(tick)).total_seconds()
            metrics.SCHEDULE_LAG.labels(self.ns, self.name).set(max(lag, 0.0))

    def _load_ticks(self, cron: Cron, start: datetime, end: datetime, order: str) -> None:
        key = (cron.fields, cron.timezone, start, end, order)
        if key != self.ticks_key:  # 8,760 hourly ticks take ~0.3 s: computed once per backfill
            self.ticks, self.ticks_key, self.ticks_error = [], key, None
            try:
                self.ticks = backfill_ticks(cron, start, end, order)
            except ValueError as exc:  # too many: remembered, not recomputed at every pass
                self.ticks_error = exc
        if self.ticks_error is not None:
            raise self.ticks_error

    async def _backfill(self, obj: dict[str, Any], cron: Cron, backfill: dict[str, Any],
                        previous: dict[str, Any], cond: Conditions) -> dict[str, Any]:
        bf_id = backfill_id(backfill)
        ticks = self.ticks
        if self.bf_position and self.bf_position[0] == bf_id:
            position = self.bf_position[1]
        elif previous.get("id") == bf_id and previous.get("decided"):
            position = min(int(previous["decided"]), len(ticks))  # restart: redo from the recorded cursor
        else:
            position = 0
        runs = self._runs()
        mine = [r for r in runs if r.backfill_id == bf_id]
        plan = plan_backfill(ticks, position, by_tick(runs), bf_id, backfill.get("reprocess") or "missing",
                             int(backfill.get("maxActive") or 1), sum(r.active for r in mine),
                             bool(backfill.get("paused")))
        await asyncio.gather(*(  # up to maxActive creates at once: the API round-trips dominate
            self._create(execution_for_tick(obj, cron, d.tick, backfill=backfill, bf_id=bf_id, attempt=d.attempt))
            for d in plan.create))
        self.bf_position = (bf_id, plan.position)
        mine = [r for r in self._runs() if r.backfill_id == bf_id]
        active = sum(r.active for r in mine)
        done = plan.position >= len(ticks) and not active
        out = {"id": bf_id, "total": len(ticks), "decided": plan.position, "created": len(mine),
               "skipped": max(plan.position - len(mine), 0), "active": active,
               "succeeded": sum(r.succeeded for r in mine), "failed": sum(r.failed for r in mine),
               "currentTick": sn.iso(ticks[plan.position - 1]) if plan.position else None,
               "completionTime": previous.get("completionTime") if previous.get("id") == bf_id else None}
        if done:
            out["completionTime"] = out["completionTime"] or sn.iso(utcnow())
            msg = f"{len(ticks)} tick(s): {len(mine)} run ({out['succeeded']} succeeded, {out['failed']} " \
                  f"failed), {out['skipped']} skipped"
            if cond.set("BackfillComplete", "True", "Complete", msg):
                self.post("Normal", "BackfillComplete", msg)
        else:
            why = "paused" if backfill.get("paused") else f"{plan.position}/{len(ticks)} tick(s) decided, " \
                                                           f"{active} active"
            cond.set("BackfillComplete", "False", "Paused" if backfill.get("paused") else "Running", why)
        return out

    async def _write(self, obj: dict[str, Any], new: dict[str, Any], cond: Conditions, delay: float) -> float:
        new["conditions"] = cond.items()
        old = obj.get("status") or {}
        if any(_strip(k, old.get(k)) != _strip(k, v) for k, v in new.items()):
            if new["conditions"] and cond.changed("Ready"):
                ready = next(c for c in new["conditions"] if c["type"] == "Ready")
                if ready["status"] == "False":
                    self.post("Warning", ready["reason"], ready["message"])
            await self.kube.patch_status(self.ns, PLURAL, self.name, new)
        return delay


class Conditions:
    """The trigger's conditions, keeping lastTransitionTime when a status does not change."""

    def __init__(self, status: dict[str, Any], generation: int | None):
        self.old = {c["type"]: c for c in status.get("conditions") or []}
        self.new = dict(self.old)
        self.generation = generation

    def set(self, ctype: str, status: str, reason: str, message: str) -> bool:
        prev = self.old.get(ctype) or {}
        same = prev.get("status") == status
        since = prev.get("lastTransitionTime") if same else sn.iso(utcnow().replace(microsecond=0))
        self.new[ctype] = {"type": ctype, "status": status, "reason": reason, "message": message[:4000],
                           "lastTransitionTime": since, "observedGeneration": self.generation}
        return not same

    def changed(self, ctype: str) -> bool:
        return (self.old.get(ctype) or {}).get("reason") != (self.new.get(ctype) or {}).get("reason")

    def drop(self, ctype: str) -> None:
        self.new.pop(ctype, None)

    def items(self) -> list[dict[str, Any]]:
        order = ("Ready", "Suspended", "BackfillComplete")
        return [self.new[t] for t in order if t in self.new]


def _strip(key: str, value: Any) -> Any:
    if key == "conditions" and value:
        return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in value]
    return value


def _time(text: str | None) -> datetime | None:
    return sn.parse_time(text) if text else None


# ---- inline Schedule triggers of Flows ----------------------------------------------------------------
@kopf.on.resume(GROUP, VERSION, "flows", id="sync_schedules")
@kopf.on.create(GROUP, VERSION, "flows", id="sync_schedules")
@kopf.on.update(GROUP, VERSION, "flows", field="spec", id="sync_schedules")
async def sync_schedules(name: str, namespace: str, body: Any, memo: kopf.Memo, **_: Any) -> None:
    """One CronTrigger per Schedule trigger of the Flow, owned by it (deleted with it by the GC)."""
    kube = memo.shared.kube
    flow = {"apiVersion": API_VERSION, "kind": "Flow", "spec": dict(body.get("spec") or {}),
            "metadata": {"name": name, "namespace": namespace, "uid": body["metadata"]["uid"]}}
    uid = flow["metadata"]["uid"]
    desired = {d["metadata"]["name"]: d for d in inline_crontriggers(flow)}
    listed = await kube.list_custom(namespace, PLURAL, f"{sn.L_FLOW}={sn.label_value(name)}")
    owned = {o["metadata"]["name"]: o for o in listed
             if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])}
    for tname, want in desired.items():
        have = owned.get(tname) or await kube.get_custom(namespace, PLURAL, tname)
        if have is None:
            await kube.create_custom(namespace, PLURAL, want)
        elif tname not in owned:  # e.g. a CronTrigger of `kflow convert --split-triggers`: not ours to edit
            kopf.warn(body, reason="ScheduleConflict",
                      message=f"CronTrigger {tname} exists and is not owned by this Flow: left as it is")
        elif any((have.get("spec") or {}).get(k) != v for k, v in want["spec"].items()):
            await kube.patch_custom(namespace, PLURAL, tname, {"spec": _merge_patch(have["spec"], want["spec"]),
                                                               "metadata": {"labels": want["metadata"]["labels"]}})
    for tname in set(owned) - set(desired):
        await kube.delete_custom(namespace, PLURAL, tname)


def _merge_patch(have: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch turning `have`'s maps into `want`'s (removed input or label keys become null)."""
    out = dict(want)
    for key in ("inputs", "labels"):
        gone = set(have.get(key) or {}) - set(want.get(key) or {})
        if gone:
            out[key] = {**(want.get(key) or {}), **dict.fromkeys(gone)}
    return out
