"""Pod informers: the binder (stand-in for kube-scheduler) and the per-node pod manager."""

from __future__ import annotations

import shutil
import threading

from .kube import ApiError, list_watch, log
from .worker import PodWorker


class PodManager:
    def __init__(self, agent):
        self.agent, self.kube = agent, agent.kube
        self.lock = threading.Lock()
        self.workers: dict[str, PodWorker] = {}  # by uid

    def run_node_pods(self) -> None:
        list_watch(self.kube, "/api/v1/pods", self.sync, self.event, self.agent.stop,
                   fieldSelector=f"spec.nodeName={self.agent.node_name}")

    def sync(self, items: list[dict]) -> None:
        seen = {p["metadata"]["uid"] for p in items}
        for p in items:
            self.event("MODIFIED", p)
        with self.lock:
            gone = [w for uid, w in self.workers.items() if uid not in seen]
        for w in gone:
            self.event("DELETED", w.pod)
        # Pods deleted while the agent was down leave their directories behind.
        pods_dir = self.agent.state_dir / "pods"
        for d in pods_dir.iterdir() if pods_dir.is_dir() else []:
            if d.name.rsplit("_", 1)[-1] not in seen:
                shutil.rmtree(d, ignore_errors=True)

    def event(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            w = self.workers.get(uid)
            if kind == "DELETED":
                if w is not None:
                    del self.workers[uid]
                    w.removed = True
                    w.update(pod)
                return
            if w is None:
                w = self.workers[uid] = PodWorker(self.agent, pod)
                w.start()
                return
        w.update(pod)

    def find(self, ns: str, name: str) -> PodWorker | None:
        with self.lock:
            ws = [w for w in self.workers.values() if w.ns == ns and w.pod_name == name]
        return ws[0] if ws else None

    def all_workers(self) -> list[PodWorker]:
        with self.lock:
            return list(self.workers.values())

    # ------------------------------------------------------------ binder

    def run_binder(self) -> None:
        def bind_all(items: list[dict]) -> None:
            for p in items:
                self.bind(p)

        list_watch(self.kube, "/api/v1/pods", bind_all, lambda _k, p: self.bind(p), self.agent.stop,
                   fieldSelector="spec.nodeName=,status.phase=Pending")

    def bind(self, pod: dict) -> None:
        md = pod["metadata"]
        if md.get("deletionTimestamp") or pod["spec"].get("nodeName"):
            return
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": md["name"], "uid": md["uid"]},
                "target": {"apiVersion": "v1", "kind": "Node", "name": self.agent.node_name}}
        try:
            self.kube.raw("POST", f"/api/v1/namespaces/{md['namespace']}/pods/{md['name']}/binding", body)
        except ApiError as e:
            if e.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", md["namespace"], md["name"], e.reason)
