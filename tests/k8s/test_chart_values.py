"""The chart's values.schema.json, checked by the pinned helm itself (`helm template` / `helm lint` validate
values against it): bad values fail with the value's path and the failing constraint, good ones render,
and every key of values.yaml is described. No cluster: helm comes from tests/cluster/build.sh's cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pins import pinned_binary

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "kflow"
SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA_ERROR = "values don't meet the specifications of the schema(s)"


def helm(*args: str) -> subprocess.CompletedProcess:
    # An unreachable kubeconfig: nothing here may talk to a cluster (least of all a running test's).
    env = {**os.environ, "KUBECONFIG": os.devnull}
    return subprocess.run([str(pinned_binary("helm")), *args], capture_output=True, text=True, env=env,
                          timeout=120)


def render(*sets: str, chart: Path = CHART) -> list[dict[str, Any]]:
    r = helm("template", "kflow", str(chart), "-n", "kflow-system", *[a for s in sets for a in ("--set", s)])
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def operator_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    [dep] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "kflow"]
    return dep["spec"]["template"]["spec"]["containers"][0]


def env_of(docs: list[dict[str, Any]]) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in operator_container(docs)["env"]}


# (--set, path helm names, constraint it prints): the texts of helm v3.22's schema validator.
BAD = [
    ("execution.podTTLSeconds=abc", "at '/execution/podTTLSeconds': 'anyOf' failed",
     "'abc' does not match pattern '^[0-9]*$'"),
    ("execution.podTTLSeconds=-1", "at '/execution/podTTLSeconds'", "minimum: got -1, want 0"),
    ("execution.ttlSecondsAfterFinished=abc", "at '/execution/ttlSecondsAfterFinished': 'anyOf' failed",
     "'abc' does not match pattern"),
    ("execution.storageSize=lots", "at '/execution/storageSize'", "'lots' does not match pattern"),
    ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'", "value must be one of 'Always', 'IfNotPresent', 'Never'"),
    ("runtimePullPolicy=Sometimes", "at '/runtimePullPolicy'", "value must be one of 'Always', 'IfNotPresent', 'Never'"),
    ("bogus=1", "at ''", "additional properties 'bogus' not allowed"),
    ("execution.bogus=1", "at '/execution'", "additional properties 'bogus' not allowed"),
    ("execution.keepVolume=maybe", "at '/execution/keepVolume'", "got string, want boolean"),
    ("execution.startDeadlineSeconds=0", "at '/execution/startDeadlineSeconds'", "minimum: got 0, want 1"),
    ("execution.runAsUser=-5", "at '/execution/runAsUser'", "minimum: got -5, want 0"),
    ("watchNamespaces={a,Not_A_Label}", "at '/watchNamespaces/1'", "'Not_A_Label' does not match pattern"),
    ("ui.service.port=70000", "at '/ui/service/port'", "maximum: got 70,000, want 65,535"),
    ("ui.service.type=Ingress", "at '/ui/service/type'", "value must be one of 'ClusterIP', 'NodePort'"),
    ("logFormat=xml", "at '/logFormat'", "value must be one of 'full', 'plain', 'json'"),
    ("metrics.port=0", "at '/metrics/port'", "minimum: got 0, want 1"),
    ("metrics.serviceMonitor.interval=often", "at '/metrics/serviceMonitor/interval'", "'often' does not match"),
]


@pytest.mark.parametrize("value,path,constraint", BAD, ids=[b[0] for b in BAD])
def test_bad_value_fails_with_path_and_constraint(value: str, path: str, constraint: str):
    for cmd in ("template", "lint"):
        r = helm(cmd, *(["kflow"] if cmd == "template" else []), str(CHART), "--set", value)
        out = r.stderr + r.stdout  # lint reports on stdout
        assert r.returncode != 0, f"helm {cmd} --set {value} passed:\n{out}"
        assert SCHEMA_ERROR in out and path in out and constraint in out, out


def test_defaults_render():
    docs = render()
    env = env_of(docs)
    assert env["KFLOW_EXECUTION_TTL_SECONDS"] == "" and env["KFLOW_POD_TTL_SECONDS"] == ""
    assert env["KFLOW_KEEP_VOLUME"] == "false" and env["KFLOW_START_DEADLINE_SECONDS"] == "300"
    assert env["KFLOW_STORAGE_ACCESS_MODE"] == "ReadWriteOnce"
    ctr = operator_container(docs)
    assert ctr["image"] == "ghcr.io/kflow-dev/kflow:0.1.0"
    # readiness on the same kopf endpoint as liveness: `helm --wait` / `rollout status` wait for it
    assert ctr["readinessProbe"]["httpGet"] == ctr["livenessProbe"]["httpGet"] == {"path": "/healthz",
                                                                                  "port": "health"}


def test_realistic_overrides_render():
    docs = render("image.repository=kflow", "image.tag=dev", "image.pullPolicy=Never", "watchNamespaces={a,b}",
                  "execution.ttlSecondsAfterFinished=3600", "execution.keepVolume=true",
                  "execution.startDeadlineSeconds=60", "execution.podTTLSeconds=0", "execution.storageSize=2.5Gi",
                  "execution.storageClassName=standard", "execution.storageAccessMode=ReadWriteMany", "ui.enabled=true", "ui.service.port=8080",
                  "readinessProbe.periodSeconds=5")
    env = env_of(docs)
    assert env["KFLOW_EXECUTION_TTL_SECONDS"] == "3600" and env["KFLOW_KEEP_VOLUME"] == "true"
    assert env["KFLOW_START_DEADLINE_SECONDS"] == "60" and env["KFLOW_POD_TTL_SECONDS"] == "0"
    assert env["KFLOW_STORAGE_SIZE"] == "2.5Gi" and env["KFLOW_WATCH_NAMESPACES"] == "a,b"
    assert env["KFLOW_STORAGE_ACCESS_MODE"] == "ReadWriteMany"
    assert env["KFLOW_RUNTIME_IMAGE"] == "kflow:dev"
    ctr = operator_container(docs)
    assert ctr["image"] == "kflow:dev" and ctr["imagePullPolicy"] == "Never"
    assert ctr["readinessProbe"]["periodSeconds"] == 5
    assert {("Deployment", "kflow-ui"), ("Service", "kflow-ui")} <= {(d["kind"], d["metadata"]["name"]) for d in docs}
    # --set-string (or a quoted number in a values file) is a TTL too: the template converts it
    assert env_of(render("execution.ttlSecondsAfterFinished="))["KFLOW_EXECUTION_TTL_SECONDS"] == ""
    r = helm("template", "kflow", str(CHART), "--set-string", "execution.ttlSecondsAfterFinished=120")
    assert r.returncode == 0, r.stderr
    assert env_of([d for d in yaml.safe_load_all(r.stdout) if d])["KFLOW_EXECUTION_TTL_SECONDS"] == "120"


def test_helm_lint():
    for sets in ([], ["--set", "watchNamespaces={a,b}", "--set", "ui.enabled=true"]):
        r = helm("lint", str(CHART), *sets)
        assert r.returncode == 0 and "0 chart(s) failed" in r.stdout, r.stdout + r.stderr


def _walk(values: Any, schema: dict[str, Any], path: str, missing: list[str]) -> None:
    """Record every key of `values` the schema does not describe; descend into the objects it owns."""
    if not isinstance(values, dict) or "properties" not in schema:
        return  # a leaf, or a free-form Kubernetes object (resources, affinity, ...)
    for key, value in values.items():
        prop = schema["properties"].get(key)
        if prop is None or not prop.get("description"):
            missing.append(f"{path}{key}")
        else:
            _walk(value, prop, f"{path}{key}.", missing)


def _owned(schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of the schema's properties, for the reverse check (nothing described that values.yaml lacks)."""
    out = []
    for key, prop in schema.get("properties", {}).items():
        out.append(f"{path}{key}")
        out += _owned(prop, f"{path}{key}.")
    return out


