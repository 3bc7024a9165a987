"""kflow installed the way users install it: the README's "On kind" commands, run block by block
(`# kind: <step>`) on the real node, with no kflow process outside the cluster. Apart from the kind and
docker steps (no Docker daemon here; `make cluster-up` built kflow:dev from the same Dockerfile and
loaded it into the node), the test changes three things in them: the two namespaces get names of their
own, and the release watches only its flows namespace (the test session's own operator watches others).

The operator runs from the chart in a namespace enforcing the restricted Pod Security Standard, with
in-cluster config and the chart's RBAC only; hello-world, the getting-started pipeline, a CronTrigger
backfill and the taxi flow (against the test PostgreSQL) succeed; `helm uninstall` then deleting the
namespace completes within 60 s."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterlib import REPO, Cluster, node_address, poll
from crontrigger_harness import executions_of, trigger
from operator_harness import apply, execution, flow_manifest, get, wait_state

from fixtures.readme import readme_blocks
from fixtures.taxi_server import TaxiServer

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(1200)]
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted"}
TAXI_IMAGE = "kflow-taxi-tools:dev"  # TEST-ONLY: kflow:dev plus the taxi fixture's fake wget


def readme_steps() -> dict[str, str]:
    return readme_blocks("On kind", "kind")


@dataclasses.dataclass
class Install:
    cluster: Cluster
    system: str     # the README's kflow-system
    flows: str      # the README's flows
    steps: dict[str, str]

    def run(self, step: str, timeout: float = 400) -> str:
        script = self.steps[step].replace("kflow-system", self.system)
        script = re.sub(r"(namespace|-n) flows\b", rf"\1 {self.flows}", script)
        script = script.replace(" --wait", f" --set watchNamespaces={{{self.flows}}} --wait")
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, capture_output=True, text=True,
                           env={**self.cluster.env, "KUBECONFIG": self.cluster.kubeconfig}, timeout=timeout)
        if r.returncode != 0:
            pytest.fail(f"README step {step!r} failed ({r.returncode}):\n{script}\n{r.stdout}\n{r.stderr}\n"
                        + self.diagnose())
        return r.stdout

    def diagnose(self) -> str:
        k = self.cluster.kubectl
        return "\n".join(k(*a, check=False).stdout + k(*a, check=False).stderr for a in (
            ("-n", self.system, "get", "pods", "-o", "wide"), ("-n", self.system, "describe", "pods"),
            ("-n", self.system, "logs", "deploy/kflow", "--tail=80"), ("-n", self.flows, "get", "executions,pods")))


def _rolled_out(cluster: Cluster, system: str) -> None:
    """Only the Deployment's newest ReplicaSet has pods, none terminating, and one of them holds the Lease."""
    def settled() -> bool:
        deploy = json.loads(cluster.kubectl("-n", system, "get", "deploy", "kflow", "-o", "json").stdout)
        revision = deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        sets = json.loads(cluster.kubectl("-n", system, "get", "rs", "-o", "json").stdout)["items"]
        newest = [rs["metadata"]["labels"]["pod-template-hash"] for rs in sets
                  if rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision") == revision]
        pods = json.loads(cluster.kubectl("-n", system, "get", "pods", "-l", "app.kubernetes.io/instance=kflow",
                                          "-o", "json").stdout)["items"]
        lease = json.loads(cluster.kubectl("-n", system, "get", "lease", "kflow", "-o", "json", check=False).stdout
                           or "{}")
        return bool(newest) and len(pods) == deploy["spec"]["replicas"] and all(
            p["metadata"]["labels"].get("pod-template-hash") == newest[0] and not p["metadata"].get("deletionTimestamp")
            for p in pods) and (lease.get("spec") or {}).get("holderIdentity") in {p["metadata"]["name"] for p in pods}
    poll("the old operator pods gone and a new one leading", settled, 120, every=1)


def _task_logs(cluster: Cluster, ns: str, ex: dict[str, Any]) -> str:
    """What a user reads first when a task run failed: its logs (`kubectl logs` of its pods)."""
    out = []
    for pod in cluster.core.list_namespaced_pod(ns, label_selector=f"kflow.dev/execution={ex['metadata']['name']}").items:
        images = [c.image for c in pod.spec.containers]
        logs = cluster.kubectl("-n", ns, "logs", pod.metadata.name, "--all-containers", "--tail=30", check=False)
        out.append(f"--- {pod.metadata.name} {images} {pod.status.phase}\n{logs.stdout}{logs.stderr}")
    return "\n".join(out)


@pytest.fixture
def install(crds: Cluster):
    tag = uuid.uuid4().hex[:6]
    inst = Install(crds, f"khelm-sys-{tag}", f"khelm-{tag}", readme_steps())
    assert {"install", "namespace", "run", "logs", "uninstall"} <= set(inst.steps), inst.steps
    crds.core.create_namespace({"metadata": {"name": inst.system, "labels": RESTRICTED}})
    yield inst
    crds.run("helm", "uninstall", "kflow", "-n", inst.system, check=False)
    for ns in (inst.flows, inst.system):
        crds.kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)


