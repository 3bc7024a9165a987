"""The operator on the real control plane: Flows and Executions become pods, status and conditions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clusterlib import REPO, poll
from operator_harness import apply, execution, flow_manifest, get, pods, runs, wait_state

pytestmark = pytest.mark.cluster


def test_getting_started_runs_as_three_pods_sharing_one_volume(operator, namespace, products_url):
    cluster = operator.cluster
    cluster.kubectl("-n", namespace, "apply", "-f", str(REPO / "flows" / "01_getting_started_data_pipeline.yaml"))
    apply(cluster, namespace, execution("gs", "getting-started-data-pipeline", {"uri": products_url}))
    cluster.kubectl("-n", namespace, "wait", "--for=condition=Succeeded", "execution/gs", "--timeout=180s",
                    timeout=210)
    ex = get(cluster, namespace, "executions", "gs")
    status = ex["status"]
    assert status["state"] == "SUCCESS"
    assert status["flowGeneration"] == 1
    query = runs(ex)["query"]
    rows = query["preview"]
    assert {"brand", "avg_price"} <= set(rows[0])
    assert rows == sorted(rows, key=lambda r: -r["avg_price"])
    assert query["outputs"]["size"] == len({r["brand"] for r in rows}) or query["outputs"]["size"] >= len(rows)
    task_pods = pods(cluster, namespace)
    assert sorted(p.metadata.labels["kflow.dev/task"] for p in task_pods) == ["extract", "query", "transform"]
    claims = {v.persistent_volume_claim.claim_name for p in task_pods for v in p.spec.volumes
              if v.persistent_volume_claim}
    assert claims == {"gs-storage"}
    for p in task_pods:
        # Real containers: each ran from an image the node has (imageID is the digest containerd ran).
        assert all(cs.image_id.startswith("sha256:") or "@sha256:" in cs.image_id
                   for cs in p.status.container_statuses), p.status.container_statuses
        assert p.metadata.owner_references[0].kind == "Execution"
        assert p.spec.security_context.run_as_non_root is True
        assert p.metadata.labels["kflow.dev/attempt"] == "1"
    # Logs stay readable after the execution ended.
    logs = cluster.kubectl("-n", namespace, "logs", runs(ex)["transform"]["pod"]).stdout
    assert "kflow.files" in logs
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {"Running": "False", "Succeeded": "True", "Completed": "True"}


RETRY_FLOW = """
id: retrying
namespace: t
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'test "{{ taskrun.attemptsCount }}" -ge 2'
    retry:
      type: constant
      interval: PT0.5S
      maxAttempts: 4
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    timeout: PT2S
    commands: ["sleep 60"]
  - id: tag
    type: io.kestra.plugin.core.execution.Labels
    labels:
      stage: done
  - id: out
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.flaky.exitCode }}"
"""


def test_retries_are_new_pods_timeouts_become_deadlines_and_labels_land(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("retrying", RETRY_FLOW))
    apply(cluster, namespace, execution("r1", "retrying"))
    ex = wait_state(cluster, namespace, "r1", 180)
    assert ex["status"]["state"] == "WARNING"
    flaky = runs(ex)["flaky"]
    assert flaky["attempts"] == 3 and flaky["state"] == "SUCCESS"
    names = sorted(p.metadata.name for p in pods(cluster, namespace, "kflow.dev/task=flaky"))
    assert names == [f"r1-flaky-{i}" for i in (1, 2, 3)]
    slow_pod = pods(cluster, namespace, "kflow.dev/task=slow")[0]
    assert slow_pod.spec.active_deadline_seconds == 2
    assert "Timeout after PT2S" in runs(ex)["slow"]["error"]
    assert ex["metadata"]["labels"]["stage"] == "done"
    assert runs(ex)["out"]["outputs"] == {"value": "0"}
    events = cluster.kubectl("-n", namespace, "get", "events", "-o", "json").stdout
    reasons = {e["reason"] for e in json.loads(events)["items"]}
    assert {"TaskStarted", "TaskFailed", "ExecutionWarning"} <= reasons


def test_invalid_inputs_fail_without_pods(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("typed", """
id: typed
namespace: t
inputs:
  - id: month
    type: SELECT
    values: ["01", "02"]
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo {{ inputs.month }}"]
"""))
    apply(cluster, namespace, execution("bad", "typed", {"month": "13"}))
    ex = wait_state(cluster, namespace, "bad")
    assert ex["status"]["state"] == "FAILED"
    assert ex["status"]["reason"] == "InvalidInputs"
    assert "Invalid input for `month`, it must match the values `[01, 02]`, but received `13`" \
        in ex["status"]["message"]
    apply(cluster, namespace, execution("missing", "typed"))
    assert "missing required input" in wait_state(cluster, namespace, "missing")["status"]["message"]
    assert pods(cluster, namespace) == []


def test_kill_stops_running_pods(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("long", """
id: long
namespace: t
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 300"]
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"""))
    apply(cluster, namespace, execution("k1", "long"))
    poll("pod running", lambda: any(p.status.phase == "Running" for p in pods(cluster, namespace)), 60)
    cluster.kubectl("-n", namespace, "patch", "execution", "k1", "--type=merge", "-p", '{"spec":{"kill":true}}')
    ex = wait_state(cluster, namespace, "k1")
    assert ex["status"]["state"] == "KILLED"
    assert runs(ex)["wait"]["state"] == "KILLED" and "never" not in runs(ex)
    poll("pod gone", lambda: pods(cluster, namespace) == [], 60)


def test_deleting_an_execution_deletes_its_pods(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("long2", """
id: long2
namespace: t
tasks:
  - id: wait
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 300"]
"""))
    apply(cluster, namespace, execution("d1", "long2"))
    poll("pod running", lambda: any(p.status.phase == "Running" for p in pods(cluster, namespace)), 60)
    cluster.kubectl("-n", namespace, "delete", "execution", "d1", "--wait=true", "--timeout=60s")
    poll("pods and claim collected", lambda: pods(cluster, namespace) == [] and
         cluster.core.list_namespaced_persistent_volume_claim(namespace).items == [], 90)


def test_editing_a_flow_does_not_change_a_started_execution(operator, namespace):
    cluster = operator.cluster
    body = """
