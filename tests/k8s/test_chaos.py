"""Chaos on the real node, during running executions: the leader operator pod killed or deleted, the API
server and etcd killed, kubelet and containerd restarted, a task pod deleted by a user, the node gone
NotReady past the allowed time. Afterwards every execution must be in the right terminal state, every task
attempt must have had exactly one pod, no output may be lost and no CronTrigger tick lost or doubled.

Each test prints what it checked (executions, task runs, pods, ticks, takeovers) on one `chaos:` line.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from clusterlib import REPO, Cluster, poll, restart_missing, stop_component
from crontrigger_harness import TICK, executions_of, tick_of, trigger
from operator_harness import apply, execution, flow_manifest, get, pods, reconfigured, runs, wait_state

pytestmark = pytest.mark.cluster


def chain(flow_id: str, tasks: int, sleep: float, retries: int = 1) -> str:
    """`tasks` shell tasks in a row; task i outputs n=i. `retries` > 1: a retry policy with that many attempts."""
    retry = f"\n    retry: {{type: constant, interval: PT1S, maxAttempts: {retries}}}" if retries > 1 else ""
    steps = "".join(f"""
  - id: step{i}
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep {sleep}; echo '::{{\\"outputs\\": {{\\"n\\": {i}}}}}::'"]{retry}""" for i in range(1, tasks + 1))
    return f"id: {flow_id}\nnamespace: company.team\ntasks:{steps}\n"


def create_executions(cluster: Cluster, ns: str, flow: str, names: list[str]) -> None:
    cluster.kubectl("-n", ns, "apply", "-f", "-",
                    input="\n---\n".join(yaml.safe_dump(execution(n, flow)) for n in names))


def all_ended(cluster: Cluster, ns: str, names: list[str]) -> list[dict] | None:
    items = [get(cluster, ns, "executions", n) for n in names]
    ended = all((i.get("status") or {}).get("state") in ("SUCCESS", "FAILED", "KILLED", "WARNING") for i in items)
    return items if ended else None


def check_chain(cluster: Cluster, ns: str, items: list[dict], tasks: int, attempts: dict | None = None) -> Counter:
    """Every execution SUCCESS with all outputs; exactly one pod per task attempt (`attempts`: the expected
    attempts per task id, default 1). Returns the counts checked."""
    attempts = attempts or {}
    counts: Counter = Counter()
    all_pods = pods(cluster, ns)
    for item in items:
        name = item["metadata"]["name"]
        assert item["status"]["state"] == "SUCCESS", (name, item["status"].get("message"))
        by_id = runs(item)
        assert sorted(by_id) == sorted(f"step{i}" for i in range(1, tasks + 1)), by_id
        assert [by_id[f"step{i}"]["outputs"]["vars"] for i in range(1, tasks + 1)] == \
            [{"n": i} for i in range(1, tasks + 1)], name  # no output lost
        want = sorted((f"step{i}", str(a)) for i in range(1, tasks + 1)
                      for a in range(1, attempts.get(f"step{i}", 1) + 1))
        mine = [p for p in all_pods if p.metadata.labels["kflow.dev/execution"] == name]
        got = sorted((p.metadata.labels["kflow.dev/task"], p.metadata.labels["kflow.dev/attempt"]) for p in mine)
        assert got == want, (name, got)  # one pod per attempt: none doubled, none missing
        assert all(cs.restart_count == 0 for p in mine for cs in p.status.container_statuses or []), name
        started = Counter(m.split(": pod ")[-1] for m in events(cluster, ns, "TaskStarted") if f"pod {name}-" in m)
        # no pod created twice (an Event may be missing: a kill between the create and its Event)
        assert max(started.values(), default=1) == 1 and set(started) <= {p.metadata.name for p in mine}, started
        counts["executions"] += 1
        counts["task runs"] += len(by_id)
        counts["pods"] += len(mine)
    return counts


def events(cluster: Cluster, ns: str, reason: str) -> list[str]:
    return [e.message or "" for e in cluster.core.list_namespaced_event(ns).items if e.reason == reason]