def test_leader_election_replicas():
    docs = render()
    [dep] = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 2 and dep["spec"]["strategy"]["type"] == "RollingUpdate"
    env = env_of(docs)
    assert env["KFLOW_LEADER_ELECTION"] == "true" and env["KFLOW_LEADER_LEASE"] == "kflow"
    [role] = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == "kflow-leader-election"]
    assert role["metadata"]["namespace"] == "kflow-system" and role["rules"][0]["resources"] == ["leases"]
    single = render("leaderElection.enabled=false", "replicaCount=3")
    [dep] = [d for d in single if d["kind"] == "Deployment"]
    assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
    assert "KFLOW_LEADER_ELECTION" not in env_of(single)
    assert not [d for d in single if d["metadata"]["name"] == "kflow-leader-election"]


def test_metrics_and_log_format():
    plain = render()
    assert "--log-format=full" in operator_container(plain)["args"]
    assert not [d for d in plain if d["kind"] in ("Service", "ServiceMonitor")]
    docs = render("metrics.enabled=true", "metrics.port=9100", "logFormat=json", "metrics.serviceMonitor.enabled=true",
                  "metrics.serviceMonitor.labels.release=prom")
    ctr = operator_container(docs)
    assert {"--metrics=0.0.0.0:9100", "--log-format=json"} <= set(ctr["args"])
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in ctr["ports"]
    [dep] = [d for d in docs if d["kind"] == "Deployment"]
    assert dep["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/port": "9100", "prometheus.io/path": "/metrics"}
    [svc] = [d for d in docs if d["kind"] == "Service"]
    [mon] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert svc["spec"]["ports"][0]["targetPort"] == "metrics"
    assert mon["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    assert mon["metadata"]["labels"]["release"] == "prom"
    assert set(mon["spec"]["selector"]["matchLabels"].items()) <= set(svc["metadata"]["labels"].items())
    no_annotations = render("metrics.enabled=true", "metrics.scrapeAnnotations=false")
    [dep] = [d for d in no_annotations if d["kind"] == "Deployment"]
    assert "annotations" not in dep["spec"]["template"]["metadata"]


def _flat(values: Any, path: str = "") -> set[str]:
    if not isinstance(values, dict):
        return set()
    return {p for k, v in values.items() for p in {f"{path}{k}", *_flat(v, f"{path}{k}.")}}


def test_schema_describes_every_value():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    missing: list[str] = []
    _walk(VALUES, SCHEMA, "", missing)
    assert not missing, f"values.yaml keys without a described property in values.schema.json: {missing}"
    # `global` is Helm's own (set when kflow is a subchart); everything else must exist in values.yaml
    extra = [p for p in _owned(SCHEMA) if p != "global" and p not in _flat(VALUES)]
    assert not extra, f"values.schema.json describes keys values.yaml lacks: {extra}"
    # objects the chart owns reject unknown keys; Kubernetes objects are free-form
    for p in ("", "image", "execution", "serviceAccount", "rbac", "ui", "ui.service", "metrics",
              "metrics.serviceMonitor", "leaderElection"):
        node = SCHEMA
        for k in filter(None, p.split(".")):
            node = node["properties"][k]
        assert node["additionalProperties"] is False, p


def test_notes(tmp_path: Path):
    """NOTES.txt (which `helm template` does not print) rendered through a copy of the chart."""
    chart = tmp_path / "kflow"
    shutil.copytree(CHART, chart)
    notes = (CHART / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "test.notes" -}}\n' + notes + "{{- end }}\n")
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n"
        '  notes: {{ include "test.notes" . | quote }}\n')
    docs = render("watchNamespaces={flows}", "ui.enabled=true", chart=chart)
    [text] = [d["data"]["notes"] for d in docs if d["metadata"]["name"] == "notes"]
    for want in ("kubectl -n kflow-system rollout status deploy/kflow", "kubectl -n flows apply -f flows/hello_world.yaml",
                 "kubectl -n flows wait --for=condition=Completed execution/hello-1",
                 "kubectl -n flows get configmap hello-1-logs", "kubectl apply -f charts/kflow/crds/",
                 "port-forward svc/kflow-ui 8080:80"):
        assert want in text, f"{want!r} not in NOTES:\n{text}"
