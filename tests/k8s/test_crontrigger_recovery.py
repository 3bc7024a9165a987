"""Missed ticks across an operator outage: ALL, LAST and NONE (one SIGKILL, three triggers)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from clusterlib import poll
from crontrigger_harness import ct, executions_of, tick_of, trigger, utcnow
from operator_harness import apply, flow_manifest

from kflow.schedule.cron import Cron

pytestmark = pytest.mark.cluster
EVERY5 = "*/5 * * * * *"
FLOW = """
id: quick
namespace: t
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date }}"
"""
POLICIES = {"all": "ALL", "last": "LAST", "none": "NONE"}


def test_restart_runs_all_last_or_none_of_the_missed_ticks(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("quick", FLOW))
    for name, policy in POLICIES.items():
        apply(cluster, namespace, trigger(name, "quick", EVERY5, recoverMissedSchedules=policy,
                                          successfulExecutionsHistoryLimit=100))
    poll("each trigger ran a tick", lambda: all(executions_of(cluster, namespace, n) for n in POLICIES), 30)
    try:
        operator.kill()
        last = {n: max(tick_of(e) for e in executions_of(cluster, namespace, n)) for n in POLICIES}
        # down across five more ticks (at least): restart 1.5 s after the fifth tick after the newest run
        fifth = max(last.values()) + timedelta(seconds=25)
        intruder = None
        while utcnow() < fifth + timedelta(seconds=1.5) and intruder is None:
            time.sleep(1)
            intruder = next((e["metadata"]["name"] for n in POLICIES for e in executions_of(cluster, namespace, n)
                             if tick_of(e) > last[n]), None)
        restarted = utcnow()
    finally:
        operator.start()
    # The session's operator only watches the session's namespaces (tests/k8s/conftest.py), so
    # nothing else may have scheduled a tick while it was down.
    assert intruder is None, f"{intruder} was scheduled while the operator was down"
    cron = Cron(EVERY5)
    missed = {n: list(cron.ticks(last[n], restarted)) for n in POLICIES}
    assert all(len(m) >= 5 for m in missed.values()), missed
    poll("scheduling resumed", lambda: all(any(tick_of(e) > restarted for e in executions_of(cluster, namespace, n))
                                           for n in POLICIES), 30)
    time.sleep(2)  # the oldest ticks of ALL run one after the other (concurrencyPolicy Forbid)
    got = {n: sorted(tick_of(e) for e in executions_of(cluster, namespace, n) if last[n] < tick_of(e) < restarted)
           for n in POLICIES}
    assert got["all"] == missed["all"]
    assert got["last"] == missed["last"][-1:]
    assert got["none"] == []
    for n in POLICIES:
        status = ct(cluster, namespace, n)["status"]
        assert status["lastScheduleTime"] > restarted.strftime("%Y-%m-%dT%H:%M:%S")
    events = cluster.kubectl("-n", namespace, "get", "events", "--field-selector", "reason=MissedSchedules",
                             "-o", "jsonpath={.items[*].message}").stdout
    assert "recoverMissedSchedules=LAST: 1 run" in events and "recoverMissedSchedules=NONE: 0 run" in events
