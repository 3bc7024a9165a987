"""Pods on the real node (kubelet + containerd + runc): exit codes, logs, volumes, security."""

from __future__ import annotations

import base64
import textwrap

import pytest
from clusterlib import KFLOW_IMAGE, SHELL_IMAGE, Cluster, poll, shell_pod
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster


def terminated(pod, i: int = 0, init: bool = False):
    statuses = pod.status.init_container_statuses if init else pod.status.container_statuses
    return statuses[i].state.terminated


def test_exit_code_termination_message_and_logs(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "exit3", "echo hello; echo done > /dev/termination-log; exit 3"))
    pod = cluster.wait_pod_done(namespace, "exit3")
    assert pod.status.phase == "Failed"
    t = terminated(pod)
    assert (t.exit_code, t.reason, t.message.strip()) == (3, "Error", "done")
    assert cluster.kubectl("logs", "-n", namespace, "exit3").stdout == "hello\n"


def test_fallback_to_logs_on_error_and_message_limit(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "fallback", "echo first; echo last line; exit 1",
        container={"terminationMessagePolicy": "FallbackToLogsOnError"}))
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "big", "head -c 10000 /dev/zero | tr '\\0' x > /dev/termination-log"))
    t = terminated(cluster.wait_pod_done(namespace, "fallback"))
    assert t.exit_code == 1 and t.message == "first\nlast line\n"
    pod = cluster.wait_pod_done(namespace, "big")
    assert pod.status.phase == "Succeeded"
    assert terminated(pod).message == "x" * 4096  # kubelet's per-container limit


