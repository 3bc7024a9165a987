"""CronTriggers on the real control plane: backfills, reprocessing, suspension, invalid specs, inline triggers.

Missed-tick recovery across an operator outage is in test_crontrigger_recovery.py.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time

import pytest
import yaml
from clusterlib import poll
from crontrigger_harness import condition, ct, executions_of, running_interval, tick_of, trigger, utcnow
from operator_harness import apply, flow_manifest

from kflow.schedule.plan import GRACE

pytestmark = pytest.mark.cluster

MONTHLY_FLOW = """
id: monthly
namespace: t
concurrency:
  limit: 1
inputs:
  - id: failFeb
    type: BOOLEAN
    defaults: false
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 0.5"]
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.failFeb and (trigger.date | date('MM')) == '02' }}"
  - id: month
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date | date('yyyy-MM') }}"
"""
Q1 = {"start": "2019-01-01T00:00:00Z", "end": "2019-03-31T00:00:00Z"}


def _backfill_done(cluster, ns: str, name: str, bf_id: str | None = None, timeout: float = 180):
    def done():
        obj = ct(cluster, ns, name)
        bf = (obj.get("status") or {}).get("backfill") or {}
        ok = condition(obj, "BackfillComplete").get("status") == "True" and (bf_id is None or bf["id"] != bf_id)
        return obj if ok else None
    return poll(f"backfill of {name} complete", done, timeout, every=0.5)


def test_monthly_backfill_on_a_concurrency_limited_flow(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("monthly", MONTHLY_FLOW))
    manifest = trigger("taxi", "monthly", "0 9 1 * *", backfill={**Q1, "maxActive": 3})
    apply(cluster, namespace, manifest)
    obj = _backfill_done(cluster, namespace, "taxi")
    exs = executions_of(cluster, namespace, "taxi")
    assert [e["metadata"]["name"] for e in exs] == ["taxi-201901010900", "taxi-201902010900", "taxi-201903010900"]
    for e, month in zip(exs, ("2019-01", "2019-02", "2019-03"), strict=True):
        assert e["status"]["state"] == "SUCCESS"
        assert {tr["taskId"]: tr for tr in e["status"]["taskRuns"]}["month"]["outputs"]["value"] == month
        assert e["metadata"]["labels"]["kflow.dev/backfill"] == "true"
        assert e["spec"]["trigger"]["date"] == f"{month}-01T09:00:00+00:00"
        assert e["metadata"]["ownerReferences"][0]["kind"] == "CronTrigger"
    # maxActive 3 let the three exist at once: the flow's `concurrency: limit: 1` kept them one at a time
    intervals = sorted(running_interval(e) for e in exs)
    for (_, end), (start, _) in itertools.pairwise(intervals):
        assert start >= end, intervals
    bf = obj["status"]["backfill"]
    assert (bf["total"], bf["created"], bf["succeeded"], bf["failed"], bf["active"]) == (3, 3, 3, 0, 0)
    assert bf["currentTick"] == "2019-03-01T09:00:00Z"
    # re-applying the same manifest creates nothing
    apply(cluster, namespace, manifest)
    time.sleep(3)
    assert len(executions_of(cluster, namespace, "taxi")) == 3
    out = cluster.kubectl("get", "kct", "-n", namespace).stdout.splitlines()
    assert out[0].split() == ["NAME", "FLOW", "SCHEDULE", "SUSPEND", "LAST", "NEXT", "ACTIVE", "AGE"]
    assert out[1].split()[:2] == ["taxi", "monthly"]
    assert "crontrigger.kflow.dev/taxi" in cluster.kubectl("get", "kflow", "-n", namespace, "-o", "name").stdout


def _kflow(cluster, *args: str) -> subprocess.CompletedProcess:
    env = {**cluster.env, "KUBECONFIG": cluster.kubeconfig}
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def test_reprocess_missing_and_failed_with_the_cli(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("monthly", MONTHLY_FLOW))
    apply(cluster, namespace, trigger("taxi", "monthly", "0 9 1 * *",
                                      backfill={**Q1, "maxActive": 3, "inputs": {"failFeb": True}}))
    first = _backfill_done(cluster, namespace, "taxi")
    states = {e["metadata"]["name"]: e["status"]["state"] for e in executions_of(cluster, namespace, "taxi")}
    assert states == {"taxi-201901010900": "SUCCESS", "taxi-201902010900": "FAILED", "taxi-201903010900": "SUCCESS"}
    assert first["status"]["backfill"]["failed"] == 1

    # --dry-run: only the failed tick would run again, as -r1; nothing changes
    dry = _kflow(cluster, "backfill", "taxi", "--start", "2019-01-01", "--end", "2019-03-31", "--reprocess",
                 "failed", "--dry-run", "-n", namespace)
    assert dry.returncode == 0, dry.stderr
    rows = {line.split()[0]: line.split() for line in dry.stdout.splitlines()[1:-1]}
    assert rows["2019-02-01T09:00:00+00:00"][1:3] == ["run", "taxi-201902010900-r1"]
    assert rows["2019-01-01T09:00:00+00:00"][1] == "skip" and rows["2019-03-01T09:00:00+00:00"][1] == "skip"
    assert "3 tick(s): 1 would run" in dry.stdout
    assert len(executions_of(cluster, namespace, "taxi")) == 3

    # reprocess failed: re-runs February only (as -r1; this time without failing)
    done = _kflow(cluster, "backfill", "taxi", "--start", "2019-01-01", "--end", "2019-03-31", "--reprocess",
                  "failed", "-n", namespace)
    assert done.returncode == 0 and "3 tick(s)" in done.stdout, done.stderr
    second = _backfill_done(cluster, namespace, "taxi", first["status"]["backfill"]["id"])
    states = {e["metadata"]["name"]: e["status"]["state"] for e in executions_of(cluster, namespace, "taxi")}
    assert states == {"taxi-201901010900": "SUCCESS", "taxi-201902010900": "FAILED",
                      "taxi-201902010900-r1": "SUCCESS", "taxi-201903010900": "SUCCESS"}
    assert second["status"]["backfill"]["created"] == 1 and second["status"]["backfill"]["skipped"] == 2

    # reprocess missing over Q1 + April: only April runs (Jan-Mar succeeded already)
    assert _kflow(cluster, "backfill", "taxi", "--start", "2019-01-01", "--end", "2019-04-30", "-n",
                  namespace).returncode == 0
    _backfill_done(cluster, namespace, "taxi", second["status"]["backfill"]["id"])
    names = [e["metadata"]["name"] for e in executions_of(cluster, namespace, "taxi")]
    assert names == ["taxi-201901010900", "taxi-201902010900", "taxi-201902010900-r1", "taxi-201903010900",
                     "taxi-201904010900"]


QUICK_FLOW = """
id: quick
namespace: t
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
"""


def test_suspend_stops_and_resume_continues_without_catching_up_under_none(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("quick", QUICK_FLOW))
    apply(cluster, namespace, trigger("tick", "quick", "*/2 * * * * *", recoverMissedSchedules="NONE",
                                      successfulExecutionsHistoryLimit=100))
    poll("two scheduled executions", lambda: len(executions_of(cluster, namespace, "tick")) >= 2, 30)
    cluster.kubectl("-n", namespace, "patch", "kct", "tick", "--type=merge", "-p", '{"spec":{"suspend":true}}')
    suspended_at = utcnow()
    poll("Suspended condition", lambda: condition(ct(cluster, namespace, "tick"), "Suspended").get("status")
         == "True", 20)
    time.sleep(7)
    before = executions_of(cluster, namespace, "tick")
    assert all(tick_of(e) <= suspended_at for e in before), [e["metadata"]["name"] for e in before]
    assert ct(cluster, namespace, "tick")["status"].get("nextScheduleTime") is None
    resume_sent = utcnow()
    cluster.kubectl("-n", namespace, "patch", "kct", "tick", "--type=merge", "-p", '{"spec":{"suspend":false}}')
    resumed_at = utcnow()
    poll("a tick after the resume", lambda: any(tick_of(e) > resumed_at for e in
                                                executions_of(cluster, namespace, "tick")), 20)
    time.sleep(1)
    # A tick within GRACE of the resume is on time, not caught up (kflow.schedule.plan.GRACE).
    late = [e["metadata"]["name"] for e in executions_of(cluster, namespace, "tick")
            if suspended_at < tick_of(e) < resume_sent - GRACE]
    assert late == [], "ticks of the suspension were caught up under NONE"
    assert condition(ct(cluster, namespace, "tick"), "Suspended")["status"] == "False"


@pytest.mark.parametrize("spec,reason,words", [
    ({"cron": "61 * * * *"}, "InvalidCron", "invalid cron expression '61 * * * *'"),
    ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "UnknownTimeZone", "unknown time zone 'Mars/Olympus'"),
    ({"cron": "0 9 * * *", "backfill": {"start": "2019-03-01T00:00:00Z", "end": "2019-01-01T00:00:00Z"}},
     "InvalidBackfill", "is before its start"),
    ({"cron": "* * * * * *", "flowRef": {"name": "nowhere"}}, "FlowNotFound", "Flow 'nowhere' not found"),
])
def test_invalid_specs_say_why_and_create_nothing(operator, namespace, spec, reason, words):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("quick", QUICK_FLOW))
    manifest = trigger("bad", "quick", "")
    manifest["spec"].update(spec)
    apply(cluster, namespace, manifest)
    ready = poll(f"Ready=False {reason}", lambda: (c := condition(ct(cluster, namespace, "bad"), "Ready"))
                 .get("reason") == reason and c, 20)
    assert ready["status"] == "False" and words in ready["message"], ready
    time.sleep(2)
    assert executions_of(cluster, namespace, "bad") == []
    events = cluster.kubectl("-n", namespace, "get", "events", "--field-selector",
                             "involvedObject.kind=CronTrigger", "-o", "json").stdout
    assert reason in {e["reason"] for e in json.loads(events)["items"]}


INLINE_FLOW = """
id: Inline_Flow
namespace: t
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
triggers:
  - id: fast
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "*/2 * * * * *"
    inputs: {a: 1}
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
    timezone: Europe/Paris
    disabled: true
