"""The Flow and Execution CRDs (generated from the pydantic models) and the Helm chart.

Pure checks (drift, enums, structural rules) run anywhere; the rest (marked `cluster`) run against the
real API server of `make cluster-up`, each in its own namespace.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from clusterlib import REPO, Cluster, poll
from kubernetes import client
from kubernetes.client.rest import ApiException

from kflow.k8s import crds as gen
from kflow.k8s.models import ExecutionStatus
from kflow.model.common import Retry
from kflow.model.flow import Concurrency, Flow, Output
from kflow.model.inputs import Input, InputType
from kflow.model.triggers import Trigger
from kflow.tasks.base import Task


@pytest.fixture
def namespace(cluster: Cluster):
    """Outside the test operator's namespaces (`<session prefix>-*`): these tests write statuses by hand, and an
    operator fixture another module started earlier in the session would reconcile them."""
    ns = cluster.new_namespace(prefix="crd")
    yield ns
    cluster.delete_namespace(ns)

CHART = REPO / "charts" / "kflow"
LOG = "io.kestra.plugin.core.log.Log"


def _version_schema(crd: dict[str, Any]) -> dict[str, Any]:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def _flow_spec() -> dict[str, Any]:
    return _version_schema(gen.flow_crd())["properties"]["spec"]


def _walk(node: Any, path: str = ""):
    """(path, schema node) of every schema node."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


# ---- pure: the generated files and the models agree --------------------------------------------------


@pytest.mark.parametrize("folder", [str(d) for d in gen.DEFAULT_DIRS])
def test_committed_crds_are_up_to_date(folder: str):
    files = gen.rendered()
    where = REPO / folder
    on_disk = {p.name for p in where.glob("*.yaml")}
    assert on_disk == set(files), f"{folder}: run `python -m kflow.k8s.crds`"
    for name, text in files.items():
        assert (where / name).read_text(encoding="utf-8") == text, \
            f"{folder}/{name} is stale: run `python -m kflow.k8s.crds`"


def test_check_mode_reports_stale_files(tmp_path: Path):
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "flows.kflow.dev.yaml").write_text("stale\n")
    assert gen.main(["--out", str(tmp_path), "--check"]) == 1


def test_enums_equal_the_model_literals():
    spec = _flow_spec()["properties"]
    task = spec["tasks"]["items"]["properties"]
    inp = spec["inputs"]["items"]["properties"]
    input_types = list(get_args(InputType))
    retry_types = list(get_args(Retry.model_fields["type"].annotation))
    retry_behaviors = list(get_args(Retry.model_fields["behavior"].annotation))
    assert inp["type"]["enum"] == input_types
    assert inp["itemType"]["enum"] == input_types
    assert spec["outputs"]["items"]["properties"]["type"]["enum"] == input_types
    for retry in (task["retry"], spec["retry"], spec["errors"]["items"]["properties"]["retry"]):
        assert retry["properties"]["type"]["enum"] == retry_types
        assert retry["properties"]["behavior"]["enum"] == retry_behaviors
    behaviors = list(get_args(Concurrency.model_fields["behavior"].annotation))
    assert spec["concurrency"]["properties"]["behavior"]["enum"] == behaviors == ["QUEUE", "CANCEL", "FAIL"]
    status = _version_schema(gen.execution_crd())["properties"]["status"]["properties"]
    assert status["conditions"]["items"]["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_every_model_property_is_in_the_schema():
    spec = _flow_spec()["properties"]
    names = {f.alias or n for n, f in Flow.model_fields.items()}
    assert names <= set(spec)
    assert {f.alias or n for n, f in Task.model_fields.items()} <= set(spec["tasks"]["items"]["properties"])
    assert set(Input.model_fields) <= set(spec["inputs"]["items"]["properties"])
    assert set(Output.model_fields) <= set(spec["outputs"]["items"]["properties"])
    assert set(Trigger.model_fields) <= set(spec["triggers"]["items"]["properties"])
    status = _version_schema(gen.execution_crd())["properties"]["status"]["properties"]
    assert set(ExecutionStatus.model_fields) == set(status)


def test_description_table_names_real_properties():
    models = {"Flow": Flow, "Task": Task, "Input": Input, "Output": Output, "Trigger": Trigger,
              "Concurrency": Concurrency, "Retry": Retry, "FlowRetry": Retry}
    from kflow.model.inputs import DependsOn

    models["DependsOn"] = DependsOn
    for model_name, props in gen.FLOW_DOCS.items():
        fields = {f.alias or n for n, f in models[model_name].model_fields.items()}
        assert set(props) <= fields, f"{model_name}: {set(props) - fields} are not properties"
    from kflow.k8s import models as k8s_models

    for model_name, props in gen.STATUS_DOCS.items():
        assert set(props) <= set(getattr(k8s_models, model_name).model_fields), model_name


def test_ids_use_kestra_patterns_that_are_valid_ecma_regexes():
    spec = _flow_spec()["properties"]
    model = Flow.model_json_schema()["properties"]
    assert spec["id"]["pattern"] == model["id"]["pattern"]
    assert spec["namespace"]["pattern"] == model["namespace"]["pattern"]
    task_id = spec["tasks"]["items"]["properties"]["id"]["pattern"]
    assert task_id == gen.TASK_ID == r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
    for good in ("hello", "a-b_c", "01_task"):
        assert re.match(task_id, good)
    for bad in ("a.b", "-a", "", "a b", "é"):
        assert not re.match(task_id, bad)


@pytest.mark.parametrize("make", [gen.flow_crd, gen.execution_crd])
def test_schemas_are_structural(make):
    crd = make()
    for path, node in _walk(_version_schema(crd)):
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "title", "$defs", "additionalItems"):
            assert banned not in node, f"{path}: {banned}"
        open_ = node.get("x-kubernetes-preserve-unknown-fields") is True
        assert "type" in node or open_, f"{path}: no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if node.get("type") == "object" and not open_:
            assert "properties" in node or "additionalProperties" in node, f"{path}: empty object"