id: edited
namespace: t
tasks:
  - id: hold
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 3"]
  - id: say
    type: io.kestra.plugin.core.debug.Return
    format: VERSION
"""
    apply(cluster, namespace, flow_manifest("edited", body.replace("VERSION", "first")))
    apply(cluster, namespace, execution("e1", "edited"))
    poll("started", lambda: (get(cluster, namespace, "executions", "e1").get("status") or {}).get("state")
         == "RUNNING", 60)
    apply(cluster, namespace, flow_manifest("edited", body.replace("VERSION", "second")))
    poll("flow generation 2 validated", lambda: (get(cluster, namespace, "flows", "edited").get("status") or {})
         .get("observedGeneration") == 2, 60)
    ex = wait_state(cluster, namespace, "e1")
    assert runs(ex)["say"]["outputs"] == {"value": "first"}
    assert ex["status"]["flowGeneration"] == 1
    apply(cluster, namespace, execution("e2", "edited"))
    ex2 = wait_state(cluster, namespace, "e2")
    assert runs(ex2)["say"]["outputs"] == {"value": "second"} and ex2["status"]["flowGeneration"] == 2


INVALID = sorted((REPO / "tests" / "flows" / "invalid").glob("*.yaml"))


def _manifest_for(path: Path) -> dict | None:
    from kflow.errors import FlowInvalid
    from kflow.model.yamlio import load_yaml

    try:  # file-level problems (YAML syntax, duplicate keys) never reach a cluster
        body = load_yaml(path.read_text())
    except FlowInvalid:
        return None
    if not isinstance(body, dict) or "kind" in body or "id" not in body:
        return None  # in a manifest a missing id is the resource name: not an error there
    name = path.stem.replace("_", "-")
    return flow_manifest(name, body)


def test_invalid_flows_are_rejected_or_marked_invalid_with_their_path(operator, namespace):
    cluster = operator.cluster
    checked = 0
    for path in INVALID:
        manifest = _manifest_for(path)
        if manifest is None:
            continue
        expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
        result = apply(cluster, namespace, manifest, check=False)
        name = manifest["metadata"]["name"]
        if result.returncode != 0:
            assert "spec" in result.stderr, f"{path.name}: server rejection does not name the field:\n{result.stderr}"
            checked += 1
            continue

        def marked(n=name):
            st = get(cluster, namespace, "flows", n).get("status") or {}
            return st if st.get("observedGeneration") else None

        status = poll(f"{name} validated", marked, 60)
        assert status["valid"] is False, f"{path.name} was accepted as valid"
        valid = next(c for c in status["conditions"] if c["type"] == "Valid")
        assert valid["status"] == "False" and valid["reason"] == "InvalidFlow"
        assert f"spec.{expected}" in valid["message"] or expected in valid["message"], \
            f"{path.name}: `{expected}` not in {valid['message']}"
        apply(cluster, namespace, execution(f"run-{name}"[:60], name))
        ex = wait_state(cluster, namespace, f"run-{name}"[:60])
        assert ex["status"]["state"] == "FAILED" and ex["status"]["reason"] == "InvalidFlow"
        checked += 1
    assert checked >= 20
    assert pods(cluster, namespace) == []


def test_finished_pods_are_deleted_after_the_configured_ttl(operator, namespace):
    from operator_harness import reconfigured

    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("short", """
id: short
namespace: t
tasks:
  - id: one
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo done"]
"""))
    with reconfigured(operator, KFLOW_POD_TTL_SECONDS="3"):
        apply(cluster, namespace, execution("ttl", "short"))
        ex = wait_state(cluster, namespace, "ttl")
        assert ex["status"]["state"] == "SUCCESS"
        assert len(pods(cluster, namespace)) == 1  # kept for `kubectl logs` until the TTL passes
        poll("pods deleted after the TTL", lambda: pods(cluster, namespace) == [], 60)
    assert get(cluster, namespace, "executions", "ttl")["status"]["state"] == "SUCCESS"
