"""Throughput and API cost per execution on the real node, against a bare-pod floor of the same run.

Three timed phases, each N at once (default 200), each from the first create to the last end:
- floor: a minimal client creates N bare pods running `true` (the shell stand-in image, the restricted
  security context task pods get) and waits for all of them to end (one pod watch);
- (a) N Executions of a one-shell-task flow (one pod each);
- (b) N Executions of a 10-task-run flow of engine tasks (Return, Log, If: no pods).
The operator is a process of its own (as in the other benches) that authenticates as a ServiceAccount
made for the run, so the API server's audit log (the test control plane records every request of a
ServiceAccount: tests/cluster/manifests/audit-policy.yaml) counts exactly its requests: per execution,
by verb and resource. Also prints executions and task runs per minute, the ratio of (a) to the floor,
and the operator's CPU seconds and peak RSS per phase.

Run (control plane up: `make cluster-up`): python bench/throughput.py [-n 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import yaml
from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "k8s"))

SHELL_FLOW = {"id": "one", "namespace": "bench", "tasks": [
    {"id": "t", "type": "io.kestra.plugin.scripts.shell.Commands", "commands": ["true"]}]}
ENGINE_FLOW = {"id": "ten", "namespace": "bench", "tasks": [
    {"id": "a", "type": "io.kestra.plugin.core.debug.Return", "format": "{{ execution.id }}"},
    {"id": "b", "type": "io.kestra.plugin.core.log.Log", "message": "a={{ outputs.a.value }}"},
    {"id": "c", "type": "io.kestra.plugin.core.flow.If", "condition": "{{ outputs.a.value is defined }}",
     "then": [{"id": f"d{i}", "type": "io.kestra.plugin.core.debug.Return", "format": f"{i}"} for i in range(3)],
     "else": [{"id": "never", "type": "io.kestra.plugin.core.log.Log", "message": "no"}]},
    {"id": "e", "type": "io.kestra.plugin.core.debug.Return", "format": "{{ outputs.d2.value }}"},
    {"id": "f", "type": "io.kestra.plugin.core.log.Log", "message": "e={{ outputs.e.value }}"},
    {"id": "g", "type": "io.kestra.plugin.core.debug.Return", "format": "end"},
    {"id": "h", "type": "io.kestra.plugin.core.log.Log", "message": "done"}]}
ENGINE_TASK_RUNS = 10  # a, b, c, d0-d2, e, f, g, h


def bare_pod(name: str, image: str) -> dict:
    sec = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
           "seccompProfile": {"type": "RuntimeDefault"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "floor"}},
            "spec": {"restartPolicy": "Never", "automountServiceAccountToken": False,
                     "securityContext": {"runAsUser": 1000, "runAsNonRoot": True},
                     "containers": [{"name": "c", "image": image, "command": ["/bin/sh", "-c", "true"],
                                     "securityContext": sec}]}}


def floor(core: client.CoreV1Api, ns: str, n: int, image: str) -> float:
    names = {f"floor-{uuid.uuid4().hex[:6]}-{i}" for i in range(n)}
    ended: set[str] = set()
    ready = threading.Event()

    def wait() -> None:
        w = watch.Watch()
        ready.set()
        for ev in w.stream(core.list_namespaced_pod, ns, label_selector="bench=floor", timeout_seconds=900):
            pod = ev["object"]
            if pod.metadata.name in names and pod.status.phase in ("Succeeded", "Failed"):
                ended.add(pod.metadata.name)
                if ended >= names:
                    w.stop()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    ready.wait()
    time.sleep(0.5)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: core.create_namespaced_pod(ns, bare_pod(name, image)), sorted(names)))
    t.join(900)
    took = time.perf_counter() - t0
    core.delete_collection_namespaced_pod(ns, label_selector="bench=floor")
    return took


def run_executions(custom: client.CustomObjectsApi, ns: str, flow: str, n: int) -> tuple[float, Counter]:
    run = uuid.uuid4().hex[:5]
    names = {f"{flow}-{run}-{i}" for i in range(n)}
    states: Counter = Counter()
    seen: set[str] = set()
    ready = threading.Event()

    def wait() -> None:
        w = watch.Watch()
        ready.set()
        for ev in w.stream(custom.list_namespaced_custom_object, "kflow.dev", "v1alpha1", ns, "executions",
                           timeout_seconds=1800):
            obj = ev["object"]
            name, state = obj["metadata"]["name"], (obj.get("status") or {}).get("state")
            if name in names and name not in seen and state in ("SUCCESS", "WARNING", "FAILED", "KILLED"):
                seen.add(name)
                states[state] += 1
                if seen >= names:
                    w.stop()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    ready.wait()
    time.sleep(0.5)
    t0 = time.perf_counter()

    def create(name: str) -> None:
        custom.create_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "executions", {
            "apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": name},
            "spec": {"flowRef": {"name": flow}}})

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, sorted(names)))
    t.join(1800)
    return time.perf_counter() - t0, states


class ProcStats:
    """CPU seconds and peak RSS of a process (and its children's CPU once they ended)."""

    def __init__(self, pid: int):
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / self.tick  # utime, stime, cutime, cstime

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


def operator_identity(cluster, ns: str, out: Path) -> str:
    """A ServiceAccount (cluster-admin, for the bench only) and a kubeconfig with its token."""
    sa = "kflow-bench-operator"
    cluster.kubectl("-n", ns, "create", "serviceaccount", sa)
    cluster.kubectl("create", "clusterrolebinding", f"{ns}-operator", "--clusterrole=cluster-admin",
                    f"--serviceaccount={ns}:{sa}")
    token = cluster.kubectl("-n", ns, "create", "token", sa, "--duration=4h").stdout.strip()
    admin = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    c = admin["clusters"][0]
    out.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": [c],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": sa, "context": {"cluster": c["name"], "user": sa}}], "current-context": sa}))
    return f"system:serviceaccount:{ns}:{sa}"


