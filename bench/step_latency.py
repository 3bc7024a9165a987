"""Operator step latency against a floor measured in the same run.

Both loops are observed by one pod watch in this process (kubernetes client):
- kflow: a 20-task chain of instant shell tasks run by the operator (a local process); for each step,
  the time from seeing task N's pod Succeeded to seeing task N+1's pod ADDED.
- floor: a bare loop with the same client library: watch, and on a pod's Succeeded create the next
  pod; the same two events are timed.
Prints median and p95 of both and the ratio of medians. Targets: median <= 100 ms, ratio <= 3.
Needs the local cluster (make cluster-up) and the CRDs applied; starts its own operator.

Run: python bench/step_latency.py [--tasks 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import queue
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "k8s"))


def watch_pods(core: client.CoreV1Api, ns: str, out: queue.Queue, stop: threading.Event) -> None:
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, ns, timeout_seconds=600):
        now = time.perf_counter()
        pod = ev["object"]
        out.put((now, ev["type"], pod.metadata.name, pod.status.phase, pod.metadata.labels or {}))
        if stop.is_set():
            w.stop()
            return


def pod_manifest(name: str) -> dict:
    sec = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
           "seccompProfile": {"type": "RuntimeDefault"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "floor"}},
            "spec": {"restartPolicy": "Never", "securityContext": {"runAsUser": 1000, "runAsNonRoot": True},
                     "containers": [{"name": "c", "image": "python:3.11-alpine", "command": ["/bin/sh", "-c", "true"],
                                     "securityContext": sec}]}}


def floor(core: client.CoreV1Api, ns: str, steps: int) -> list[float]:
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=watch_pods, args=(core, ns, events, stop), daemon=True).start()
    time.sleep(0.5)
    latencies: list[float] = []
    run = uuid.uuid4().hex[:5]
    names = [f"floor-{run}-{i}" for i in range(steps)]
    core.create_namespaced_pod(ns, pod_manifest(names[0]))
    done_at: dict[str, float] = {}
    created = {names[0]}
    while len(latencies) < steps - 1:
        t, kind, name, phase, _ = events.get(timeout=120)
        if name not in names:
            continue
        if phase == "Succeeded" and name not in done_at:
            done_at[name] = t
            i = names.index(name)
            if i + 1 < steps and names[i + 1] not in created:
                created.add(names[i + 1])
                core.create_namespaced_pod(ns, pod_manifest(names[i + 1]))
        elif kind == "ADDED" and name != names[0]:
            prev = names[names.index(name) - 1]
            latencies.append(t - done_at[prev])
    stop.set()
    return latencies


def kflow_chain(cluster, ns: str, steps: int) -> list[float]:
    from operator_harness import apply, execution, flow_manifest

    body = {"id": "chain", "namespace": "bench", "tasks": [
        {"id": f"t{i:02d}", "type": "io.kestra.plugin.scripts.shell.Commands", "commands": ["true"]}
        for i in range(steps)]}
    apply(cluster, ns, flow_manifest("chain", body))
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    threading.Thread(target=watch_pods, args=(cluster.core, ns, events, stop), daemon=True).start()
    time.sleep(0.5)
    run = f"c-{uuid.uuid4().hex[:6]}"
    apply(cluster, ns, execution(run, "chain"))
    done_at: dict[str, float] = {}
    latencies: list[float] = []
    while len(latencies) < steps - 1:
        t, kind, _name, phase, labels = events.get(timeout=300)
        task = labels.get("kflow.dev/task")
        if labels.get("kflow.dev/execution") != run or not task:
            continue
        if phase == "Succeeded" and task not in done_at:
            done_at[task] = t
        elif kind == "ADDED" and task != "t00":
            prev = f"t{int(task[1:]) - 1:02d}"
            if prev in done_at:
                latencies.append(t - done_at[prev])
    stop.set()
    return latencies


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from clusterlib import Cluster
    from operator_harness import Operator

    cluster = Cluster()
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    config.load_kube_config(cluster.kubeconfig)
    op = Operator(cluster)
    op.start()
    ns = cluster.new_namespace()
    try:
        ours, bare = [], []
        for _ in range(args.rounds):
            bare += floor(cluster.core, ns, args.tasks)
            ours += kflow_chain(cluster, ns, args.tasks)
    finally:
        op.stop()
        cluster.delete_namespace(ns)
    (om, op95), (bm, bp95) = stats(ours), stats(bare)
    print(f"kflow operator: median {om * 1000:.1f} ms, p95 {op95 * 1000:.1f} ms over {len(ours)} steps")
    print(f"bare watch-and-create floor: median {bm * 1000:.1f} ms, p95 {bp95 * 1000:.1f} ms over {len(bare)} steps")
    print(f"ratio of medians {om / bm:.2f} (targets: median <= 100 ms, ratio <= 3)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
