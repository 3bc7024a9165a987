"""What a user sees when task pods cannot start, and what is left of Executions once they end, on the
real node: the pull error or the scheduler's reason in the Execution (conditions, task run, Events), Log
messages readable with kubectl after the pods are gone, per-execution volumes that go with the end of
their Execution (a 30-tick backfill never holds more than maxActive), ttlSecondsAfterFinished, and
CronTriggers that carry no finalizer."""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from clusterlib import REPO, poll
from crontrigger_harness import executions_of, trigger
from operator_harness import apply, execution, flow_manifest, get, reconfigured, runs, wait_state

pytestmark = pytest.mark.cluster


def _events(cluster, ns: str, name: str) -> list[dict]:
    items = json.loads(cluster.kubectl("-n", ns, "get", "events", "-o", "json",
                                       f"--field-selector=involvedObject.name={name}").stdout)["items"]
    return items


def _completed(ex: dict) -> dict:
    return next(c for c in ex["status"]["conditions"] if c["type"] == "Completed")


SCRIPT = """
id: pull
namespace: t
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {image}
    commands: ["echo hi"]
"""


def test_an_image_that_does_not_exist_fails_the_execution_with_the_pull_error(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("pull", SCRIPT.format(image="kflow.invalid/nowhere:1")))
    apply(cluster, namespace, execution("e", "pull"))
    t0 = time.monotonic()
    ex = wait_state(cluster, namespace, "e", 120)
    assert time.monotonic() - t0 < 120
    assert ex["status"]["state"] == "FAILED"
    error = runs(ex)["sh"]["error"]
    assert "cannot start in image kflow.invalid/nowhere:1 (ImagePullBackOff)" in error, error
    completed = _completed(ex)
    assert completed["status"] == "True" and "kflow.invalid/nowhere:1" in completed["message"]
    warnings = [e for e in _events(cluster, namespace, "e") if e["type"] == "Warning"]
    assert any(e["reason"] == "TaskFailed" and "ImagePullBackOff" in e["message"] for e in warnings), warnings


SLEEPY = """
id: tick
namespace: t
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo tick", "sleep 1"]
"""


# Two pods: they may pass files, so each execution gets a volume (k8s/volumes.py).
SLEEPY_PAIR = SLEEPY + """  - id: more
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo tock"]
"""


def test_a_pod_that_cannot_be_scheduled_shows_why_then_fails_at_the_start_deadline(operator, namespace):
    """A storage class that does not exist: the volume never binds, the scheduler says so."""
    cluster = operator.cluster
    with reconfigured(operator, KFLOW_STORAGE_CLASS="kflow-missing-class", KFLOW_START_DEADLINE_SECONDS="25"):
        apply(cluster, namespace, flow_manifest("tick", SLEEPY))
        apply(cluster, namespace, execution("stuck", "tick"))
        waiting = poll("the reason in the Execution", lambda: (
            m := (get(cluster, namespace, "executions", "stuck").get("status") or {}).get("message", "")
        ) and "waiting" in m and m, 60)
        assert "task run work waiting: pod cannot be scheduled" in waiting, waiting
        assert "kflow-missing-class" in waiting or "PersistentVolumeClaim" in waiting, waiting
        ex = wait_state(cluster, namespace, "stuck", 120)
    assert ex["status"]["state"] == "FAILED"
    assert "not started within the start deadline of PT25S" in runs(ex)["work"]["error"]
    assert "start deadline" in _completed(ex)["message"]
    reasons = {e["reason"] for e in _events(cluster, namespace, "stuck")}
    assert {"TaskPending", "TaskFailed"} <= reasons, reasons


