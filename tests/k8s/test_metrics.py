"""`kflow operator --metrics`: Prometheus series whose values match a known run; `--log-format json`."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest
from operator_harness import Operator, apply, execution, flow_manifest, wait_state
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.cluster

FLOW = """
id: metered
namespace: company.team
inputs:
  - {id: fail, type: BOOLEAN, defaults: false}
tasks:
  - id: value
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.fail }}"
  - id: maybe
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.fail }}"
  - id: shell
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["true"]
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_match_a_known_run_and_logs_are_json(crds):
    cluster = crds
    ns = cluster.new_namespace(prefix="metrics")  # its own operator: outside the session operator's namespaces
    port = _port()
    op = Operator(cluster, namespaces=ns, args=[f"--metrics=127.0.0.1:{port}", "--log-format=json"])
    op.start()
    try:
        apply(cluster, ns, flow_manifest("metered", FLOW))
        for name, fail in (("ok-1", False), ("ok-2", False), ("bad-1", True)):
            apply(cluster, ns, execution(name, "metered", {"fail": fail}))
        states = {name: wait_state(cluster, ns, name, 180)["status"]["state"] for name in ("ok-1", "ok-2", "bad-1")}
        assert states == {"ok-1": "SUCCESS", "ok-2": "SUCCESS", "bad-1": "FAILED"}
        m = _scrape(port)
        lab = (("flow", "metered"), ("namespace", ns))
        assert m[("kflow_executions_ended_total", (*lab, ("state", "SUCCESS")))] == 2
        assert m[("kflow_executions_ended_total", (*lab, ("state", "FAILED")))] == 1
        assert m[("kflow_executions", (*lab, ("state", "SUCCESS")))] == 2
        assert m[("kflow_executions", (*lab, ("state", "FAILED")))] == 1
        assert m[("kflow_queued_executions", lab)] == 0
        # ok-1, ok-2: value, maybe (a false condition succeeds), shell; bad-1: value, then maybe FAILED
        assert m[("kflow_task_run_duration_seconds_count", (*lab, ("state", "SUCCESS")))] == 3 + 2 + 2
        assert m[("kflow_task_run_duration_seconds_count", (*lab, ("state", "FAILED")))] == 1
        assert m[("kflow_reconcile_duration_seconds_count", ())] >= 3
        assert m[("kflow_api_requests_total", (("code", "ok"), ("operation", "create_namespaced_pod")))] == 2
        assert m[("kflow_api_requests_total", (("code", "ok"),
                                               ("operation", "patch_namespaced_custom_object_status")))] >= 3
    finally:
        op.stop()
        cluster.delete_namespace(ns)
    lines = [x for x in op.log_path.read_text().splitlines()[-200:] if x.startswith("{")]
    assert lines and all("message" in json.loads(x) for x in lines)