def audit_counts(path: Path, user: str, since: datetime, until: datetime) -> Counter:
    counts: Counter = Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("stage") != "ResponseComplete" or ev["user"].get("username") != user:
                continue
            at = datetime.fromisoformat(ev["requestReceivedTimestamp"].replace("Z", "+00:00"))
            if not since <= at <= until:
                continue
            ref = ev.get("objectRef") or {}
            what = ref.get("resource", "?") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            counts[f"{ev['verb']} {what}"] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    from clusterlib import SHELL_IMAGE, STATE, Cluster
    from operator_harness import Operator, flow_manifest

    audit_log = STATE / "logs" / "audit.log"
    if not audit_log.exists():
        raise SystemExit(f"no audit log at {audit_log}: restart the control plane (make cluster-down cluster-up)")
    cluster = Cluster()
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    config.load_kube_config(cluster.kubeconfig)
    core, custom = client.CoreV1Api(), client.CustomObjectsApi()
    ns = cluster.new_namespace()
    user = operator_identity(cluster, ns, STATE / "bench-operator.kubeconfig")
    for name, body in (("one", SHELL_FLOW), ("ten", ENGINE_FLOW)):
        cluster.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump(flow_manifest(name, body)))
    op = Operator(cluster, extra_env={"KUBECONFIG": str(STATE / "bench-operator.kubeconfig"),
                                      "KFLOW_KEEP_VOLUME": "false"}, namespaces=ns)
    op.start()
    stats = ProcStats(op.proc.pid)
    floors: list[float] = []
    phases: dict[str, list] = {"one": [], "ten": []}
    try:
        for r in range(args.rounds):
            floors.append(floor(core, ns, args.n, SHELL_IMAGE))
            print(f"round {r + 1}: floor {args.n} bare pods in {floors[-1]:.1f} s", flush=True)
            for flow in phases:
                cpu0, since = stats.cpu(), datetime.now(UTC)
                took, states = run_executions(custom, ns, flow, args.n)
                time.sleep(3)  # let the audit log's tail land
                counts = audit_counts(audit_log, user, since, datetime.now(UTC))
                phases[flow].append((took, states, stats.cpu() - cpu0, counts))
                print(f"round {r + 1}: {flow} {args.n} executions in {took:.1f} s {dict(states)}", flush=True)
    finally:
        peak = stats.peak_rss_mib()
        op.stop()
        cluster.kubectl("delete", "clusterrolebinding", f"{ns}-operator", check=False)
        cluster.delete_namespace(ns)
    n = args.n
    floor_s = statistics.median(floors)
    print(f"\nmedians over {args.rounds} round(s), {n} at once, one 2-core machine")
    print(f"floor: {n} bare pods in {floor_s:.1f} s = {n / floor_s * 60:.0f} pods/min")
    for flow, runs_per in (("one", 1), ("ten", ENGINE_TASK_RUNS)):
        took = statistics.median(x[0] for x in phases[flow])
        cpu = statistics.median(x[2] for x in phases[flow])
        counts = phases[flow][len(phases[flow]) // 2][3]
        total = sum(counts.values())
        print(f"({'a' if flow == 'one' else 'b'}) flow {flow!r}: {n / took * 60:.0f} executions/min, "
              f"{n * runs_per / took * 60:.0f} task runs/min ({took:.1f} s)")
        if flow == "one":
            print(f"    ratio to the bare-pod floor: {floor_s / took:.2f} (target >= 0.7)")
        print(f"    operator CPU {cpu:.1f} s ({cpu / n * 1000:.0f} ms per execution)")
        events = sum(v for k, v in counts.items() if k.endswith(" events"))
        print(f"    operator API requests per execution: {total / n:.1f} (events {events / n:.1f})")
        for what, count in counts.most_common():
            print(f"      {count / n:6.2f}  {what}")
    print(f"operator peak RSS {peak:.0f} MiB")

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