def test_env_volumes_init_containers_and_working_dir(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_config_map(namespace, {
        "metadata": {"name": "cfg"}, "data": {"greeting": "hi", "file.txt": "from-configmap"}})
    cluster.core.create_namespaced_secret(namespace, {
        "metadata": {"name": "sec"}, "data": {"password": base64.b64encode(b"s3cret").decode()}})
    script = textwrap.dedent("""
        set -e
        echo "pwd=$(pwd)"
        echo "greeting=$GREETING pw=$PASSWORD ns=$POD_NS name=$POD_NAME cfg_greeting=$CFG_greeting"
        echo "expanded=$EXPANDED"
        echo "init=$(cat /kflow/work/init.txt)"
        echo "file=$(cat /etc/kflow-cfg/file.txt)"
        echo "secret=$(cat /etc/kflow-sec/password)"
        echo "sa_ns=$(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"
        test -s /var/run/secrets/kubernetes.io/serviceaccount/token
        test -s /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
        echo "api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"
        ! touch /etc/kflow-cfg/new 2>/dev/null
    """)
    pod = shell_pod("env", script, container={
        "workingDir": "/kflow/work",
        "env": [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "EXPANDED", "value": "$(GREETING)-$(POD_NAME)"},
        ],
        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}],
        "volumeMounts": [
            {"name": "work", "mountPath": "/kflow/work"},
            {"name": "cfg", "mountPath": "/etc/kflow-cfg", "readOnly": True},
            {"name": "sec", "mountPath": "/etc/kflow-sec", "readOnly": True},
        ],
    })
    pod["spec"]["initContainers"] = [{
        "name": "init", "image": SHELL_IMAGE, "command": ["sh", "-c", "echo from-init > /kflow/work/init.txt"],
        "volumeMounts": [{"name": "work", "mountPath": "/kflow/work"}]}]
    pod["spec"]["volumes"] = [
        {"name": "work", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg"}},
        {"name": "sec", "secret": {"secretName": "sec"}},
    ]
    cluster.core.create_namespaced_pod(namespace, pod)
    done = cluster.wait_pod_done(namespace, "env")
    logs = cluster.kubectl("logs", "-n", namespace, "env").stdout
    assert done.status.phase == "Succeeded", logs
    assert terminated(done, init=True).exit_code == 0
    assert "pwd=/kflow/work" in logs
    assert f"greeting=hi pw=s3cret ns={namespace} name=env cfg_greeting=hi" in logs
    assert "expanded=hi-env" in logs
    assert "init=from-init" in logs
    assert "file=from-configmap" in logs and "secret=s3cret" in logs
    assert f"sa_ns={namespace}" in logs
    # In-cluster clients use the `kubernetes` Service (kube-proxy sends it to the API server).
    svc = cluster.core.read_namespaced_service("kubernetes", "default")
    assert f"api={svc.spec.cluster_ip}:443" in logs


def test_pvc_shared_by_pods_in_sequence(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
    vol = {"volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}]}
    mount = {"volumeMounts": [{"name": "d", "mountPath": "/data"}]}
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "writer", "echo payload-42 > /data/out.txt", container=mount, **vol))
    assert cluster.wait_pod_done(namespace, "writer").status.phase == "Succeeded"
    reader = shell_pod("reader", "cat /data/out.txt", container=mount, **vol)
    cluster.core.create_namespaced_pod(namespace, reader)
    assert cluster.wait_pod_done(namespace, "reader").status.phase == "Succeeded"
    assert cluster.kubectl("logs", "-n", namespace, "reader").stdout == "payload-42\n"
    pvc = cluster.core.read_namespaced_persistent_volume_claim("data", namespace)
    assert pvc.spec.storage_class_name == "standard"  # the default StorageClass, as on kind


def test_active_deadline_seconds(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_pod(namespace, shell_pod("slow", "sleep 600", activeDeadlineSeconds=2,
                                                                 terminationGracePeriodSeconds=2))
    pod = cluster.wait_pod_done(namespace, "slow", timeout=60)
    assert (pod.status.phase, pod.status.reason) == ("Failed", "DeadlineExceeded")
    assert terminated(pod).exit_code in (137, 143)


def test_graceful_deletion_sends_sigterm(cluster: Cluster, namespace: str):
    # The trap proves SIGTERM arrived: it writes to a PVC that a second pod reads afterwards.
    cluster.core.create_namespaced_persistent_volume_claim(namespace, {
        "metadata": {"name": "marker"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Mi"}}}})
    vol = {"volumes": [{"name": "m", "persistentVolumeClaim": {"claimName": "marker"}}]}
    mount = {"volumeMounts": [{"name": "m", "mountPath": "/m"}]}
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "trap", "trap 'echo got-term > /m/term; exit 0' TERM; echo ready > /m/ready; "
                "while true; do sleep 0.1; done",
        container=mount, terminationGracePeriodSeconds=30, **vol))
    poll("pod running", lambda: (p := cluster.pod(namespace, "trap")) and p.status.phase == "Running", 60)
    cluster.core.create_namespaced_pod(namespace, shell_pod(
        "wait-ready", "while ! test -f /m/ready; do sleep 0.1; done", container=mount, **vol))
    cluster.wait_pod_done(namespace, "wait-ready")
    cluster.core.delete_namespaced_pod("trap", namespace)
    poll("pod deleted", lambda: cluster.pod(namespace, "trap") is None, 25)
    cluster.core.create_namespaced_pod(namespace, shell_pod("check", "cat /m/term", container=mount, **vol))
    assert cluster.wait_pod_done(namespace, "check").status.phase == "Succeeded"
    assert cluster.kubectl("logs", "-n", namespace, "check").stdout == "got-term\n"


IN_CLUSTER = textwrap.dedent("""
    import sys
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException
    config.load_incluster_config()
    v1 = client.CoreV1Api()
    for ns in sys.argv[1:]:
        try:
            v1.list_namespaced_pod(ns)
            print(ns, "allowed")
        except ApiException as e:
            print(ns, "denied", e.status)
""")


def test_service_account_rbac_in_cluster_client(cluster: Cluster, namespace: str):
    other = cluster.new_namespace()
    try:
        cluster.core.create_namespaced_service_account(namespace, {"metadata": {"name": "lister"}})
        cluster.rbac.create_namespaced_role(namespace, {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list", "get"]}]})
        cluster.rbac.create_namespaced_role_binding(namespace, {
            "metadata": {"name": "lister-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "lister", "namespace": namespace}]})
        pod = shell_pod("incluster", "", serviceAccountName="lister")
        # kflow's image has the kubernetes client (kflow's own in-cluster client).
        pod["spec"]["containers"][0].update(image=KFLOW_IMAGE, command=["python3", "-c", IN_CLUSTER, namespace, other])
        cluster.core.create_namespaced_pod(namespace, pod)
        done = cluster.wait_pod_done(namespace, "incluster")
        logs = cluster.kubectl("logs", "-n", namespace, "incluster").stdout
        assert done.status.phase == "Succeeded", logs
        assert logs.splitlines() == [f"{namespace} allowed", f"{other} denied 403"]
    finally:
        cluster.delete_namespace(other)


RESTRICTED = {
    "runAsNonRoot": True, "runAsUser": 1000, "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"},
}


def test_pod_security_restricted_namespace(cluster: Cluster):
    ns = cluster.new_namespace({"pod-security.kubernetes.io/enforce": "restricted"})
    try:
        with pytest.raises(ApiException) as e:
            cluster.core.create_namespaced_pod(ns, shell_pod("root", "id -u"))
        assert e.value.status == 403 and "violates PodSecurity" in e.value.body
        cluster.core.create_namespaced_pod(ns, shell_pod(
            "nonroot", "id -u; touch /scratch/f", container={
                "securityContext": RESTRICTED,
                "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}]},
            volumes=[{"name": "scratch", "emptyDir": {}}]))
        pod = cluster.wait_pod_done(ns, "nonroot")
        logs = cluster.kubectl("logs", "-n", ns, "nonroot").stdout
        assert pod.status.phase == "Succeeded", logs
        assert logs == "1000\n"
    finally:
        cluster.delete_namespace(ns)