def test_unknown_fields_are_kept_only_where_properties_are_open():
    kept = {path for path, node in _walk(_flow_spec()) if node.get("x-kubernetes-preserve-unknown-fields")}
    task_lists = ("tasks", "errors", "finally", "afterExecution")
    expected = {".labels", ".variables", ".pluginDefaults", ".taskDefaults", ".workerGroup",
                ".checks[]", ".outputs[].value", ".triggers[]", ".triggers[].conditions[]", ".triggers[].labels",
                ".triggers[].workerGroup", ".triggers[].inputs"}
    expected |= {f".inputs[].{p}" for p in ("defaults", "prefill", "min", "max", "values[]", "options[]",
                                            "after", "before", "default")}
    for name in task_lists:
        expected |= {f".{name}[]", f".{name}[].runIf", f".{name}[].workerGroup", f".{name}[].taskCache"}
    assert kept == expected
    status = _version_schema(gen.execution_crd())["properties"]["status"]
    kept = {path for path, node in _walk(status) if node.get("x-kubernetes-preserve-unknown-fields")}
    assert {".inputs", ".outputs", ".taskRuns[].outputs"} <= kept
    # what the operator (or kopf) writes elsewhere must be declared, or it is pruned
    assert not kept & {"", ".taskRuns[]", ".conditions[]"}


def test_flow_spec_has_no_server_side_defaults():
    """Defaults would be written into the user's Kestra body: they live in the descriptions."""
    assert not [p for p, node in _walk(_flow_spec()) if "default" in node]
    assert "Default: QUEUE." in _flow_spec()["properties"]["concurrency"]["properties"]["behavior"]["description"]


def test_crd_for_is_generic():
    from pydantic import BaseModel

    class CronSpec(BaseModel):
        schedule: str
        suspend: bool = False

    crd = gen.crd_for("CronTrigger", "crontriggers", CronSpec, None, short_names=["kct"])
    assert crd["metadata"]["name"] == "crontriggers.kflow.dev"
    version = crd["spec"]["versions"][0]
    assert "subresources" not in version
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["required"] == ["schedule"]
    assert spec["properties"]["suspend"] == {"type": "boolean", "default": False}
    assert crd["spec"]["names"]["categories"] == ["kflow"]


# ---- the API server accepts the CRDs and serves their documentation ----------------------------------