def report(test: str, **figures: object) -> None:
    print(f"chaos: {test}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items()))


# ---- the leader operator pod, in the cluster (the chart: two replicas, leader election) ----------------


def _sigkill_pod(uid: str) -> int:
    """SIGKILL the pod's kflow processes from the host (as the kernel's OOM killer would); how many."""
    killed = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if f"pod{uid}" not in (proc / "cgroup").read_text() or b"kflow" not in (proc / "cmdline").read_bytes():
                continue
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
        except OSError:
            continue
    return killed


@pytest.mark.timeout(1500)
def test_leader_pod_killed_or_deleted_ten_times_during_twenty_executions(crds):
    cluster = crds
    tag = uuid.uuid4().hex[:6]
    system, flows = f"kchaos-sys-{tag}", f"kchaos-{tag}"
    for ns in (system, flows):
        cluster.core.create_namespace({"metadata": {"name": ns}})
    kube = {**cluster.env, "KUBECONFIG": cluster.kubeconfig}
    try:
        subprocess.run(["helm", "install", "kflow", str(REPO / "charts" / "kflow"), "-n", system,
                        "--set", "image.repository=kflow", "--set", "image.tag=dev",
                        "--set", f"watchNamespaces={{{flows}}}", "--set", "execution.keepVolume=true",  # pods kept
                        "--set", "metrics.enabled=true",
                        "--wait", "--timeout", "240s"],
                       env=kube, check=True, capture_output=True, text=True, timeout=300)

        def leader() -> tuple[str, str, datetime] | None:
            """(name, uid, last renewal) of the Lease holder when it is a running operator pod."""
            lease = json.loads(cluster.kubectl("-n", system, "get", "lease", "kflow", "-o", "json",
                                               check=False).stdout or "{}").get("spec") or {}
            holder = lease.get("holderIdentity")
            for p in cluster.core.list_namespaced_pod(system, label_selector="app.kubernetes.io/instance=kflow").items:
                if p.metadata.name == holder and p.status.phase == "Running" and not p.metadata.deletion_timestamp:
                    renewed = datetime.fromisoformat(lease["renewTime"].replace("Z", "+00:00"))
                    return p.metadata.name, p.metadata.uid, renewed
            return None

        poll("a leader", leader, 120)
        apply(cluster, flows, flow_manifest("five", chain("five", 5, 0.3)))
        apply(cluster, flows, flow_manifest("tick", TICK))
        apply(cluster, flows, trigger("every5", "tick", "*/5 * * * * *", successfulExecutionsHistoryLimit=200))
        names = [f"x{i:02d}" for i in range(20)]
        create_executions(cluster, flows, "five", names)
        rng = random.Random(20261203)
        takeovers = []
        for i in range(10):
            time.sleep(rng.uniform(1.0, 4.0))
            name, uid, _ = poll("a leader", leader, 60)
            killed = datetime.now(UTC)
            if i % 2 == 0:  # the process dies; its pod stays (kubelet restarts the container, now a standby)
                assert _sigkill_pod(uid) >= 1, f"no kflow process of pod {name} found"
            else:  # the pod goes: the operator stops cleanly and hands the Lease over
                cluster.kubectl("-n", system, "delete", "pod", name, "--wait=false")
            t0 = time.monotonic()
            # led again: a holder renewed after the kill (the standby, or the SIGKILLed pod's new container)
            poll("a leader again", lambda k=killed: (lead := leader()) and lead[2] > k + timedelta(seconds=1), 30,
                 every=0.2)
            takeovers.append(time.monotonic() - t0)
        items = poll("twenty executions ended", lambda: all_ended(cluster, flows, names), 900, every=3)
        time.sleep(11)  # ticks after the last takeover
        ticks = sorted(tick_of(e) for e in executions_of(cluster, flows, "every5"))
        counts = check_chain(cluster, flows, items, 5)
        assert len(ticks) == len(set(ticks)), "a tick was doubled"
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(ticks)}
        assert gaps == {5.0}, f"a tick was lost: {ticks}"
        assert max(takeovers) <= 15, takeovers
        series = _metrics(cluster, system, leader()[0])  # what `curl <pod>:9090/metrics` shows
        assert series[("kflow_executions", (("flow", "five"), ("namespace", flows), ("state", "SUCCESS")))] == 20
        assert series[("kflow_queued_executions", (("flow", "five"), ("namespace", flows)))] == 0
        assert any(k[0] == "kflow_crontrigger_schedule_lag_seconds" and dict(k[1]).get("trigger") == "every5"
                   for k in series), sorted(k for k in series if "lag" in k[0])
        assert sum(v for k, v in series.items() if k[0] == "kflow_api_requests_total") > 0
        report("leader pod x10", **counts, ticks=len(ticks), takeovers_s=[round(t, 1) for t in takeovers])
    finally:
        subprocess.run(["helm", "uninstall", "kflow", "-n", system], env=kube, capture_output=True, timeout=120)
        for ns in (flows, system):
            cluster.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def _metrics(cluster: Cluster, ns: str, pod_name: str) -> dict[tuple, float]:
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    ip = cluster.core.read_namespaced_pod(pod_name, ns).status.pod_ip
    with urllib.request.urlopen(f"http://{ip}:9090/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


# ---- the control plane and the node, with the test operator as a local process --------------------------
def _running(cluster: Cluster, ns: str, names: list[str] | None = None) -> bool:
    return any(p.status.phase == "Running" and (names is None or p.metadata.labels["kflow.dev/execution"] in names)
               for p in pods(cluster, ns))


@pytest.mark.timeout(900)
def test_apiserver_and_etcd_killed_mid_execution(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("three", chain("three", 3, 2)))
    names = []
    for component in ("kube-apiserver", "etcd"):  # each while a batch of its own runs
        batch = [f"{component[:4].strip('-')}{i}" for i in range(1, 3)]
        create_executions(cluster, namespace, "three", batch)
        names += batch
        poll("a task container running", lambda b=batch: _running(cluster, namespace, b), 120)
        stop_component(component)
        time.sleep(5)  # the operator's requests fail meanwhile
        restart_missing()
    items = poll("the executions ended", lambda: all_ended(cluster, namespace, names), 600, every=2)
    counts = check_chain(cluster, namespace, items, 3)
    report("kube-apiserver and etcd SIGKILLed", **counts)


@pytest.mark.timeout(900)
def test_kubelet_and_containerd_restarted_while_task_containers_run(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("three", chain("three", 3, 8, retries=2)))
    names = ["k1", "k2"]
    create_executions(cluster, namespace, "three", names)
    poll("a task container running", lambda: _running(cluster, namespace), 120)
    stop_component("kubelet", signal.SIGTERM)
    stop_component("containerd")  # SIGKILL: its shims, and the containers under them, carry on
    time.sleep(3)
    restart_missing()
    items = poll("two executions ended", lambda: all_ended(cluster, namespace, names), 600, every=2)
    # the containers outlived the restart: each task ran once (a retry would show as a second pod)
    counts = check_chain(cluster, namespace, items, 3)
    report("kubelet SIGTERM + containerd SIGKILL, restarted", **counts)


ONE_SLOW = """
id: slow
namespace: company.team
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    retry: {type: constant, interval: PT1S, maxAttempts: 2}
    commands:
      - >-
        if [ "{{ taskrun.attemptsCount }}" = 0 ]; then sleep 120; fi
      - >-
        echo '::{"outputs": {"attempt": {{ taskrun.attemptsCount }}}}::'
"""


def _attempt_1_pod(cluster: Cluster, ns: str, name: str):
    return next((p for p in pods(cluster, ns, f"kflow.dev/execution={name}")
                 if p.metadata.labels["kflow.dev/attempt"] == "1" and p.status.phase == "Running"), None)


@pytest.mark.timeout(600)
def test_a_task_pod_deleted_by_a_user_fails_its_attempt_with_the_reason_and_retries(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("slow", ONE_SLOW))
    apply(cluster, namespace, execution("u1", "slow"))
    pod = poll("attempt 1 running", lambda: _attempt_1_pod(cluster, namespace, "u1"), 120)
    cluster.kubectl("-n", namespace, "delete", "pod", pod.metadata.name, "--grace-period=5", "--wait=false")
    ex = wait_state(cluster, namespace, "u1", 300)
    assert ex["status"]["state"] == "SUCCESS", ex["status"]
    work = runs(ex)["work"]
    assert work["attempts"] == 2 and work["outputs"]["vars"] == {"attempt": 1}, work
    failed = [m for m in events(cluster, namespace, "TaskFailed") if "attempt 1" in m]
    assert failed and f"pod {pod.metadata.name} was deleted" in failed[0], failed
    names = sorted(p.metadata.name for p in pods(cluster, namespace, "kflow.dev/execution=u1"))
    assert names == ["u1-work-2"], names  # attempt 1's pod is gone (deleted), attempt 2 had one
    report("task pod deleted by a user", executions=1, attempts=2, reason=failed[0][:120])


def _node_ready(cluster: Cluster) -> str:
    node = cluster.core.read_node("kflow-node")
    return next(c.status for c in node.status.conditions if c.type == "Ready")


@pytest.mark.timeout(900)
def test_the_node_not_ready_past_the_allowed_time_fails_the_attempt_over_to_a_retry(operator, namespace):
    cluster = operator.cluster
    with reconfigured(operator, KFLOW_NODE_LOST_SECONDS="10"):
        apply(cluster, namespace, flow_manifest("slow", ONE_SLOW))
        apply(cluster, namespace, execution("n1", "slow"))
        pod = poll("attempt 1 running", lambda: _attempt_1_pod(cluster, namespace, "n1"), 120)
        stop_component("kubelet", signal.SIGTERM)  # its containers keep running: only the node is silent
        down = time.monotonic()
        try:
            poll("Node NotReady", lambda: _node_ready(cluster) != "True", 90, every=1)
            failed = poll("attempt 1 failed over",
                          lambda: [m for m in events(cluster, namespace, "TaskFailed") if "attempt 1" in m], 120, 1)
            silent = time.monotonic() - down
        finally:
            restart_missing()
        poll("Node Ready again", lambda: _node_ready(cluster) == "True", 90)
        ex = wait_state(cluster, namespace, "n1", 300)
    assert ex["status"]["state"] == "SUCCESS", ex["status"]
    work = runs(ex)["work"]
    assert work["attempts"] == 2 and work["outputs"]["vars"] == {"attempt": 1}, work
    assert "stopped answering" in failed[0] and pod.metadata.name in failed[0], failed
    # the old attempt's pod was deleted; its kubelet, back, stopped the container and removed it
    poll("attempt 1's pod removed", lambda: [p.metadata.name for p in pods(cluster, namespace, "kflow.dev/execution=n1")]
         == ["n1-work-2"], 120)
    report("node NotReady past nodeLostSeconds=10", executions=1, attempts=2, silent_s=round(silent, 1))
