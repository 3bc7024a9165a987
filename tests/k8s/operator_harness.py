"""The kflow operator as a local process against the local control plane, for the operator tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from clusterlib import KFLOW_IMAGE, STATE, Cluster, poll

LOGS = STATE / "logs"
# Namespaces of this test session share a prefix the session's operator is limited to, so two test
# sessions (or a developer's operator) on one cluster never drive each other's executions.
SESSION_PREFIX = f"k{uuid.uuid4().hex[:6]}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Operator:
    def __init__(self, cluster: Cluster, extra_env: dict[str, str] | None = None,
                 namespaces: str | None = None, args: list[str] | None = None):
        self.cluster = cluster
        self.namespaces = namespaces
        self.args = list(args or [])
        self.port = _free_port()
        # Task pods run kflow's own image (built from the Dockerfile by `make cluster-up`) on the real node.
        # Most tests look at task pods after their execution ended: they keep them, with the volume. The
        # default (both deleted at the end) is what test_lifecycle.py and the chart test check.
        self.env = {**cluster.env, "KUBECONFIG": cluster.kubeconfig, "KFLOW_RUNTIME_IMAGE": KFLOW_IMAGE,
                    "KFLOW_KEEP_VOLUME": "true", "PYTHONUNBUFFERED": "1", **(extra_env or {})}
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        LOGS.mkdir(parents=True, exist_ok=True)
        self.log_path = LOGS / "operator.log"

    def start(self) -> None:
        self.starts += 1
        with open(self.log_path, "a") as log:
            log.write(f"\n===== operator start #{self.starts} =====\n")
            log.flush()
            scope = ["--namespace", self.namespaces] if self.namespaces else []
            self.proc = subprocess.Popen([sys.executable, "-m", "kflow.cli", "operator", *scope, "--liveness",
                                          f"http://127.0.0.1:{self.port}/healthz", *self.args], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        poll("operator liveness", self.healthy, 60)

    def healthy(self) -> bool:
        import urllib.request

        if self.proc is None or self.proc.poll() is not None:
            pytest.fail(f"operator exited ({self.proc and self.proc.returncode}); see {self.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no cleanup, like a crashed or evicted operator pod."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


# tests/k8s and tests/ui both import the fixture below, so pytest registers it once per conftest: two
# operators on one namespace pattern would race for the same Executions. Both share one process.
_SHARED: list[Operator] = []
_SHARED_USERS = [0]


@pytest.fixture(scope="session")
def operator(crds: Cluster) -> Iterator[Operator]:
    if not _SHARED:
        op = Operator(crds, namespaces=f"{SESSION_PREFIX}-*")
        op.start()
        _SHARED.append(op)
    _SHARED_USERS[0] += 1
    try:
        yield _SHARED[0]
    finally:
        _SHARED_USERS[0] -= 1
        if not _SHARED_USERS[0]:
            _SHARED.pop().stop()


@contextlib.contextmanager
def reconfigured(op: Operator, **env: str) -> Iterator[Operator]:
    """The same operator restarted with extra settings, then restored."""
    old = op.env
    op.stop()
    op.env = {**old, **env}
    op.start()
    try:
        yield op
    finally:
        op.stop()
        op.env = old
        op.start()


# ---- helpers used by the tests ---------------------------------------------------------------------
def apply(cluster: Cluster, ns: str, doc: dict[str, Any] | str, check: bool = True):
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc)
    return cluster.kubectl("-n", ns, "apply", "-f", "-", input=text, check=check)


def execution(name: str, flow: str, inputs: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": name},
            "spec": {"flowRef": {"name": flow}, "inputs": inputs or {}, **spec}}


def flow_manifest(name: str, body: str | dict[str, Any]) -> dict[str, Any]:
    spec = yaml.safe_load(body) if isinstance(body, str) else body
    return {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": name}, "spec": spec}


def get(cluster: Cluster, ns: str, plural: str, name: str) -> dict[str, Any]:
    return cluster.custom.get_namespaced_custom_object("kflow.dev", "v1alpha1", ns, plural, name)


def wait_state(cluster: Cluster, ns: str, name: str, timeout: float = 120) -> dict[str, Any]:
    """Wait with `kubectl wait --for=condition=Completed`, as a user would; return the Execution."""
    cluster.kubectl("-n", ns, "wait", "--for=condition=Completed", f"execution/{name}",
                    f"--timeout={int(timeout)}s", timeout=timeout + 30)
    return get(cluster, ns, "executions", name)


def pods(cluster: Cluster, ns: str, selector: str = "kflow.dev/execution") -> list[Any]:
    return cluster.core.list_namespaced_pod(ns, label_selector=selector).items


def runs(ex: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {tr["id"]: tr for tr in ex["status"]["taskRuns"]}


def elapsed_since(t0: float) -> float:
    return time.monotonic() - t0
