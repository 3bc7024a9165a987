"""Two operator replicas with leader election (k8s/leader.py): the pure Lease decisions, and a failover
on the real cluster while an execution runs and a CronTrigger ticks every 5 s."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest

from kflow.k8s.leader import LEASE_SECONDS, Holder, decide, holder_of, lease_spec

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("holder,action", [
    (Holder(None, None, 10, 0), "take"),
    (Holder("me", NOW - timedelta(seconds=30), 10, 3), "renew"),
    (Holder("other", NOW - timedelta(seconds=9), 10, 3), "wait"),
    (Holder("other", NOW - timedelta(seconds=10), 10, 3), "take"),
])
def test_decide(holder, action):
    assert decide(holder, "me", NOW) == action


def test_lease_spec_counts_transitions_and_round_trips():
    taken = lease_spec(Holder("other", NOW - timedelta(minutes=1), 10, 3), "me", NOW, "take")
    assert taken["leaseTransitions"] == 4 and taken["acquireTime"] == taken["renewTime"]
    assert taken["leaseDurationSeconds"] == LEASE_SECONDS
    back = holder_of({"spec": taken})
    assert back == Holder("me", NOW, LEASE_SECONDS, 4)
    assert lease_spec(back, "me", NOW, "renew")["leaseTransitions"] == 4


SLOW = """
id: slow
namespace: company.team
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 12"]
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: done
"""


@pytest.mark.cluster
def test_the_standby_takes_over_within_15_s_without_duplicates_or_lost_ticks(crds):
    from clusterlib import poll
    from crontrigger_harness import TICK, executions_of, tick_of, trigger
    from kubernetes import client
    from operator_harness import Operator, apply, execution, flow_manifest, pods, wait_state

    cluster = crds
    ns = cluster.new_namespace(prefix="ha")
    leases = client.CoordinationV1Api(cluster.core.api_client)

    def holder() -> str | None:
        try:
            return leases.read_namespaced_lease("kflow-operator", ns).spec.holder_identity
        except client.ApiException:
            return None

    env = {"KFLOW_LEADER_ELECTION": "true", "KFLOW_OPERATOR_NAMESPACE": ns}
    a = Operator(cluster, namespaces=ns, extra_env={**env, "POD_NAME": "op-a"})
    b = Operator(cluster, namespaces=ns, extra_env={**env, "POD_NAME": "op-b"})
    try:
        a.start()
        poll("op-a leads", lambda: holder() == "op-a", 30)
        b.start()  # a standby: it answers its liveness probe
        apply(cluster, ns, flow_manifest("slow", SLOW))
        apply(cluster, ns, flow_manifest("tick", TICK))
        apply(cluster, ns, trigger("every5", "tick", "*/5 * * * * *", successfulExecutionsHistoryLimit=100))
        apply(cluster, ns, execution("run-1", "slow"))
        poll("work pod running", lambda: any(p.status.phase == "Running" for p in pods(cluster, ns)), 90)
        time.sleep(3)
        assert holder() == "op-a"
        a.kill()  # SIGKILL: no release, the Lease must expire
        killed = time.monotonic()
        poll("op-b leads", lambda: holder() == "op-b", 30, every=0.2)
        takeover = time.monotonic() - killed
        print(f"takeover after SIGKILL: {takeover:.1f} s")
        assert takeover <= 15, takeover
        ex = wait_state(cluster, ns, "run-1", 120)
        assert ex["status"]["state"] == "SUCCESS", ex["status"]
        time.sleep(12)  # ticks after the takeover
        ticks = sorted(tick_of(e) for e in executions_of(cluster, ns, "every5"))  # (its executions go with it)
    finally:
        a.kill()
        b.stop()
    work = [p for p in pods(cluster, ns, "kflow.dev/execution=run-1") if p.metadata.labels["kflow.dev/task"] == "work"]
    assert [p.metadata.name for p in work] == ["run-1-work-1"]  # one attempt, one pod, across the failover
    assert len(ticks) == len(set(ticks)) >= 5  # none doubled
    gaps = {(b_ - a_).total_seconds() for a_, b_ in itertools.pairwise(ticks)}
    assert gaps == {5.0}, ticks  # none lost, also while nobody led
    cluster.delete_namespace(ns)
