"""The node is real: kubelet v1.35 on containerd 2.x, pods in their own namespaces running kflow's image."""

from __future__ import annotations

import json

import pytest
from clusterlib import KFLOW_IMAGE, REPO, SHELL_IMAGE, Cluster, node_address, shell_pod

pytestmark = pytest.mark.cluster


def test_node_is_ready_with_kubelet_135_and_containerd_2(cluster: Cluster):
    out = cluster.kubectl("get", "node", "-o", "wide").stdout
    print(out)
    row = out.splitlines()[1].split()
    assert row[1] == "Ready"
    node = json.loads(cluster.kubectl("get", "node", "kflow-node", "-o", "json").stdout)
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"].startswith("v1.35.")
    assert info["containerRuntimeVersion"].startswith("containerd://2.")
    assert {a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"} == {node_address()}


def test_kflow_image_runs_in_its_own_pid_namespace(cluster: Cluster, namespace: str):
    """`echo $$` prints 1 (a real PID namespace) and `kflow --version` comes from the image's own files."""
    import tomllib

    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    # `$$$$`: kubelet expands `$(VAR)` in commands and turns `$$` into `$`, so the shell sees `echo $$`.
    pod = shell_pod("version", "echo $$$$; kflow --version")
    pod["spec"]["containers"][0]["image"] = KFLOW_IMAGE
    cluster.core.create_namespaced_pod(namespace, pod)
    done = cluster.wait_pod_done(namespace, "version", timeout=120)
    logs = cluster.kubectl("logs", "-n", namespace, "version").stdout
    assert done.status.phase == "Succeeded", logs
    assert logs.splitlines() == ["1", f"kflow {version}"]
    status = done.status.container_statuses[0]
    assert status.image_id.startswith("sha256:") or "@sha256:" in status.image_id
    assert done.status.pod_ip != done.status.host_ip  # its own network namespace and address


def test_kflow_image_runs_as_non_root_by_default(cluster: Cluster, namespace: str):
    pod = shell_pod("whoami", "id -u; id -g; test -w \"$HOME\" && echo home-writable")
    pod["spec"]["containers"][0]["image"] = KFLOW_IMAGE
    cluster.core.create_namespaced_pod(namespace, pod)
    done = cluster.wait_pod_done(namespace, "whoami", timeout=120)
    assert cluster.kubectl("logs", "-n", namespace, "whoami").stdout.splitlines() == ["1000", "1000", "home-writable"]
    assert done.status.phase == "Succeeded"


def test_pods_reach_servers_on_the_node_address(cluster: Cluster, namespace: str):
    """What test fixtures rely on: a server bound to node_address() answers pods (and 127.0.0.1 does not)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello from the host")

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer((node_address(), 0), Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://{node_address()}:{server.server_address[1]}/"
        script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=10).read().decode())"
        pod = shell_pod("fetch", "")
        pod["spec"]["containers"][0].update(image=SHELL_IMAGE, command=["python3", "-c", script])
        cluster.core.create_namespaced_pod(namespace, pod)
        done = cluster.wait_pod_done(namespace, "fetch", timeout=120)
        logs = cluster.kubectl("logs", "-n", namespace, "fetch").stdout
        assert done.status.phase == "Succeeded", logs
        assert logs.strip() == "hello from the host"
    finally:
        server.shutdown()
        server.server_close()