def _granted(cluster: Cluster, system: str) -> set[tuple[str, str]]:
    manifest = cluster.run("helm", "get", "manifest", "kflow", "-n", system).stdout
    out = set()
    for doc in yaml.safe_load_all(manifest):
        name = (doc or {}).get("metadata", {}).get("name", "")
        if doc and doc["kind"] in ("Role", "ClusterRole") and "ui" not in name and "leader-election" not in name:
            for rule in doc["rules"]:
                for group in rule.get("apiGroups", []):
                    for res in rule.get("resources", []):
                        for verb in rule["verbs"]:
                            base, _, sub = res.partition("/")  # as `can-i --list` names them: pods/log,
                            name = f"{base}.{group}" if group else base  # executions.kflow.dev/status
                            out.add((f"{name}/{sub}" if sub else name, verb))
    return out


def _can_i(cluster: Cluster, system: str, ns: str) -> set[tuple[str, str]]:
    text = cluster.kubectl("auth", "can-i", "--list", "-n", ns, f"--as=system:serviceaccount:{system}:kflow").stdout
    out = set()
    for line in text.splitlines()[1:]:
        if not line or line[0].isspace():
            continue  # a non-resource URL rule (discovery, which every account has)
        cols = re.split(r"\s{2,}", line.strip())
        resource, verbs = cols[0], cols[-1]
        if resource.startswith("selfsubject"):
            continue  # self-review rules every account has
        for verb in verbs.strip("[]").split():
            out.add((resource, verb))
    return out