@pytest.mark.cluster
def test_kubectl_apply_crds_and_explain(crds: Cluster):
    out = crds.kubectl("apply", "-f", str(REPO / "crds")).stdout
    assert "flows.kflow.dev" in out and "executions.kflow.dev" in out
    for name in ("flows.kflow.dev", "executions.kflow.dev"):
        got = json.loads(crds.kubectl("get", "crd", name, "-o", "json").stdout)
        conditions = {c["type"]: c["status"] for c in got["status"]["conditions"]}
        assert conditions.get("NamesAccepted") == "True" and conditions.get("Established") == "True"
        assert conditions.get("NonStructuralSchema") is None

    def explained(what: str, text: str) -> str | None:
        r = crds.kubectl("explain", what, check=False)
        return r.stdout if r.returncode == 0 and text in r.stdout else None

    tasks = poll("explain flow.spec.tasks", lambda: explained("flow.spec.tasks", "Task types kflow runs"), 30)
    assert "unique in the flow" in tasks and "Kestra plugin class" in tasks
    assert "io.kestra.plugin.core.log.Log" in tasks
    inputs = explained("flow.spec.inputs.type", "Input type")
    assert inputs and "STRING" in inputs and "MULTISELECT" in inputs
    runs = poll("explain execution.status.taskRuns",
                lambda: explained("execution.status.taskRuns", "task runs, in start order"), 30)
    assert "taskId" in runs and "pod of the last attempt" in runs


# ---- shipped flows: accepted and unchanged ------------------------------------------------------------


class _NoDates(yaml.SafeLoader):
    """YAML as kubectl reads it: 2024-01-01 stays a string."""


