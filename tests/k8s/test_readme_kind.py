"""README "On kind": the `# kind: <step>` blocks exist with the exact commands, and the names they use
(cluster, Deployment, Flow, logs ConfigMap) are the ones kind-config.yaml, the chart and the operator
produce. No cluster: the commands themselves need Docker and kind (and a cluster for the in-cluster ones)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from test_chart_values import render

from fixtures.readme import readme_blocks
from kflow.k8s import logstore

REPO = Path(__file__).resolve().parents[2]
STEPS = ["cluster", "image", "install", "namespace", "run", "logs", "uninstall"]


def readme_steps() -> dict[str, str]:
    return readme_blocks("On kind", "kind")


def commands(block: str) -> list[str]:
    return [line for line in block.splitlines() if line.startswith(("kind ", "docker ", "helm ", "kubectl "))]


def test_steps_and_commands():
    steps = readme_steps()
    assert list(steps) == STEPS
    assert commands(steps["cluster"]) == ["kind create cluster --config kind-config.yaml"]
    assert commands(steps["image"]) == ["docker build -t kflow:dev .", "kind load docker-image kflow:dev --name kflow"]
    assert commands(steps["install"]) == [
        "helm install kflow charts/kflow --namespace kflow-system --create-namespace --set image.repository=kflow "
        "--set image.tag=dev --wait",
        "kubectl -n kflow-system rollout status deploy/kflow --timeout=120s"]
    assert commands(steps["namespace"]) == ["kubectl create namespace flows",
                                            "kubectl label namespace flows pod-security.kubernetes.io/enforce=restricted"]
    assert commands(steps["run"]) == [
        "kubectl -n flows apply -f flows/hello_world.yaml", "kubectl -n flows create -f - <<'YAML'",
        "kubectl -n flows wait --for=condition=Completed execution/hello-1 --timeout=300s",
        "kubectl -n flows get execution hello-1"]
    assert commands(steps["logs"]) == ["kubectl -n flows get configmap hello-1-logs -o yaml"]
    assert commands(steps["uninstall"]) == ["helm uninstall kflow -n kflow-system", "kubectl delete namespace flows"]


def test_names_match_what_they_refer_to():
    steps = readme_steps()
    assert yaml.safe_load((REPO / "kind-config.yaml").read_text())["name"] == "kflow"  # `kind load --name kflow`
    # release `kflow` of chart `kflow`: the Deployment is `kflow` (kflow.fullname), running kflow:dev
    deps = [d for d in render("image.repository=kflow", "image.tag=dev") if d["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deps] == ["kflow"]
    assert deps[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "kflow:dev"
    execution = yaml.safe_load(re.search(r"<<'YAML'\n(.*?)\nYAML\n", steps["run"], re.S).group(1))
    flow = yaml.safe_load((REPO / "flows/hello_world.yaml").read_text())
    assert execution == {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": "hello-1"},
                         "spec": {"flowRef": {"name": flow["metadata"]["name"]}}}
    assert flow["metadata"]["name"] == "hello-world"
    assert logstore.name_for("hello-1") == "hello-1-logs"
