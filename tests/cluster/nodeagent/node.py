"""Node registration, status heartbeat and Lease renewal (what makes the Node Ready)."""

from __future__ import annotations

import os
import platform
import threading

from .kube import MERGE, ApiError, Kube, log, now

LEASE_SECONDS = 10  # renewed every 3 s; KCM runs with --node-monitor-grace-period=20s
STATUS_EVERY = 10


def _memory_bytes() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 8 << 30


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


class NodeAgent:
    def __init__(self, kube: Kube, name: str, port: int, stop: threading.Event):
        self.kube, self.name, self.port, self.stop = kube, name, port, stop
        self.uid = ""

    def register(self) -> None:
        path = f"/api/v1/nodes/{self.name}"
        node = self.kube.get(path)
        if node is None:
            node = self.kube.raw("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                        platform.machine(), platform.machine()),
                }},
            })
        self.uid = node["metadata"]["uid"]
        self.push_status()

    def push_status(self) -> None:
        t = now()
        mem = _memory_bytes()
        cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem // 1024}Ki", "pods": "110",
               "ephemeral-storage": "100Gi"}
        version = (self.kube.get("/version") or {}).get("gitVersion", "v0.0.0")

        def cond(type_: str, status: str, reason: str, message: str) -> dict:
            return {"type": type_, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": t, "lastTransitionTime": t}

        status = {
            "capacity": cap,
            "allocatable": cap,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kflow node agent"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kflow node agent"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kflow node agent"),
                cond("Ready", "True", "KubeletReady", "kflow node agent is posting ready status"),
            ],
            # Only InternalIP: the API server reaches our log endpoint through it.
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": _read("/etc/machine-id", "kflow"),
                "systemUUID": _read("/etc/machine-id", "kflow"),
                "bootID": _read("/proc/sys/kernel/random/boot_id", "kflow"),
                "kernelVersion": platform.release(),
                "osImage": _read("/etc/debian_version", "linux"),
                "containerRuntimeVersion": "kflow-process://0.1",
                "kubeletVersion": version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(
                    platform.machine(), platform.machine()),
            },
        }
        self.kube.raw("PATCH", f"/api/v1/nodes/{self.name}/status", {"status": status}, MERGE)

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": now().replace("Z", ".000000Z")}
        try:
            self.kube.raw("PATCH", path, {"spec": spec}, MERGE)
        except ApiError as e:
            if e.status != 404:
                raise
            self.kube.raw("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "metadata": {"name": self.name, "namespace": "kube-node-lease", "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.uid}]},
                "spec": spec,
            })

    def run(self) -> None:
        ticks = 0
        while not self.stop.is_set():
            try:
                if not self.uid:
                    self.register()
                self.renew_lease()
                if ticks % (STATUS_EVERY // 3 + 1) == 0:
                    self.push_status()
            except Exception as e:
                log.warning("node heartbeat failed: %s", e)
                if isinstance(e, ApiError) and e.status == 404:
                    self.uid = ""  # node object was deleted: register again
            ticks += 1
            self.stop.wait(3)
