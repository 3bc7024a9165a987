"""`make cluster-down` leaves the host as it found it, after a normal run and after `kill -9` of every
component: no process, mount, cgroup, interface, nftables/iptables rule or sysctl change remains.

The "before" is the snapshot `up` takes before it touches the host (host-baseline.json). This test
runs last (conftest.py): it takes the cluster down twice and leaves a fresh one up.
"""

from __future__ import annotations

import os
import signal
import subprocess

import hygiene
import pytest
from clusterlib import REPO, SHELL_IMAGE, STATE, Cluster, poll

pytestmark = pytest.mark.cluster


def _script(name: str) -> None:
    r = subprocess.run([str(REPO / "tests/cluster" / name)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"{name} failed:\n{r.stderr[-3000:]}"


def _busy_node() -> None:
    """A running pod: containers, a veth, volume mounts, pod cgroups, kube-proxy rules for a Service."""
    c = Cluster()
    ns = c.new_namespace()
    c.core.create_namespaced_pod(ns, {
        "metadata": {"name": "busy", "labels": {"app": "busy"}},
        "spec": {"containers": [{"name": "c", "image": SHELL_IMAGE, "command": ["sleep", "3600"],
                                 "volumeMounts": [{"name": "e", "mountPath": "/e"}]}],
                 "volumes": [{"name": "e", "emptyDir": {"medium": "Memory"}}]}})
    c.core.create_namespaced_service(ns, {"metadata": {"name": "busy"},
                                          "spec": {"selector": {"app": "busy"}, "ports": [{"port": 80}]}})
    poll("busy pod running", lambda: (p := c.pod(ns, "busy")) and p.status.phase == "Running", 120)


def _assert_as_found(baseline: dict) -> None:
    after = hygiene.snapshot(STATE)
    assert hygiene.diff(baseline, after) == {}
    assert not STATE.exists()


def test_cluster_down_restores_the_host_also_after_kill_9(cluster: Cluster):
    baseline = hygiene.load(STATE / "host-baseline.json")
    assert baseline, "up.sh records the host before it starts anything"
    _busy_node()
    during = hygiene.diff(baseline, hygiene.snapshot(STATE))
    assert {"processes", "links", "cgroups", "nft"} <= during.keys()  # the node did change the host
    _script("down.sh")
    _assert_as_found(baseline)

    _script("up.sh")
    baseline = hygiene.load(STATE / "host-baseline.json")
    _busy_node()
    pids = [int(f.read_text()) for f in (STATE / "pids").glob("*.pid")]
    assert len(pids) >= 9
    for pid in pids:  # a crash of everything at once: nothing gets to clean up after itself
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _script("down.sh")
    _assert_as_found(baseline)
    _script("up.sh")  # leave a healthy cluster behind