"""


def test_inline_schedule_triggers_follow_their_flow(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("inline", INLINE_FLOW))
    poll("two CronTriggers", lambda: len(cluster.kubectl("get", "kct", "-n", namespace, "-o", "name")
                                         .stdout.split()) == 2, 20)
    fast, nightly = ct(cluster, namespace, "inline-fast"), ct(cluster, namespace, "inline-nightly")
    assert fast["metadata"]["ownerReferences"][0]["kind"] == "Flow"
    assert fast["spec"]["inputs"] == {"a": 1} and fast["spec"]["suspend"] is False
    assert nightly["spec"]["suspend"] is True and nightly["spec"]["timezone"] == "Europe/Paris"
    poll("a scheduled run of the inline trigger", lambda: executions_of(cluster, namespace, "inline-fast"), 20)
    # the flow drops `nightly` and slows `fast` down: the operator follows
    body = yaml.safe_load(INLINE_FLOW)
    body["triggers"] = [{**body["triggers"][0], "cron": "0 * * * *"}]
    apply(cluster, namespace, flow_manifest("inline", body))
    poll("nightly deleted, fast updated", lambda: cluster.kubectl("get", "kct", "-n", namespace, "-o",
                                                                  "name").stdout.split() ==
         ["crontrigger.kflow.dev/inline-fast"] and ct(cluster, namespace, "inline-fast")["spec"]["cron"] ==
         "0 * * * *", 20)
    # deleting the Flow deletes its CronTriggers (and their executions) through the garbage collector
    cluster.kubectl("delete", "flow", "inline", "-n", namespace)
    poll("CronTriggers garbage-collected", lambda: not cluster.kubectl("get", "kct", "-n", namespace, "-o",
                                                                      "name").stdout.strip(), 60)