_NoDates.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _flow_manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every flows/*.yaml as a Flow manifest (a plain Kestra body becomes a manifest's spec)."""
    from kflow.k8s.naming import dns_label

    out = []
    for path in sorted((REPO / "flows").glob("*.yaml")):
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoDates)
        if "kind" not in doc:
            doc = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow",
                   "metadata": {"name": dns_label(str(doc["id"]).replace("_", "-"))}, "spec": doc}
        out.append((path.name, doc))
    return out


@pytest.mark.cluster
@pytest.mark.parametrize("name,manifest", _flow_manifests(), ids=[n for n, _ in _flow_manifests()])
def test_shipped_flows_are_accepted_unchanged(crds: Cluster, namespace: str, name: str, manifest: dict):
    text = json.dumps(manifest)
    dry = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-o", "json", "-f", "-", input=text)
    assert json.loads(dry.stdout)["spec"] == manifest["spec"]
    crds.kubectl("create", "-n", namespace, "-f", "-", input=text)
    stored = json.loads(crds.kubectl("get", "flow", manifest["metadata"]["name"], "-n", namespace,
                                     "-o", "json").stdout)
    assert stored["spec"] == manifest["spec"], "the API server changed (pruned or defaulted) the Kestra body"


@pytest.mark.cluster
def test_nested_and_type_specific_properties_survive(crds: Cluster, namespace: str):
    spec = {
        "id": "nested", "namespace": "team.a",
        "labels": [{"key": "team", "value": "data"}],
        "pluginDefaults": {"io.kestra.plugin.core.log.Log": {"level": "WARN"}},
        "variables": {"n": 3, "deep": {"list": [1, "two", None, {"x": True}]}},
        "inputs": [{"id": "when", "type": "DATE", "defaults": "2024-01-01", "required": False},
                   {"name": "legacy", "type": "INT", "defaults": 3},
                   {"id": "j", "type": "JSON", "defaults": {"a": [1, 2]}}],
        "tasks": [
            {"id": "if", "type": "io.kestra.plugin.core.flow.If", "condition": "{{ true }}",
             "then": [{"id": "inner", "type": LOG, "message": "x", "retry": {"type": "constant",
                                                                             "interval": "PT1S", "maxAttempts": 2,
                                                                             "unknownDeep": 1}}],
             "else": [{"id": "other", "type": LOG, "message": "y"}], "runIf": True},
            {"id": "sw", "type": "io.kestra.plugin.core.flow.Switch", "value": "a",
             "cases": {"a": [{"id": "ca", "type": LOG, "message": "a"}]}},
        ],
        "triggers": [{"id": "daily", "type": "io.kestra.plugin.core.trigger.Schedule", "cron": "@daily",
                      "conditions": [{"type": "io.kestra.plugin.core.condition.DayWeek", "dayOfWeek": "MONDAY"}]}],
        "outputs": [{"id": "o", "type": "STRING", "value": "{{ outputs.inner.value }}"}],
    }
    manifest = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "nested"}, "spec": spec}
    crds.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    stored = json.loads(crds.kubectl("get", "flow", "nested", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"] == spec


# ---- invalid flows are rejected by the API server ------------------------------------------------------

BASE = {"id": "demo", "namespace": "team.a", "tasks": [{"id": "hello", "type": LOG, "message": "hi"}]}


def _with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    return spec


def _task(**props: Any) -> dict[str, Any]:
    task = {"id": "hello", "type": LOG, "message": "hi", **props}
    return {k: v for k, v in task.items() if v is not None}


INVALID = [
    ("task-without-id", _with(tasks=[_task(id=None)]), ["spec.tasks[0].id", "Required value"]),
    ("task-without-type", _with(tasks=[_task(type=None)]), ["spec.tasks[0].type", "Required value"]),
    ("task-id-with-dot", _with(tasks=[_task(id="a.b")]), ["spec.tasks[0].id", '"a.b"', "should match"]),
    ("task-id-too-long", _with(tasks=[_task(id="a" * 101)]), ["spec.tasks[0].id", "may not be more than 100"]),
    ("task-type-not-a-class", _with(tasks=[_task(type="Log")]), ["spec.tasks[0].type", "should match"]),
    ("duplicate-task-ids", _with(tasks=[_task(), _task()]),
     ["spec.tasks", "task ids must be unique", "hello is used more than once"]),
    ("task-id-reused-in-errors", _with(errors=[_task()]),
     ["spec.tasks", "task ids must be unique across tasks, errors", "hello is used more than once"]),
    ("empty-tasks", _with(tasks=[]), ["spec.tasks", "should have at least 1 items"]),
    ("no-tasks", _with(tasks=None), ["spec.tasks", "Required value"]),
    ("tasks-not-a-list", _with(tasks="hello"), ["spec.tasks", "must be of type array"]),
    ("unknown-input-type", _with(inputs=[{"id": "n", "type": "NUMBER"}]),
     ["spec.inputs[0].type", 'Unsupported value: "NUMBER"', '"STRING"']),
    ("input-without-type", _with(inputs=[{"id": "n"}]), ["spec.inputs[0].type", "Required value"]),
    ("input-without-id", _with(inputs=[{"type": "STRING"}]), ["spec.inputs[0]", "an input needs an id"]),
    ("duplicate-input-ids", _with(inputs=[{"id": "n", "type": "INT"}, {"id": "n", "type": "STRING"}]),
     ["spec.inputs", "input ids must be unique", "n is used more than once"]),
    ("bad-flow-id", _with(id="my flow"), ["spec.id", "should match"]),
    ("uppercase-namespace", _with(namespace="Team.A"), ["spec.namespace", "should match"]),
    ("concurrency-limit-zero", _with(concurrency={"limit": 0}), ["spec.concurrency.limit", "greater than or equal to 1"]),
    ("concurrency-without-limit", _with(concurrency={"behavior": "FAIL"}), ["spec.concurrency.limit", "Required value"]),
    ("unknown-concurrency-behavior", _with(concurrency={"limit": 1, "behavior": "DROP"}),
     ["spec.concurrency.behavior", 'Unsupported value: "DROP"']),
    ("unknown-retry-type", _with(tasks=[_task(retry={"type": "linear", "interval": "PT1S"})]),
     ["spec.tasks[0].retry.type", 'Unsupported value: "linear"']),
    ("retry-max-attempts-zero", _with(tasks=[_task(retry={"type": "constant", "interval": "PT1S", "maxAttempts": 0})]),
     ["spec.tasks[0].retry.maxAttempts", "greater than or equal to 1"]),
    ("duplicate-trigger-ids", _with(triggers=[{"id": "t", "type": "io.kestra.plugin.core.trigger.Schedule", "cron": "@daily"}] * 2),
     ["spec.triggers", "trigger ids must be unique"]),
    ("bad-output-id", _with(outputs=[{"id": "-x", "type": "STRING", "value": "v"}]), ["spec.outputs[0].id", "should match"]),
    ("wrong-property-type", _with(disabled="yes"), ["spec.disabled", "must be of type boolean"]),
    # kubectl asks for strict field validation: a typo is an error, as in Kestra (no silent pruning).
    ("unknown-flow-property", _with(descripton="typo"), ['unknown field "spec.descripton"']),
    ("unknown-input-property", _with(inputs=[{"id": "n", "type": "INT", "minimum": 1}]),
     ['unknown field "spec.inputs[0].minimum"']),
]


def test_at_least_ten_invalid_flows():
    assert len(INVALID) >= 10


@pytest.mark.cluster
@pytest.mark.parametrize("name,spec,expected", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_flow_is_rejected(crds: Cluster, namespace: str, name: str, spec: dict, expected: list[str]):
    manifest = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": name}, "spec": spec}
    r = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest),
                     check=False)
    assert r.returncode != 0, f"accepted: {r.stdout}"
    for text in expected:
        assert text in r.stderr, f"{text!r} not in:\n{r.stderr}"


@pytest.mark.cluster
def test_valid_base_flow_is_accepted(crds: Cluster, namespace: str):
    manifest = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "base"},
                "spec": _with(id=None, namespace=None)}  # id and namespace default from metadata
    crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest))


@pytest.mark.cluster
def test_invalid_execution_is_rejected(crds: Cluster, namespace: str):
    manifest = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": "x"},
                "spec": {"inputs": {"a": 1}}}
    r = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest),
                     check=False)
    assert r.returncode != 0 and "spec.flowRef" in r.stderr and "Required value" in r.stderr
    manifest["spec"] = {"flowRef": {"name": "f"}, "labels": {"a": {"b": 1}}}
    r = crds.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=json.dumps(manifest),
                     check=False)
    assert r.returncode != 0 and "spec.labels.a" in r.stderr


# ---- kubectl get: printer columns, short names, categories ---------------------------------------------


# The operator may be running against the same cluster (operator tests, a developer's): these Executions
# reference a Flow that doesn't exist, so it never starts pods for them, and their status is written in a
# final state (the operator leaves those alone), re-written until it sticks.
MISSING_FLOW = "not-deployed"
FINAL_STATUS = {"state": "SUCCESS", "reason": "Succeeded", "startDate": "2026-01-01T10:00:00.123456Z",
                "endDate": "2026-01-01T10:00:12.5Z", "duration": "12s", "message": "all tasks succeeded"}


def _executions(cluster: Cluster) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(cluster.api)


def _set_execution_status(cluster: Cluster, ns: str, name: str, status: dict[str, Any],
                          expect: dict[str, Any] | None = None) -> dict[str, Any]:
    """Patch the status until the stored status holds `expect` (default: `status`) for 2 s in a row (a
    concurrent writer's last in-flight patch has landed by then); the stored object."""
    api = _executions(cluster)
    want = expect or status
    since: list[float] = []

    def stuck():
        got = api.get_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "executions", name)
        st = got.get("status") or {}
        if all(st.get(k) == v for k, v in want.items()):
            since.append(since[0] if since else time.monotonic())
            return got if time.monotonic() - since[0] >= 2 else None
        since.clear()
        api.patch_namespaced_custom_object_status("kflow.dev", "v1alpha1", ns, "executions", name,
                                                  {"status": status})
        return None

    return poll(f"status of execution {ns}/{name}", stuck, 30, every=0.25)


def _create_flow_and_execution(cluster: Cluster, ns: str) -> None:
    flow = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "demo"}, "spec": BASE}
    run = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": "demo-run"},
           "spec": {"flowRef": {"name": MISSING_FLOW}, "inputs": {"n": 1}}}
    for obj in (flow, run):
        cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(obj))
    # the operator, if any, writes the same values for this valid one-task flow
    cluster.kubectl("patch", "flow", "demo", "-n", ns, "--subresource=status", "--type=merge",
                    "-p", json.dumps({"status": {"valid": True, "tasks": 1}}))
    _set_execution_status(cluster, ns, "demo-run", FINAL_STATUS)


def _table(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines() if line.strip()]


@pytest.mark.cluster
def test_printer_columns_short_names_and_category(crds: Cluster, namespace: str):
    _create_flow_and_execution(crds, namespace)
    out = crds.kubectl("get", "flows,executions", "-n", namespace).stdout
    flows, runs = out.strip().split("\n\n")
    rows = _table(flows)
    assert rows[0] == ["NAME", "VALID", "TASKS", "AGE"]
    assert rows[1][:3] == ["flow.kflow.dev/demo", "true", "1"]
    rows = _table(runs)
    assert rows[0] == ["NAME", "FLOW", "STATE", "REASON", "STARTED", "DURATION", "AGE"]
    assert rows[1][:4] == ["execution.kflow.dev/demo-run", MISSING_FLOW, "SUCCESS", "Succeeded"]
    assert rows[1][5] == "12s"
    assert re.fullmatch(r"\d+[smhdy].*", rows[1][4]), rows[1]  # Started: a relative date
    wide = _table(crds.kubectl("get", "executions", "-n", namespace, "-o", "wide").stdout)
    assert "MESSAGE" in wide[0] and "all tasks succeeded" in wide[1]
    wide = _table(crds.kubectl("get", "flows", "-n", namespace, "-o", "wide").stdout)
    assert wide[0] == ["NAME", "VALID", "TASKS", "FLOW ID", "KESTRA NAMESPACE", "AGE"]
    assert wide[1][3:5] == ["demo", "team.a"]
    both = crds.kubectl("get", "kflow", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(both) == ["execution.kflow.dev/demo-run", "flow.kflow.dev/demo"]
    assert crds.kubectl("get", "kfl", "-n", namespace, "-o", "name").stdout.split() == ["flow.kflow.dev/demo"]
    assert crds.kubectl("get", "kex", "-n", namespace, "-o", "name").stdout.split() == \
        ["execution.kflow.dev/demo-run"]


# ---- status subresource and pruning --------------------------------------------------------------------


@pytest.mark.cluster
def test_status_subresource_prunes_undeclared_fields(crds: Cluster, namespace: str):
    _create_flow_and_execution(crds, namespace)
    api = _executions(crds)
    declared = {
        "state": "WARNING", "duration": "3s",
        "inputs": {"n": 1, "free": {"form": [1, 2]}},
        "taskRuns": [{"id": "hello", "taskId": "hello", "state": "SUCCESS", "pod": "demo-run-hello-1",
                      "outputs": {"value": {"any": "shape"}}}],
        "conditions": [{"type": "Completed", "status": "True", "reason": "Warning"}],
    }
    status = copy.deepcopy(declared)
    status["bogus"] = "dropped"
    status["taskRuns"][0]["notDeclared"] = 1
    status["conditions"][0]["extra"] = "x"
    # A client that doesn't ask for strict validation (kopf, the operator): unknown fields are pruned.
    # Dry run first: exactly what the server makes of this patch, whoever else writes the object.
    dry = api.patch_namespaced_custom_object_status("kflow.dev", "v1alpha1", namespace, "executions", "demo-run",
                                                    {"status": status}, dry_run="All")
    for got in (dry["status"], _set_execution_status(crds, namespace, "demo-run", status, declared)["status"]):
        assert "bogus" not in got
        assert {k: got[k] for k in declared} == declared
        assert got["endDate"] == FINAL_STATUS["endDate"]  # merge patch: other declared fields stay
    # spec defaults are applied; status sent to the main resource is ignored
    got = api.get_namespaced_custom_object("kflow.dev", "v1alpha1", namespace, "executions", "demo-run")
    assert got["spec"]["kill"] is False
    main = api.patch_namespaced_custom_object("kflow.dev", "v1alpha1", namespace, "executions", "demo-run",
                                              {"status": {"state": "HACKED"}}, dry_run="All")
    assert main["status"]["state"] != "HACKED"
    # a status that breaks the schema is rejected, not pruned
    with pytest.raises(ApiException) as err:
        api.patch_namespaced_custom_object_status("kflow.dev", "v1alpha1", namespace, "executions", "demo-run",
                                                  {"status": {"conditions": [{"type": "Completed",
                                                                              "status": "Maybe"}]}},
                                                  dry_run="All")
    assert err.value.status == 422 and "status.conditions[0].status" in err.value.body


@pytest.mark.cluster
def test_spec_change_bumps_generation_status_does_not(crds: Cluster, namespace: str):
    _create_flow_and_execution(crds, namespace)
    gen1 = json.loads(crds.kubectl("get", "flow", "demo", "-n", namespace, "-o", "json").stdout)
    crds.kubectl("patch", "flow", "demo", "-n", namespace, "--subresource=status", "--type=merge",
                 "-p", '{"status": {"valid": false}}')
    gen2 = json.loads(crds.kubectl("get", "flow", "demo", "-n", namespace, "-o", "json").stdout)
    assert gen2["metadata"]["generation"] == gen1["metadata"]["generation"]
    crds.kubectl("patch", "flow", "demo", "-n", namespace, "--type=merge", "-p", '{"spec": {"disabled": true}}')
    gen3 = json.loads(crds.kubectl("get", "flow", "demo", "-n", namespace, "-o", "json").stdout)
    assert gen3["metadata"]["generation"] == gen1["metadata"]["generation"] + 1


# ---- the Helm chart --------------------------------------------------------------------------------------


def _helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return cluster.run("helm", *args, check=check)


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


@pytest.mark.cluster
def test_helm_lint_and_template(cluster: Cluster, namespace: str):
    assert "0 chart(s) failed" in _helm(cluster, "lint", str(CHART)).stdout
    assert "0 chart(s) failed" in _helm(cluster, "lint", str(CHART), "--set", "watchNamespaces={a,b}").stdout
    docs = _docs(_helm(cluster, "template", "rel", str(CHART), "-n", namespace).stdout)
    kinds = _by_kind(docs)
    assert sorted(kinds) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding",
                             "ServiceAccount"]  # the Role: leader election's Lease
    dep = kinds["Deployment"][0]["spec"]
    assert dep["replicas"] == 2 and dep["strategy"] == {"type": "RollingUpdate"}
    pod = dep["template"]["spec"]
    ctr = pod["containers"][0]
    assert ctr["command"] == ["kflow"]
    assert ctr["args"] == ["operator", "--liveness=http://0.0.0.0:8080/healthz",  # no --namespace: all
                           "--log-format=full"]
    assert ctr["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in ctr["ports"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert ctr["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                      "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["KFLOW_RUNTIME_IMAGE"] == "ghcr.io/kflow-dev/kflow:0.1.0"
    assert env["KFLOW_STORAGE_SIZE"] == "1Gi" and env["KFLOW_STORAGE_CLASS"] == ""
    rules = kinds["ClusterRole"][0]["rules"]
    granted = {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
    for need in [("kflow.dev", "executions/status", "patch"), ("kflow.dev", "flows/status", "patch"),
                 ("kflow.dev", "flows", "watch"), ("", "pods", "create"), ("", "pods/log", "get"),
                 ("", "persistentvolumeclaims", "delete"), ("", "configmaps", "patch"), ("", "events", "create")]:
        assert need in granted, need
    assert not [g for g in granted if g[1] == "*" or g[2] in ("*", "escalate", "bind", "impersonate")]
    # Secrets only for the KV store's secret-derived values (k8s/kvstore.py): no watch, no cluster-wide cache
    assert {v for g, r, v in granted if r == "secrets"} == {"get", "list", "create", "update", "delete"}
    assert not [g for g in granted if g[1] == "flows" and g[2] in ("delete", "update")]
    # CronTriggers delete executions beyond their history limits, never update them
    assert ("kflow.dev", "executions", "delete") in granted and ("kflow.dev", "crontriggers/status", "patch") in granted
    assert not [g for g in granted if g[1] in ("executions", "crontriggers") and g[2] == "update"]

    custom = _docs(_helm(cluster, "template", "rel", str(CHART), "-n", namespace,
                         "--set", f"watchNamespaces={{{namespace}}}", "--set", "execution.storageClassName=fast",
                         "--set", "execution.podTTLSeconds=300", "--set", "runtimeImage=example/rt:1").stdout)
    kinds = _by_kind(custom)
    assert sorted(kinds) == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Role", "RoleBinding",
                             "ServiceAccount"]
    assert kinds["Role"][0]["metadata"]["namespace"] == namespace
    assert kinds["ClusterRole"][0]["rules"] == [{"apiGroups": ["apiextensions.k8s.io"],
                                                 "resources": ["customresourcedefinitions"],
                                                 "verbs": ["get", "list", "watch"]}]
    ctr = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert ctr["args"] == ["operator", "--liveness=http://0.0.0.0:8080/healthz", "--log-format=full",
                           f"--namespace={namespace}"]
    from kflow.cli import build_parser

    parsed = build_parser().parse_args([*ctr["command"][1:], *ctr["args"]])  # the CLI accepts them
    assert parsed.namespace == [namespace] and parsed.liveness == "http://0.0.0.0:8080/healthz"
    env = {e["name"]: e.get("value") for e in ctr["env"]}
    assert env["KFLOW_STORAGE_CLASS"] == "fast" and env["KFLOW_POD_TTL_SECONDS"] == "300"
    assert env["KFLOW_RUNTIME_IMAGE"] == "example/rt:1" and env["KFLOW_WATCH_NAMESPACES"] == namespace
    # the API server accepts every rendered object
    for text in (yaml.safe_dump_all(docs), yaml.safe_dump_all(custom)):
        cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=text)


@pytest.mark.cluster
def test_helm_install_creates_operator_and_rbac(crds: Cluster):
    # Task pods and the operator must pass the restricted Pod Security Standard.
    ns = crds.new_namespace(labels={"pod-security.kubernetes.io/enforce": "restricted"})
    release = f"kf-{ns[-6:]}"
    try:
        dry = _helm(crds, "install", release, str(CHART), "-n", ns, "--skip-crds", "--dry-run=server")
        assert "STATUS: pending-install" in dry.stdout
        _helm(crds, "install", release, str(CHART), "-n", ns, "--skip-crds", "--set", f"watchNamespaces={{{ns}}}")
        full = f"{release}-kflow"
        sa = f"system:serviceaccount:{ns}:{full}"
        for kind, name in (("serviceaccount", full), ("deployment", full), ("role", full), ("rolebinding", full),
                           ("clusterrole", f"{ns}-{full}-discovery"), ("clusterrolebinding", f"{ns}-{full}-discovery")):
            crds.kubectl("get", kind, name, "-n", ns)

        def can(verb: str, resource: str, where: str = ns, sub: str = "") -> bool:
            args = ["auth", "can-i", verb, resource, "-n", where, f"--as={sa}"]
            if sub:
                args.append(f"--subresource={sub}")
            return crds.kubectl(*args, check=False).stdout.strip() == "yes"

        assert can("watch", "flows.kflow.dev") and can("patch", "executions.kflow.dev", sub="status")
        assert can("create", "pods") and can("delete", "persistentvolumeclaims") and can("get", "pods", sub="log")
        assert can("list", "customresourcedefinitions.apiextensions.k8s.io")
        # secrets: only the KV store's secret-derived values; never watched, never in another namespace
        assert can("get", "secrets") and not can("watch", "secrets") and not can("get", "secrets", where="default")
        assert not can("delete", "flows.kflow.dev")
        assert not can("create", "pods", where="default")  # namespaced install: only its namespaces

        # The Deployment's pod is admitted under PodSecurity "restricted" (it won't run here: no image).
        poll("operator pod created", lambda: crds.kubectl(
            "get", "pods", "-n", ns, "-l", f"app.kubernetes.io/instance={release}", "-o", "name").stdout.strip(), 60)
        _helm(crds, "uninstall", release, "-n", ns, "--wait")
        gone = crds.kubectl("get", "clusterrole", f"{ns}-{full}-discovery", check=False)
        assert gone.returncode != 0 and "NotFound" in gone.stderr
    finally:
        _helm(crds, "uninstall", release, "-n", ns, check=False)
        crds.delete_namespace(ns)