def test_the_readme_install_runs_flows_with_the_operator_in_a_pod(install: Install, products_url,
                                                                 pg_db, tmp_path):
    cluster, flows = install.cluster, install.flows
    install.run("namespace")  # first: the release's Role goes into it (watchNamespaces)
    install.run("install")
    pod = json.loads(cluster.kubectl("-n", install.system, "get", "pods", "-l", "app.kubernetes.io/instance=kflow",
                                     "-o", "json").stdout)["items"][0]
    assert all(c["ready"] for c in pod["status"]["containerStatuses"]), pod["status"]
    assert pod["spec"]["containers"][0]["image"] == "kflow:dev"
    assert pod["spec"]["serviceAccountName"] == "kflow"
    out = install.run("run")
    assert "SUCCESS" in out, out
    logs = yaml.safe_load(install.run("logs"))["data"]
    assert "Hello, Kestra user!" in {line["message"] for v in logs.values() for line in json.loads(v)}, logs

    # the getting-started pipeline: Download, a Python script in its own image, DuckDB
    cluster.kubectl("-n", flows, "apply", "-f", str(REPO / "flows" / "01_getting_started_data_pipeline.yaml"))
    apply(cluster, flows, execution("gs", "getting-started-data-pipeline", {"uri": products_url}))
    ex = wait_state(cluster, flows, "gs", 300)
    assert ex["status"]["state"] == "SUCCESS", ex["status"].get("message")

    # a CronTrigger backfill
    apply(cluster, flows, trigger("hello-daily", "hello-world", "0 9 * * *", backfill={
        "start": "2019-01-01T00:00:00Z", "end": "2019-01-03T23:59:59Z", "maxActive": 2}))
    done = poll("the backfill's three executions", lambda: (items := executions_of(cluster, flows, "hello-daily"))
                and len(items) == 3 and all((i.get("status") or {}).get("state") in ("SUCCESS", "FAILED")
                                            for i in items) and items, 300, every=2)
    assert {i["status"]["state"] for i in done} == {"SUCCESS"}

    # the taxi flow: the test-only runtime image with the fake wget, PostgreSQL through plugin defaults
    with TaxiServer(Path(tempfile.mkdtemp(prefix="kflow-helm-taxi-", dir="/tmp")), host=node_address()) as taxi:
        taxi.add_month("green", 2019, 1, rows=2_000)
        cluster.core.create_namespaced_secret(flows, {"metadata": {"name": "task-env"},
                                                      "stringData": {"KFLOW_TAXI_BASE_URL": taxi.base_url}})
        pod_pg = dataclasses.replace(pg_db, host=node_address())
        defaults = [{"type": "io.kestra.plugin.jdbc.postgresql", "forced": True, "values": pod_pg.connection_props()}]
        env = json.dumps([{"name": "KFLOW_PLUGIN_DEFAULTS", "value": yaml.safe_dump(defaults)}])
        cluster.run("helm", "upgrade", "kflow", str(REPO / "charts" / "kflow"), "-n", install.system,
                    "--reuse-values", "--set", f"runtimeImage={TAXI_IMAGE}", "--set", "execution.secretsFrom=task-env",
                    "--set-json", f"extraEnv={env}", "--wait", "--timeout=180s", timeout=240)
        cluster.kubectl("-n", install.system, "rollout", "status", "deploy/kflow", "--timeout=120s", timeout=150)
        # rollout status returns once the old ReplicaSet is scaled to 0, before its pods (the old leader
        # among them, still on kflow:dev and no secretsFrom) have stopped: an Execution created then could
        # be started by the old configuration
        _rolled_out(cluster, install.system)
        body = yaml.safe_load((REPO / "flows" / "02_postgres_taxi.yaml").read_text())
        apply(cluster, flows, flow_manifest("postgres-taxi", body))
        apply(cluster, flows, execution("green-2019-01", "postgres-taxi", {"taxi": "green", "year": "2019",
                                                                           "month": "01"}))
        ex = wait_state(cluster, flows, "green-2019-01", 400)
    assert ex["status"]["state"] == "SUCCESS", ex["status"].get("message")
    assert pg_db.scalar("SELECT count(*) FROM public.green_tripdata") == 2_000

    # exactly what the chart grants, in the watched namespace
    granted, can = _granted(cluster, install.system), _can_i(cluster, install.system, flows)
    assert can == granted, (sorted(can - granted), sorted(granted - can))
    assert ("pods", "create") in can and ("executions.kflow.dev", "patch") in can
    # the Lease, in the operator's own namespace only; two replicas, one of them leading
    lease = _can_i(cluster, install.system, install.system)
    assert {("leases.coordination.k8s.io", v) for v in ("get", "create", "update")} <= lease
    assert ("leases.coordination.k8s.io", "update") not in can
    holder = json.loads(cluster.kubectl("-n", install.system, "get", "lease", "kflow", "-o", "json").stdout)
    replicas = json.loads(cluster.kubectl("-n", install.system, "get", "pods", "-l", "app.kubernetes.io/instance=kflow",
                                          "-o", "json").stdout)["items"]
    assert len(replicas) == 2 and holder["spec"]["holderIdentity"] in {p["metadata"]["name"] for p in replicas}
    assert not cluster.kubectl("auth", "can-i", "create", "pods", "-n", "default",
                               f"--as=system:serviceaccount:{install.system}:kflow", check=False).stdout.startswith("yes")

    # nothing waits for the operator once it is gone
    assert get(cluster, flows, "crontriggers", "hello-daily")["metadata"].get("finalizers") in (None, [])
    t0 = time.monotonic()
    install.run("uninstall", timeout=120)
    took = time.monotonic() - t0
    assert took < 60, f"helm uninstall + namespace deletion took {took:.0f} s"
    assert cluster.kubectl("get", "namespace", flows, check=False).returncode != 0
