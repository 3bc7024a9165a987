"""The operator's pod cache holds what the driver reads of its live executions' pods, and nothing of an
ended execution's kept pods: with no podTTLSeconds those stay in the cluster, and a year-long backfill
would otherwise grow the operator by a whole pod body per task run. Pure (no cluster)."""

from __future__ import annotations

from typing import Any

from kflow.k8s import results
from kflow.k8s.shared import Shared, slim_pod


def _pod(name: str, phase: str, script: str = "echo hi") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": "2026-12-04T00:00:00Z",
                         "managedFields": [{"manager": "kubelet", "fieldsV1": {"f:status": {}}}] * 20,
                         "ownerReferences": [{"kind": "Execution", "name": "ex"}]},
            "spec": {"nodeName": "node-1", "containers": [{"name": "task", "args": [script * 500]}]},
            "status": {"phase": phase, "containerStatuses": [{"name": "task", "state": {"terminated": {
                "exitCode": 0 if phase == "Succeeded" else 1, "message": "hi\n"}}}]}}


def _shared() -> Shared:
    return Shared(kube=None, config=None)  # type: ignore[arg-type]  # the cache touches neither


def test_slim_pod_keeps_what_results_read_and_drops_the_bulk():
    pod = _pod("ex-a-1", "Failed")
    slim = slim_pod(pod)
    assert len(repr(slim)) * 10 < len(repr(pod))
    assert "managedFields" not in slim["metadata"] and "containers" not in slim["spec"]
    # every verdict the driver makes from a pod is the same on the slim copy
    assert results.pod_finished(slim) and results.pod_stuck(slim) == results.pod_stuck(pod)
    assert results.builtin_result("a", 1, slim, "hi", None) == results.builtin_result("a", 1, pod, "hi", None)
    assert slim["spec"]["nodeName"] == "node-1" and slim["metadata"]["name"] == "ex-a-1"


def test_a_live_execution_pods_are_cached_and_dropped_when_it_ends():
    shared = _shared()
    shared.remember_pod("ns", "ex-a-1", "ex", _pod("ex-a-1", "Running"))
    shared.remember_pod("ns", "ex-b-1", "ex", _pod("ex-b-1", "Succeeded"))
    assert set(shared.pods) == {("ns", "ex-a-1"), ("ns", "ex-b-1")}
    shared.finished.add(("ns", "ex"))
    shared.forget_pods("ns", "ex")
    assert shared.pods == {} and dict(shared.execution_pods) == {}
    # a late event of the ended execution's finished pod is not cached again
    shared.remember_pod("ns", "ex-a-1", "ex", _pod("ex-a-1", "Succeeded"))
    assert shared.pods == {} and dict(shared.execution_pods) == {}


def test_a_restarted_execution_caches_its_new_pods_and_deletions_are_forgotten():
    shared = _shared()
    shared.finished.add(("ns", "ex"))
    shared.finished.discard(("ns", "ex"))  # a restart request brings it back (operator.track_execution)
    shared.remember_pod("ns", "ex-a-2", "ex", _pod("ex-a-2", "Running"))
    assert ("ns", "ex-a-2") in shared.pods
    shared.forget_pod("ns", "ex-a-2", "ex")
    assert shared.pods == {} and dict(shared.execution_pods) == {}


def test_pods_of_many_ended_executions_leave_nothing_behind():
    shared = _shared()
    for i in range(1000):
        ex = f"ex{i}"
        shared.remember_pod("ns", f"{ex}-t-1", ex, _pod(f"{ex}-t-1", "Running"))
        shared.remember_pod("ns", f"{ex}-t-1", ex, _pod(f"{ex}-t-1", "Succeeded"))
        shared.finished.add(("ns", ex))
        shared.forget_pods("ns", ex)
        shared.remember_pod("ns", f"{ex}-t-1", ex, _pod(f"{ex}-t-1", "Succeeded"))  # the watch's late copy
    assert shared.pods == {} and dict(shared.execution_pods) == {}
