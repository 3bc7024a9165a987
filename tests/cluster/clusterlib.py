"""Helpers for the cluster tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("KFLOW_CLUSTER_DIR", REPO / ".cluster"))
# Images the node has (built by `make cluster-up`, see images.py); nothing can be pulled.
KFLOW_IMAGE = "kflow:dev"
SHELL_IMAGE = "python:3.11-alpine"  # the test-only stand-in: Debian's python3 + POSIX sh


def poll(what: str, fn: Callable[[], object], timeout: float = 60, every: float = 0.25):
    """Return fn()'s first truthy value; fail after `timeout` seconds (never a bare sleep)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class Cluster:
    def __init__(self):
        self.env = dict(os.environ)
        for line in (STATE / "env").read_text().splitlines():
            if line.startswith("export "):
                k, _, v = line[len("export "):].partition("=")
                self.env[k] = v.strip('"').replace("$PATH", os.environ.get("PATH", ""))
        self.kubeconfig = str(STATE / "kubeconfig")
        cfg = client.Configuration()
        config.load_kube_config(config_file=self.kubeconfig, client_configuration=cfg)
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)

    def run(self, *argv: str, input: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
        r = subprocess.run(list(argv), input=input, text=True, capture_output=True, env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120):
        return self.run("kubectl", *args, input=input, check=check, timeout=timeout)

    def pod(self, ns: str, name: str):
        try:
            return self.core.read_namespaced_pod(name, ns)
        except ApiException as e:
            if e.status == 404:
                return None
            raise

    def wait_pod_done(self, ns: str, name: str, timeout: float = 90):
        def done():
            p = self.pod(ns, name)
            return p if p and p.status.phase in ("Succeeded", "Failed") else None

        return poll(f"pod {ns}/{name} to finish", done, timeout)

    def new_namespace(self, labels: dict | None = None, prefix: str = "t") -> str:
        ns = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.core.create_namespace({"metadata": {"name": ns, "labels": labels or {}}})

        def sa_ready():
            try:
                return self.core.read_namespaced_service_account("default", ns)
            except ApiException:
                return None

        # Pods are rejected until the service-account controller created `default`.
        poll(f"default service account in {ns}", sa_ready, 30)
        return ns

    def delete_namespace(self, ns: str) -> None:
        try:
            self.core.delete_namespace(ns)
        except ApiException as e:
            if e.status != 404:
                raise


def node_address() -> str:
    """The node's address (KFLOW_NODE_IP of the cluster's env file): pods reach the host only there,
    so test servers that pods use (HTTP fixtures, PostgreSQL, emulators) must listen on it."""
    for line in (STATE / "env").read_text().splitlines():
        if line.startswith("export KFLOW_NODE_IP="):
            return line.split("=", 1)[1].strip('"')
    raise RuntimeError(f"{STATE}/env has no KFLOW_NODE_IP: run `make cluster-up`")


# ---- stopping and restarting the cluster's own processes (resilience and chaos tests) ----------------
def component_pid(name: str) -> int:
    return int((STATE / "pids" / f"{name}.pid").read_text())


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def stop_component(name: str, sig: int = 9) -> int:
    """Signal a component (default SIGKILL: no clean-up) and wait until it is gone; return its old pid."""
    old = component_pid(name)
    os.kill(old, sig)
    poll(f"{name} to exit", lambda: not alive(old), 30, every=0.1)
    return old


def restart_missing() -> None:
    """`up.sh`: starts exactly the components that are not running and waits until the cluster is healthy."""
    # up.sh's python must import kubernetes: this interpreter does, whatever PATH says
    env = {**os.environ, "PYTHON": sys.executable}
    r = subprocess.run([str(REPO / "tests/cluster/up.sh")], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr


def shell_pod(name: str, script: str, **spec) -> dict:
    """A restartPolicy: Never pod running `sh -c script` in the shell stand-in image."""
    container = {"name": "main", "image": SHELL_IMAGE, "command": ["sh", "-c", script]}
    container.update(spec.pop("container", {}))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"restartPolicy": "Never", "containers": [container], **spec}}


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The local control plane of `make cluster-up`; its absence fails the test, never skips it."""
    if not (STATE / "kubeconfig").exists() or not (STATE / "env").exists():
        pytest.fail(f"local cluster is not up ({STATE}/kubeconfig missing): run `make cluster-up` first")
    c = Cluster()
    try:
        client.VersionApi(c.api).get_code(_request_timeout=10)
    except Exception as e:
        pytest.fail(f"local cluster at {STATE} is not answering ({e}): run `make cluster-up`")
    return c
