"""Task pods get only the secrets their flow names: pure pieces (builder, scan) and on the cluster."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest

from kflow.k8s import secret_refs
from kflow.k8s.config import OperatorConfig
from kflow.k8s.resources import task_pod
from kflow.model.loader import load_flow_text


@pytest.mark.parametrize("body,expected", [
    ({"tasks": [{"message": "{{ secret('API_TOKEN') }} and {{ secret(\"db\") }}"}]},
     ["SECRET_API_TOKEN", "SECRET_DB", "SECRET_db"]),
    ({"variables": {"x": "{{ secret( 'A' , 'ignored') }}"}, "tasks": [{"env": {"K": "{{ vars.x }}"}}]}, ["SECRET_A"]),
    ({"tasks": [{"message": "no secrets here, not even secretive()"}]}, []),
    ({"tasks": [{"message": "{{ secret(inputs.name) }}"}]}, None),        # computed: the whole Secret
    ({"tasks": [{"message": "{{ secret('A') ~ secret(vars.b) }}"}]}, None),
])
def test_referenced_keys(body, expected):
    assert secret_refs.referenced_keys(body) == expected


def test_a_loaded_flow_shows_its_tasks_properties_to_the_scans():
    from kflow.k8s import kvstore

    flow = load_flow_text("""
id: f
namespace: t
tasks:
  - id: s
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo {{ secret('TOKEN') }} {{ kv('k') }}"]
""", "f.yaml").flow
    assert secret_refs.referenced_keys(flow.as_json()) == ["SECRET_TOKEN"]
    assert kvstore.uses_kv(json.dumps(flow.as_json()))


def test_pod_keys_keep_environment_and_drop_unreferenced_secrets():
    keys = ["ENV_COLOR", "KFLOW_TAXI_BASE_URL", "SECRET_A", "SECRET_B"]
    assert secret_refs.pod_keys(keys, ["SECRET_A", "SECRET_C"]) == ["ENV_COLOR", "KFLOW_TAXI_BASE_URL", "SECRET_A"]


FLOW = load_flow_text("""
id: f
namespace: t
tasks:
  - id: s
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo {{ secret('A') | length }}"]
""", "f.yaml").flow


@pytest.mark.parametrize("keys", [["SECRET_A"], None])
def test_task_pod_references_keys_or_the_whole_secret(keys):
    body = {"metadata": {"name": "e1", "namespace": "ns", "uid": "u"}, "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Execution"}
    pod = task_pod(body, flow_name="f", task=FLOW.tasks[0], task_run_id="s", attempt=1,
                   worker_spec={"workdir": "/w"}, timeout=timedelta(seconds=5),
                   config=OperatorConfig(secrets_from="task-env"), secret_keys=keys)
    for c in [*pod["spec"]["initContainers"], *pod["spec"]["containers"]]:
        refs = [e["valueFrom"]["secretKeyRef"] for e in c.get("env") or [] if "valueFrom" in e]
        if keys is None:
            assert c["envFrom"] == [{"secretRef": {"name": "task-env", "optional": True}}] and not refs
        else:
            assert not c["envFrom"] and refs == [{"name": "task-env", "key": "SECRET_A", "optional": True}]


SECRETS_FLOW = """
id: secrets
namespace: company.team
tasks:
  - id: show
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "::{\\"outputs\\":{\\"a\\":{{ secret('A') | length }},\\"b\\":\\"${SECRET_B:-absent}\\",\\"color\\":\\"${ENV_COLOR}\\"}}::"
  - id: typo
    type: io.kestra.plugin.scripts.shell.Commands
    runIf: "{{ inputs.typo }}"
    commands: ["echo {{ envs.colour }}"]
inputs:
  - {id: typo, type: BOOLEAN, defaults: false}
"""


@pytest.mark.cluster
def test_a_task_pod_gets_only_the_secrets_its_flow_names(operator, namespace):
    from operator_harness import apply, execution, flow_manifest, pods, reconfigured, runs, wait_state

    cluster = operator.cluster
    b64 = {k: base64.b64encode(v.encode()).decode() for k, v in {"A": "alpha", "B": "beta-secret"}.items()}
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"}, "stringData": {
        "SECRET_A": b64["A"], "SECRET_B": b64["B"], "ENV_COLOR": "blue"}})
    with reconfigured(operator, KFLOW_SECRETS_FROM="task-env"):
        apply(cluster, namespace, flow_manifest("secrets", SECRETS_FLOW))
        apply(cluster, namespace, execution("s1", "secrets"))
        apply(cluster, namespace, execution("s2", "secrets", {"typo": True}))
        ex, bad = wait_state(cluster, namespace, "s1", 180), wait_state(cluster, namespace, "s2", 180)
    assert ex["status"]["state"] == "SUCCESS", ex["status"]
    assert runs(ex)["show"]["outputs"]["vars"] == {"a": 5, "b": "absent", "color": "blue"}
    # a render error in a script pod's preparation is the task run's error, not a bare "failed"
    assert "Unable to find `envs.colour`" in runs(bad)["typo"]["error"], runs(bad)["typo"]
    [pod] = pods(cluster, namespace, "kflow.dev/execution=s1")
    for c in [*pod.spec.init_containers, *pod.spec.containers]:
        assert not c.env_from
        names = {e.name for e in c.env or [] if e.value_from}
        assert names == {"ENV_COLOR", "SECRET_A"}, c.name
