"""Secrets never leak on the cluster (issue 17, point 5): the flow of tests/fixtures/secret_scan.py runs
with its secrets in the operator's secretsFrom Secret (KFLOW_SECRETS_FROM; task pods get them by
secretKeyRef), then everything the operator and the pods wrote is scanned for the values (plain,
base64, URL-encoded): Executions (status included), Events, ConfigMaps (logs, outputs, snapshot),
pods (spec and status), every container's log (init containers too) and the operator's log.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fixtures import secret_scan as ss

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]


def scan_namespace(cluster: Any, ns: str, scan: ss.Scanner) -> dict[str, int]:
    """Scan every object the brief names; returns how many of each kind were read."""
    counts: dict[str, int] = {}
    for kind in ("executions.kflow.dev", "events", "configmaps", "pods"):
        items = json.loads(cluster.kubectl("-n", ns, "get", kind, "-o", "json").stdout)["items"]
        counts[kind] = len(items)
        for item in items:
            scan.text(f"{kind}/{item['metadata']['name']}", json.dumps(item))
    for pod in json.loads(cluster.kubectl("-n", ns, "get", "pods", "-o", "json").stdout)["items"]:
        spec = pod["spec"]
        for c in [*(spec.get("initContainers") or []), *spec["containers"]]:
            for e in c.get("env") or []:  # a secret travels by reference only
                if e["name"].startswith("SECRET_"):
                    assert "value" not in e and "secretKeyRef" in e.get("valueFrom", {}), (pod["metadata"]["name"], e)
            logs = cluster.kubectl("-n", ns, "logs", pod["metadata"]["name"], "-c", c["name"], check=False)
            scan.text(f"logs {pod['metadata']['name']}/{c['name']}", logs.stdout + logs.stderr)
            counts["container logs"] = counts.get("container logs", 0) + 1
    return counts


def test_a_flow_full_of_secrets_leaves_none_on_the_cluster(operator, namespace, pod_pg):
    from operator_harness import apply, execution, flow_manifest, reconfigured, runs, wait_state

    cluster = operator.cluster
    values = ss.new_secrets()
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"}, "stringData": ss.b64(values)})
    from clusterlib import node_address

    server = ss.Recorder(node_address())
    role = ss.pg_role(pod_pg, values["PG_PASSWORD"])
    since = operator.log_path.stat().st_size
    try:
        with reconfigured(operator, KFLOW_SECRETS_FROM="task-env"):
            apply(cluster, namespace, flow_manifest("leaky", ss.flow_yaml(
                "leaky", http=server.url, pg_host=pod_pg.host, pg_port=pod_pg.port, pg_db=pod_pg.name, pg_user=role)))
            apply(cluster, namespace, execution("leak1", "leaky"))
            ex = wait_state(cluster, namespace, "leak1", 240)
    finally:
        server.close()
        ss.drop_role(pod_pg, role)
    assert ex["status"]["state"] == "SUCCESS", json.dumps(ex["status"])[:3000]
    server.check(values)
    tr = runs(ex)
    assert tr["shell"]["outputs"]["vars"]["leak"] == "******"
    assert tr["out"]["outputs"]["value"] == "******"
    assert tr["pg"]["outputs"]["row"]["tok"] == "******"
    assert tr["request"]["outputs"]["uri"].endswith("/echo?token=******&plain=******")
    logs_cm = cluster.core.read_namespaced_config_map("leak1-logs", namespace).data
    assert "token ****** weird ******" in json.dumps(logs_cm), logs_cm

    scan = ss.Scanner(values)
    counts = scan_namespace(cluster, namespace, scan)
    with open(operator.log_path, "rb") as f:
        f.seek(since)
        scan.text("operator.log", f.read())
    print(counts, scan.report())
    assert counts["pods"] >= 3 and counts["events"] and counts["configmaps"] >= 2, counts
    assert not scan.findings, scan.report()


def test_the_cluster_scan_finds_planted_leaks(cluster, namespace):
    values = {"A": ss.random_secret("A", odd=True), "B": ss.random_secret("B")}
    planted_b64 = ss.forms(values["A"])["base64"]
    cluster.core.create_namespaced_config_map(namespace, {"metadata": {"name": "planted"},
                                                          "data": {"k": f"x{planted_b64}y"}})
    cluster.core.create_namespaced_event(namespace, {
        "metadata": {"name": "planted-event"}, "type": "Normal", "reason": "Planted", "message": f"b={values['B']}",
        "involvedObject": {"kind": "ConfigMap", "name": "planted", "namespace": namespace}})
    scan = ss.Scanner(values)
    scan_namespace(cluster, namespace, scan)
    assert ("A", "base64", "configmaps/planted") in scan.findings, scan.report()
    assert ("B", "plain", "events/planted-event") in scan.findings, scan.report()
    assert len(scan.findings) == 2, scan.report()
