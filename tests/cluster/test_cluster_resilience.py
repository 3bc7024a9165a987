"""State survives an API server restart; a stopped kubelet makes the Node NotReady.

These tests stop cluster processes and restart them through `up.sh` (which restarts
exactly the components that are not running), leaving the cluster healthy.
"""

from __future__ import annotations

import os
import signal

import pytest
from clusterlib import Cluster, alive, poll, shell_pod
from clusterlib import component_pid as pid
from clusterlib import restart_missing as up

pytestmark = pytest.mark.cluster


def node_ready(cluster: Cluster) -> str:
    node = cluster.core.read_node("kflow-node")
    return next(c.status for c in node.status.conditions if c.type == "Ready")


def test_apiserver_restart_keeps_objects(cluster: Cluster, namespace: str):
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "keep"}, "data": {"k": "v"}})
    cluster.core.create_namespaced_pod(namespace, shell_pod("done", "echo persisted"))
    cluster.wait_pod_done(namespace, "done")
    before = {p.metadata.name: p.metadata.uid for p in cluster.core.list_namespaced_pod(namespace).items}

    old = pid("kube-apiserver")
    os.kill(old, signal.SIGKILL)
    poll("kube-apiserver to die", lambda: not alive(old), 30)
    up()
    assert pid("kube-apiserver") != old

    assert cluster.core.read_namespaced_config_map("keep", namespace).data == {"k": "v"}
    after = {p.metadata.name: p.metadata.uid for p in cluster.core.list_namespaced_pod(namespace).items}
    assert after == before
    assert cluster.kubectl("logs", "-n", namespace, "done").stdout == "persisted\n"


def test_stopping_kubelet_makes_node_not_ready(cluster: Cluster):
    assert node_ready(cluster) == "True"
    old = pid("kubelet")
    os.kill(old, signal.SIGTERM)
    poll("kubelet to exit", lambda: not alive(old), 30)
    # kube-controller-manager runs with --node-monitor-grace-period=20s.
    poll("Node NotReady", lambda: node_ready(cluster) != "True", 90, every=1)
    up()
    poll("Node Ready again", lambda: node_ready(cluster) == "True", 60)
