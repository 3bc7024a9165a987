"""FILE inputs, http.Request and namespace files on the cluster: the same flow as `kflow run`, in pods."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from operator_harness import apply, execution, flow_manifest, pods, runs, wait_state

from fixtures.loopback import HttpServer, Received, SmtpServer

pytestmark = pytest.mark.cluster

CSV = "id,amount\n1,10.50\n2,7.25\n3,2.25\n"

FLOW = """
id: file-query
namespace: company.team
inputs:
  - id: data
    type: FILE
  - id: base
    type: STRING
  - id: smtp_host
    type: STRING
  - id: smtp_port
    type: INT
tasks:
  - id: total
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      data.csv: "{{ inputs.data }}"
    sql: SELECT count(*) AS n, sum(amount) AS total FROM read_csv_auto('{{ workingDir }}/data.csv')
    fetchType: FETCH_ONE
  - id: post
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/totals"
    method: POST
    headers:
      X-Execution: "{{ execution.id }}"
    body: '{"n": {{ outputs.total.row.n }}, "total": {{ outputs.total.row.total }}}'
  - id: missing
    type: io.kestra.plugin.core.http.Request
    uri: "{{ inputs.base }}/missing"
    options:
      allowFailed: true
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: true
      include: ["scripts/*.sh"]
    commands:
      - sh scripts/report.sh "{{ outputs.post.code }}"
  - id: notify
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
    url: "{{ inputs.base }}/hook/T0/B0/token"
    messageText: "{{ execution.id }} total {{ outputs.total.row.total }}"
  - id: mail
    type: io.kestra.plugin.notifications.mail.MailSend
    host: "{{ inputs.smtp_host }}"
    port: "{{ inputs.smtp_port }}"
    from: kflow@example.com
    to: ops@example.com
    subject: "{{ execution.id }}"
    plainTextContent: "total {{ outputs.total.row.total }}"
"""


def _accept(got: Received):
    return 201, {"Content-Type": "application/json"}, json.dumps({"got": got.json()}).encode()


def _upload_namespace_files(cluster, namespace, tmp_path):
    (tmp_path / "ns" / "scripts").mkdir(parents=True)
    (tmp_path / "ns" / "scripts" / "report.sh").write_text('echo "::{\\"outputs\\":{\\"code\\":\\"$1\\"}}::"\n')
    (tmp_path / "ns" / "scripts" / "skip.py").write_text("raise SystemExit(1)\n")
    env = {**cluster.env, "KUBECONFIG": cluster.kubeconfig}
    res = subprocess.run([sys.executable, "-m", "kflow.cli", "namespace", "files", "upload", str(tmp_path / "ns"),
                          "--namespace", "company.team", "--cluster", "-n", namespace], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "2 file(s) of namespace company.team in 1 ConfigMap(s)" in res.stdout


def test_file_input_from_configmap_and_url_into_duckdb_request_and_namespace_files(operator, namespace,
                                                                                  tmp_path):
    cluster = operator.cluster
    cluster.kubectl("-n", namespace, "create", "configmap", "sales", f"--from-literal=sales.csv={CSV}")
    cluster.kubectl("-n", namespace, "create", "secret", "generic", "private", f"--from-literal=p.csv={CSV}")
    _upload_namespace_files(cluster, namespace, tmp_path)
    apply(cluster, namespace, flow_manifest("file-query", FLOW))
    routes = {"/totals": _accept, "/sales.csv": lambda g: (200, {"Content-Type": "text/csv"}, CSV.encode()),
              "/hook/T0/B0/token": lambda g: (200, {}, b"ok")}
    with HttpServer(routes=routes) as srv, SmtpServer() as smtp:
        base = {"base": srv.base, "smtp_host": smtp.host, "smtp_port": smtp.port}
        apply(cluster, namespace, execution("from-cm", "file-query", base,
                                            inputsFrom={"data": {"configMapKeyRef": {"name": "sales",
                                                                                     "key": "sales.csv"}}}))
        apply(cluster, namespace, execution("from-url", "file-query", base,
                                            inputsFrom={"data": {"url": f"{srv.base}/sales.csv",
                                                                 "filename": "s.csv"}}))
        apply(cluster, namespace, execution("from-secret", "file-query", base,
                                            inputsFrom={"data": {"secretKeyRef": {"name": "private",
                                                                                  "key": "p.csv"}}}))
        done = {name: wait_state(cluster, namespace, name, 240) for name in ("from-cm", "from-url", "from-secret")}
    for name, ex in done.items():
        status = ex["status"]
        assert status["state"] == "SUCCESS", json.dumps(status, indent=1)[:3000]
        file_name = {"from-cm": "sales.csv", "from-url": "s.csv", "from-secret": "p.csv"}[name]
        assert status["inputs"]["data"] == \
            f"kestra:///company/team/file-query/executions/{name}/inputs/data/{file_name}"
        tr = runs(ex)
        assert tr["total"]["outputs"]["row"] == {"n": 3, "total": 20.0}
        assert tr["post"]["outputs"]["code"] == 201
        assert json.loads(tr["post"]["outputs"]["body"]) == {"got": {"n": 3, "total": 20.0}}
        assert tr["missing"]["outputs"]["code"] == 404
        assert tr["sh"]["outputs"]["vars"] == {"code": "201"}
    hooks = sorted(g.json()["text"] for g in srv.received if g.path.startswith("/hook/"))
    assert hooks == [f"{name} total 20.0" for name in sorted(done)]
    assert sorted(m["Subject"] for m in smtp.messages) == sorted(done)
    assert all(m.get_content().strip() == "total 20.0" for m in smtp.messages)
    posted = [g for g in srv.received if g.path == "/totals"]
    assert sorted(g.headers["x-execution"] for g in posted) == ["from-cm", "from-secret", "from-url"]
    # The ConfigMap key reached the pods as a read-only projected volume.
    cm_pods = pods(cluster, namespace, "kflow.dev/execution=from-cm")
    vols = [v for p in cm_pods for v in p.spec.volumes if v.name == "kflow-inputs"]
    assert vols and vols[0].projected.sources[0].config_map.name == "sales"


def test_inputs_from_an_unknown_input_fails_the_execution(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("file-query", FLOW))
    apply(cluster, namespace, execution("bad", "file-query", {"base": "http://x", "smtp_host": "x", "smtp_port": 1},
                                        inputsFrom={"base": {"url": "http://x/y.csv"}}))
    ex = wait_state(cluster, namespace, "bad", 60)
    assert ex["status"]["state"] == "FAILED" and ex["status"]["reason"] == "InvalidInputs"
    assert "spec.inputsFrom names no FILE input" in ex["status"]["message"]
    # Two sources at once is refused by the API server (the CRD's validation rule).
    res = apply(cluster, namespace, execution("two", "file-query", {"base": "http://x", "smtp_host": "x", "smtp_port": 1}, inputsFrom={
        "data": {"url": "http://x/y.csv", "configMapKeyRef": {"name": "a", "key": "b"}}}), check=False)
    assert res.returncode != 0 and "exactly one of configMapKeyRef, secretKeyRef, url or executionFile" in res.stderr
