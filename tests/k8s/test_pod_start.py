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
    assert "tolerations" not in rwo["spec"]  # the API server adds its default 300 s (the operator's default)
    lost = pod(OperatorConfig.from_env({"KFLOW_NODE_LOST_SECONDS": "20"}))["spec"]["tolerations"]
    assert lost == [{"key": f"node.kubernetes.io/{t}", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 20} for t in ("not-ready", "unreachable")]


def _deleting(seconds_ago: float, reason: str | None = None) -> dict:
    pod = _pod({"phase": "Running"})
    pod["metadata"]["deletionTimestamp"] = (T0 - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")
    if reason:
        pod["status"]["conditions"] = [{"type": "DisruptionTarget", "status": "True", "reason": reason,
                                        "message": "Taint manager: deleting due to NoExecute taint"}]
    return pod


def test_a_pod_deleted_under_its_task_says_by_whom_and_fails_once_its_kubelet_cannot_finish_it():
    assert results.deleted(_pod({"phase": "Running"}), T0) is None
    why, now = results.deleted(_deleting(1), T0)  # a user's `kubectl delete pod`: kubelet ends it
    assert why == "pod p was deleted while its task ran (by a user or a controller)" and not now
    assert results.deleted(_deleting(results.DELETE_GRACE_SLACK_SECONDS), T0)[1]  # no kubelet ended it
    why, now = results.deleted(_deleting(0, "DeletionByTaintManager"), T0)  # its node is lost
    assert now and why == ("pod p was deleted while its task ran (DeletionByTaintManager: Taint manager: deleting "
                           "due to NoExecute taint)")
    assert "by a user, an eviction or the loss of its node" in results.gone("p")


def test_a_running_pod_whose_node_stopped_answering_fails_after_the_allowed_time():
    marked = {"phase": "Running", "containerStatuses": [{"name": "task", "state": {"running": {}}}],
              "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": "2026-12-03T08:00:00Z"}]}
    pod = {**_pod(marked), "spec": {"nodeName": "kflow-node"}}
    assert results.node_lost(pod, T0 + timedelta(seconds=19), 20) is None
    assert results.node_lost(pod, T0 + timedelta(seconds=25), 20) == (
        "node kflow-node of pod p stopped answering: the pod has not been Ready for PT25S, over the PT20S allowed "
        "(chart value execution.nodeLostSeconds)")
    ended = {**marked, "containerStatuses": [{"name": "task", "state": {"terminated": {"exitCode": 0}}}]}
    assert results.node_lost(_pod(ended), T0 + timedelta(hours=1), 20) is None  # the kubelet said it ended
    ready = {**marked, "conditions": [{**marked["conditions"][0], "status": "True"}]}
    assert results.node_lost(_pod(ready), T0 + timedelta(hours=1), 20) is None
    assert OperatorConfig.from_env({}).node_lost_seconds == 300
