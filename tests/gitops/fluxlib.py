"""Flux's source-controller and kustomize-controller as local processes against the test cluster.

The binaries come from tests/gitops/build.sh (built once, cached under ~/.cache/kflow/flux/<key>/); the
Flux CRDs are applied from that build's copy of the modules' config/crd/bases. Each controller logs JSON to
.cluster/logs/flux-<controller>.log, which the tests read (kustomize-controller logs every server-side
apply with the action taken on each object: created, configured, unchanged).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from clusterlib import REPO, Cluster, poll

HERE = Path(__file__).resolve().parent
LOGS = REPO / ".cluster" / "logs"
# This session's GitOps namespaces; only its own operator watches them (the operator of tests/k8s is
# limited to its own prefix), so no two operators ever drive one execution.
PREFIX = f"g{uuid.uuid4().hex[:6]}"
FLUX_CRDS = ("gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io")


def build() -> Path:
    """The bin directory of the pinned controllers (built when missing: ~25 min cold, 0 s cached)."""
    r = subprocess.run([str(HERE / "build.sh")], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        pytest.fail(f"tests/gitops/build.sh failed:\n{r.stderr[-4000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM when the test process dies, even by SIGKILL (no leak)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    def __init__(self, name: str, binary: Path, args: list[str], env: dict[str, str]):
        self.name, self.binary, self.args, self.env = name, binary, args, env
        self.health = _port()
        self.log_path = LOGS / f"flux-{name}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), *self.args, f"--health-addr=127.0.0.1:{self.health}",
                 f"--metrics-addr=127.0.0.1:{_port()}", "--log-encoding=json", "--watch-all-namespaces=true"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=_die_with_parent)
        poll(f"{self.name} ready", self.ready, 60)

    def ready(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.proc and self.proc.returncode}); see {self.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON lines this controller logged since it was started."""
        with open(self.log_path, "rb") as f:
            f.seek(self.offset)
            lines = f.read().decode(errors="replace").splitlines()
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


class Flux:
    """Both controllers, started together and stopped together (also when the tests fail)."""

    def __init__(self, cluster: Cluster, bin_dir: Path):
        self.cluster, self.bin_dir = cluster, bin_dir
        self.storage = Path(tempfile.mkdtemp(prefix="kflow-flux-storage-"))
        storage_port = _port()
        env = {**cluster.env, "KUBECONFIG": cluster.kubeconfig, "RUNTIME_NAMESPACE": "default"}
        self.source = Controller("source-controller", bin_dir / "source-controller", [
            f"--storage-path={self.storage}", f"--storage-addr=127.0.0.1:{storage_port}",
            f"--storage-adv-addr=127.0.0.1:{storage_port}"], env)
        # A Kustomization waiting for another (dependsOn) looks again after 2 s, not 30 s.
        self.kustomize = Controller("kustomize-controller", bin_dir / "kustomize-controller",
                                    ["--requeue-dependency=2s"], env)

    def start(self) -> None:
        self.cluster.kubectl("apply", "--server-side", "-f", str(self.bin_dir / "crds"))
        for crd in FLUX_CRDS:
            self.cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s", timeout=90)
        poll("Flux kinds served", lambda: self.cluster.kubectl(
            "get", "gitrepositories,kustomizations", "-A", check=False).returncode == 0, 30)
        self.source.start()
        self.kustomize.start()

    def stop(self) -> None:
        self.kustomize.stop()
        self.source.stop()

    # ---- what `flux reconcile` does: annotate, then wait for the controller to have handled it --------
    def reconcile(self, ns: str, kind: str, name: str, timeout: float = 120) -> dict[str, Any]:
        token = f"{time.time_ns()}"
        self.cluster.kubectl("-n", ns, "annotate", "--overwrite", f"{kind}/{name}",
                             f"reconcile.fluxcd.io/requestedAt={token}")

        def handled() -> dict[str, Any] | None:
            obj = json.loads(self.cluster.kubectl("-n", ns, "get", f"{kind}/{name}", "-o", "json").stdout)
            status = obj.get("status") or {}
            return obj if status.get("lastHandledReconcileAt") == token else None
        return poll(f"{kind}/{name} reconciled ({token})", handled, timeout)

    def applied(self, ns: str, name: str) -> list[dict[str, str]]:
        """kustomize-controller's server-side apply results for Kustomization ns/name, one map per apply."""
        return [r["output"] for r in self.kustomize.log_records()
                if r.get("msg") == "server-side apply completed" and r.get("name") == name
                and r.get("namespace") == ns and isinstance(r.get("output"), dict)]
