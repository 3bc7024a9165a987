"""The API server, controllers and client binaries are the real, pinned Kubernetes."""

from __future__ import annotations

import json
import textwrap

import pytest
from clusterlib import SHELL_IMAGE, Cluster, poll
from kubernetes.client.rest import ApiException

pytestmark = pytest.mark.cluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.kflow.dev
spec:
  group: test.kflow.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
          status:
            type: object
            properties:
              phase: {type: string}
"""


def _versions_env() -> dict[str, str]:
    from clusterlib import REPO

    pins = {}
    for line in (REPO / "tests/cluster/versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            pins[k] = v
    return pins


def test_kubectl_version_reports_pinned_release(cluster: Cluster):
    want = _versions_env()["KUBERNETES_VERSION"]
    assert want.startswith("v1.35.")
    out = json.loads(cluster.kubectl("version", "-o", "json").stdout)
    assert out["clientVersion"]["gitVersion"] == want
    assert out["serverVersion"]["gitVersion"] == want
    assert out["serverVersion"]["gitTreeState"] == "clean"


def test_helm_reports_pinned_release(cluster: Cluster):
    want = _versions_env()["HELM_VERSION"]
    assert cluster.run("helm", "version", "--short").stdout.startswith(want)


@pytest.fixture(scope="module")
def widgets(cluster: Cluster):
    cluster.kubectl("apply", "-f", "-", input=CRD)

    def established():
        r = cluster.kubectl("get", "crd", "widgets.test.kflow.dev", "-o",
                            'jsonpath={.status.conditions[?(@.type=="Established")].status}', check=False)
        return r.stdout == "True"

    poll("CRD established", established, 30)
    # Discovery lags a little behind Established.
    poll("widgets served", lambda: cluster.kubectl("get", "widgets", "-A", check=False).returncode == 0, 30)
    yield
    cluster.kubectl("delete", "crd", "widgets.test.kflow.dev", "--wait=false")


def test_structural_schema_prunes_unknown_fields(cluster: Cluster, namespace: str, widgets):
    w = textwrap.dedent("""
        apiVersion: test.kflow.dev/v1
        kind: Widget
        metadata: {name: w1}
        spec: {size: 3, colour: red}
    """)
    # --validate=false: kubectl would otherwise reject the unknown field client-side.
    cluster.kubectl("apply", "-n", namespace, "--validate=false", "-f", "-", input=w)
    obj = cluster.custom.get_namespaced_custom_object("test.kflow.dev", "v1", namespace, "widgets", "w1")
    assert obj["spec"] == {"size": 3}


def test_status_subresource_and_optimistic_concurrency(cluster: Cluster, namespace: str, widgets):
    args = ("test.kflow.dev", "v1", namespace, "widgets")
    created = cluster.custom.create_namespaced_custom_object(
        *args, {"apiVersion": "test.kflow.dev/v1", "kind": "Widget", "metadata": {"name": "w2"},
                "spec": {"size": 1}})
    # A write to /status that also changes spec: status is taken, spec is ignored.
    body = dict(created, spec={"size": 99}, status={"phase": "Ready"})
    updated = cluster.custom.replace_namespaced_custom_object_status(*args, "w2", body)
    assert updated["status"] == {"phase": "Ready"}
    assert updated["spec"] == {"size": 1}
    # Replaying the first resourceVersion is a conflict.
    stale = dict(created, spec={"size": 2})
    with pytest.raises(ApiException) as e:
        cluster.custom.replace_namespaced_custom_object(*args, "w2", stale)
    assert e.value.status == 409
    assert cluster.custom.get_namespaced_custom_object(*args, "w2")["spec"] == {"size": 1}


def test_deleting_owner_deletes_owned_pods(cluster: Cluster, namespace: str):
    owner = cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner.metadata.uid}
    for i in range(2):
        cluster.core.create_namespaced_pod(namespace, {
            "metadata": {"name": f"owned-{i}", "ownerReferences": [ref]},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "c", "image": SHELL_IMAGE, "command": ["sleep", "600"]}]}})
    poll("owned pods running", lambda: all(
        (p := cluster.pod(namespace, f"owned-{i}")) and p.status.phase == "Running" for i in range(2)), 60)
    cluster.core.delete_namespaced_config_map("owner", namespace)
    poll("garbage collector to delete owned pods",
         lambda: not cluster.core.list_namespaced_pod(namespace).items, 90)


def test_namespace_deletion_completes(cluster: Cluster):
    ns = cluster.new_namespace()
    cluster.core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}})
    cluster.core.create_namespaced_pod(ns, {
        "metadata": {"name": "sleeper"},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 10,
                 "containers": [{"name": "c", "image": SHELL_IMAGE, "command": ["sleep", "600"]}]}})
    poll("pod running", lambda: (p := cluster.pod(ns, "sleeper")) and p.status.phase == "Running", 60)
    cluster.delete_namespace(ns)

    def gone():
        try:
            cluster.core.read_namespace(ns)
            return False
        except ApiException as e:
            return e.status == 404

    poll(f"namespace {ns} to be deleted", gone, 120)
