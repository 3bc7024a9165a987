"""Pods that never start (k8s/results.start_problem) and what becomes of ended Executions (k8s/lifecycle):
pure decisions, on pod and Execution documents shaped as the API server returns them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.k8s import lifecycle, results
from kflow.k8s.config import OperatorConfig

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _pod(status: dict, created: datetime = T0) -> dict:
    return {"metadata": {"name": "p", "creationTimestamp": created.isoformat().replace("+00:00", "Z")},
            "status": status}


def _waiting(reason: str, message: str, init: bool = False) -> dict:
    key = "initContainerStatuses" if init else "containerStatuses"
    return {"phase": "Pending", key: [{"name": "task", "image": "x", "state": {"waiting": {
        "reason": reason, "message": message}}}]}


UNSCHEDULABLE = {"phase": "Pending", "conditions": [{
    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
    "message": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}


def test_a_missing_secret_waits_with_its_reason_then_fails_at_the_deadline():
    pod = _pod(_waiting("CreateContainerConfigError", 'secret "creds" not found', init=True))
    why, late = results.start_problem(pod, T0 + timedelta(seconds=10), 300)
    assert not late and why == 'container task cannot start (CreateContainerConfigError): secret "creds" not found'
    why, late = results.start_problem(pod, T0 + timedelta(seconds=300), 300)
    assert late and 'secret "creds" not found' in why and "not started within the start deadline of PT5M" in why


def test_an_unschedulable_pod_names_the_scheduler_message():
    why, late = results.start_problem(_pod(UNSCHEDULABLE), T0 + timedelta(seconds=1), 60)
    assert not late
    assert why == ("pod cannot be scheduled (Unschedulable): 0/1 nodes are available: pod has unbound immediate "
                   "PersistentVolumeClaims.")
    assert results.start_problem(_pod(UNSCHEDULABLE), T0 + timedelta(seconds=61), 60)[1]


def test_pods_on_their_way_or_running_are_no_problem():
    creating = _pod(_waiting("ContainerCreating", ""))
    assert results.start_problem(creating, T0 + timedelta(hours=1), 60) is None  # a large image being pulled
    assert results.start_problem(_pod({"phase": "Running"}), T0 + timedelta(hours=1), 60) is None
    assert results.start_problem(_pod({"phase": "Pending"}), T0 + timedelta(seconds=5), 60) is None
    why, late = results.start_problem(_pod({"phase": "Pending"}), T0 + timedelta(seconds=90), 60)
    assert late and why.startswith("pod has not started (phase Pending)")


def test_an_image_that_cannot_be_pulled_fails_at_once():
    pod = _pod(_waiting("ImagePullBackOff", 'Back-off pulling image "kflow.invalid/x:1"'))
    assert results.pod_stuck(pod) == ('container task cannot start in image x (ImagePullBackOff): '
                                      'Back-off pulling image "kflow.invalid/x:1"')


def test_volume_and_ttl_follow_the_execution_then_the_operator_default():
    config = OperatorConfig(execution_ttl_seconds=600, keep_volume=False)
    status = {"state": "SUCCESS", "endDate": "2026-12-03T08:00:00Z"}
    assert lifecycle.expiry({}, status, config) == T0 + timedelta(seconds=600)
    assert lifecycle.expiry({"ttlSecondsAfterFinished": 0}, status, config) == T0
    assert lifecycle.expiry({}, status, OperatorConfig()) is None  # kept by default, as Kubernetes keeps Jobs
    assert lifecycle.expiry({}, {"state": "RUNNING"}, config) is None
    assert not lifecycle.keeps_volume({}, config)
    assert lifecycle.keeps_volume({"keepVolume": True}, config)
    assert not lifecycle.keeps_volume({"keepVolume": False}, OperatorConfig(keep_volume=True))


def test_the_chart_settings_reach_the_operator_config():
    config = OperatorConfig.from_env({"KFLOW_EXECUTION_TTL_SECONDS": "3600", "KFLOW_KEEP_VOLUME": "true",
                                      "KFLOW_START_DEADLINE_SECONDS": "45"})
    assert (config.execution_ttl_seconds, config.keep_volume, config.start_deadline_seconds) == (3600, True, 45)
    default = OperatorConfig.from_env({})
    assert (default.execution_ttl_seconds, default.keep_volume, default.start_deadline_seconds) == (None, False, 300)


def test_pods_of_one_execution_share_a_node_when_its_volume_is_read_write_once():
    from kflow.k8s.resources import storage_pvc, task_pod
    from kflow.model.loader import load_flow_text

    flow = load_flow_text("id: f\nnamespace: t\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.storage.Size\n"
                          "    uri: x\n", "f.yaml").flow
    ex = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": "e1", "namespace": "n",
                                                                                "uid": "u"}}

    def pod(config: OperatorConfig) -> dict:
        return task_pod(ex, flow_name="f", task=flow.tasks[0], task_run_id="a", attempt=1,
                        worker_spec={"workdir": "/w"}, timeout=None, config=config)

    rwo = pod(OperatorConfig())
    term = rwo["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term == {"labelSelector": {"matchLabels": {"kflow.dev/execution": "e1"}},
                    "topologyKey": "kubernetes.io/hostname"}
    assert rwo["metadata"]["labels"]["kflow.dev/execution"] == "e1"  # the first pod matches its own term
    rwx = OperatorConfig(storage_access_mode="ReadWriteMany")
    assert "affinity" not in pod(rwx)["spec"]
    assert storage_pvc(ex, rwx)["spec"]["accessModes"] == ["ReadWriteMany"]