def test_log_messages_are_read_with_kubectl_after_the_pods_are_gone(operator, namespace):
    cluster = operator.cluster
    cluster.kubectl("-n", namespace, "apply", "-f", str(REPO / "flows" / "hello_world.yaml"))
    apply(cluster, namespace, execution("hi", "hello-world", keepVolume=False))
    assert wait_state(cluster, namespace, "hi", 120)["status"]["state"] == "SUCCESS"
    cluster.kubectl("-n", namespace, "delete", "pods", "--all", "--wait=true", timeout=120)
    out = cluster.kubectl("-n", namespace, "get", "configmap", "hi-logs", "-o", "yaml").stdout
    lines = [line for v in yaml.safe_load(out)["data"].values() for line in json.loads(v)]
    messages = {(line.get("taskId"), line["message"]) for line in lines}
    assert ("first_log", "Hello, Kestra user!") in messages, messages
    # the volume went with the end of the execution
    assert cluster.core.list_namespaced_persistent_volume_claim(namespace).items == []


def test_ttl_seconds_after_finished_deletes_the_execution_and_what_it_owns(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("tick", SLEEPY_PAIR))
    apply(cluster, namespace, execution("brief", "tick", ttlSecondsAfterFinished=5))
    apply(cluster, namespace, execution("default", "tick", keepVolume=False))
    apply(cluster, namespace, execution("kept", "tick", keepVolume=True))
    assert wait_state(cluster, namespace, "brief", 120)["status"]["state"] == "SUCCESS"
    assert wait_state(cluster, namespace, "kept", 120)["status"]["state"] == "SUCCESS"
    poll("brief deleted", lambda: cluster.kubectl("-n", namespace, "get", "execution", "brief",
                                                  check=False).returncode != 0, 60)
    poll("its pods and logs collected", lambda: not cluster.core.list_namespaced_config_map(
        namespace, label_selector="kflow.dev/execution=brief").items and not cluster.core.list_namespaced_pod(
        namespace, label_selector="kflow.dev/execution=brief").items, 60)
    assert wait_state(cluster, namespace, "default", 120)["status"]["state"] == "SUCCESS"
    claims = cluster.core.list_namespaced_persistent_volume_claim
    poll("only the kept volume left", lambda: [c.metadata.name for c in claims(namespace).items] == ["kept-storage"],
         60)
    # the volume went at the end, with the pods that mounted it; their output stays readable
    assert not cluster.core.list_namespaced_pod(namespace, label_selector="kflow.dev/execution=default").items
    assert cluster.core.list_namespaced_pod(namespace, label_selector="kflow.dev/execution=kept").items
    logs = cluster.kubectl("-n", namespace, "get", "configmap", "default-logs", "-o", "json").stdout
    assert "tick" in logs
    assert get(cluster, namespace, "executions", "kept")["status"]["state"] == "SUCCESS"


@pytest.mark.timeout(900)
def test_a_30_tick_backfill_holds_at_most_max_active_volumes_and_none_at_the_end(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("tick", SLEEPY_PAIR))
    most, stop = [0], threading.Event()

    def watch_claims() -> None:
        while not stop.is_set():
            live = [c for c in cluster.core.list_namespaced_persistent_volume_claim(namespace).items
                    if c.metadata.deletion_timestamp is None]
            most[0] = max(most[0], len(live))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch_claims, daemon=True)
    watcher.start()
    with reconfigured(operator, KFLOW_KEEP_VOLUME="false"):  # the default, which the harness turns off
        _backfill_30(cluster, namespace, most, stop, watcher)


def _backfill_30(cluster, namespace, most, stop, watcher) -> None:
    try:
        apply(cluster, namespace, trigger("daily", "tick", "0 9 * * *", backfill={
            "start": "2019-01-01T00:00:00Z", "end": "2019-01-30T23:59:59Z", "maxActive": 3}))
        done = poll("30 backfill executions ended", lambda: (
            items := executions_of(cluster, namespace, "daily")) and len(items) == 30 and all(
            (i.get("status") or {}).get("state") in ("SUCCESS", "FAILED") for i in items) and items, 600, every=2)
        poll("no volume left", lambda: not cluster.core.list_namespaced_persistent_volume_claim(namespace).items, 60)
    finally:
        stop.set()
        watcher.join(5)
    assert {i["status"]["state"] for i in done} == {"SUCCESS"}
    assert 1 <= most[0] <= 3, most
    ct = get(cluster, namespace, "crontriggers", "daily")
    assert not ct["metadata"].get("finalizers")  # deleting it never waits for an operator
    assert ct["status"]["backfill"]["succeeded"] == 30
