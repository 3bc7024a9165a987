"""The CLI on the cluster: `kflow submit --watch` streams a run's Log messages, `kflow restart --cluster`
re-runs the failed task of a finished Execution through an annotation the operator reconciles (once), and
`kflow logs --cluster` still reads the task's output after its pods are gone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from clusterlib import REPO, poll
from operator_harness import get

from fixtures.loopback import HttpServer, Received, Reply

pytestmark = pytest.mark.cluster


def kflow(operator, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**operator.cluster.env, "KUBECONFIG": operator.cluster.kubeconfig, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=timeout)


def test_submit_watch_streams_the_log_messages(operator, namespace):
    res = kflow(operator, "submit", "flows/hello_world.yaml", "--watch", "-n", namespace)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout
    assert "flow.kflow.dev/hello-world created" in out
    assert "[first_log] INFO  Hello, Kestra user!" in out
    assert "[last_log] INFO  Hello, Kestra user! It is " in out
    assert out.index("> first_log") < out.index("Hello, Kestra user!") < out.index("ok last_log") or \
        out.index("Hello, Kestra user!") < out.index("ended SUCCESS")
    assert "ended SUCCESS" in out
    # a second submit reuses the Flow (same spec), with inputs
    again = kflow(operator, "submit", "hello-world", "-i", "user=Ada", "--wait", "-o", "json", "-n", namespace)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["state"] == "SUCCESS" and doc["inputs"] == {"user": "Ada"}
    listed = json.loads(kflow(operator, "executions", "-n", namespace, "-o", "json").stdout)
    assert len(listed) == 2 and {d["state"] for d in listed} == {"SUCCESS"}


# Each task calls a test server on the node's address: it counts the runs of `first`, and `flaky` fails
# until its second call.
GET = "python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])'"
FLAKY = """\
id: three
namespace: test.cli
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - {get} {url}/first
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - if {get} {url}/flaky 2>/dev/null; then echo lucky this time; else echo not yet; exit 3; fi
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: all done
"""


def test_restart_on_the_cluster_reruns_only_the_failed_task(operator, namespace, tmp_path):
    server = HttpServer()

    def calls(path: str) -> int:
        return sum(r.path == path for r in server.received)

    def flaky(_got: Received) -> Reply:
        return (200 if calls("/flaky") > 1 else 503), {}, b""

    server.routes = {"/first": lambda _got: (200, {}, b""), "/flaky": flaky}
    with server:
        _restart_on_the_cluster(operator, namespace, tmp_path, server.base, calls)


def _restart_on_the_cluster(operator, namespace, tmp_path, url, calls) -> None:
    flow = tmp_path / "three.yaml"
    flow.write_text(FLAKY.format(get=GET, url=url))
    res = kflow(operator, "submit", str(flow), "--wait", "-o", "name", "-n", namespace)
    assert res.returncode == 1, res.stdout + res.stderr
    name = res.stdout.strip().splitlines()[-1]
    assert get(operator.cluster, namespace, "executions", name)["status"]["state"] == "FAILED"
    again = kflow(operator, "restart", name, "-n", namespace, "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"execution.kflow.dev/{name} restart requested (kflow.dev/restart=1)" in again.stdout
    doc = json.loads(kflow(operator, "get", name, "-n", namespace, "-o", "json").stdout)
    runs = {t["taskId"]: t for t in doc["taskRuns"]}
    assert doc["state"] == "SUCCESS" and doc["attempt"] == 2
    assert len(runs["first"]["attempts"]) == 1 and len(runs["flaky"]["attempts"]) == 2
    assert calls("/first") == 1 and calls("/flaky") == 2
    histories = get(operator.cluster, namespace, "executions", name)["status"]["histories"]
    assert [h.get("reason") for h in histories if h["state"] == "RESTARTED"] == ["restart 1"]
    # the same request again (a GitOps re-apply, a repeated patch) changes nothing
    operator.cluster.kubectl("-n", namespace, "annotate", "--overwrite", "execution", name, "kflow.dev/restart=1")
    refused = kflow(operator, "restart", name, "-n", namespace, "--wait")  # token 2: nothing failed
    assert refused.returncode == 1 and "restart 2 refused" in refused.stderr
    final = get(operator.cluster, namespace, "executions", name)["status"]
    assert final["state"] == "SUCCESS" and sum(h["state"] == "RESTARTED" for h in final["histories"]) == 1
    # the task's output outlives its pods
    for pod in operator.cluster.core.list_namespaced_pod(namespace).items:
        operator.cluster.core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
    poll("pods gone", lambda: not operator.cluster.core.list_namespaced_pod(namespace).items, 60)
    logs = kflow(operator, "logs", name, "-n", namespace, "--task", "flaky", "--no-timestamps")
    assert logs.returncode == 0, logs.stderr
    assert "flaky INFO  not yet" in logs.stdout and "flaky INFO  lucky this time" in logs.stdout
    assert "all done" in kflow(operator, "logs", name, "-n", namespace).stdout
    tree = kflow(operator, "get", name, "-n", namespace).stdout
    assert "Attempt:     2 (restarted 1x)" in tree and "✔ flaky" in tree


PAUSING = """\
id: waits
namespace: test.cli
tasks:
  - id: ask
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
  - id: tell
    type: io.kestra.plugin.core.log.Log
    message: "approved={{ outputs.ask.onResume.approved }}"
triggers:
  - id: yearly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 1 *"
"""


def test_resume_and_trigger_on_the_cluster(operator, namespace, tmp_path):
    flow = tmp_path / "waits.yaml"
    flow.write_text(PAUSING)
    res = kflow(operator, "submit", str(flow), "--wait", "-o", "name", "-n", namespace)
    assert res.returncode == 0 and "is PAUSED at ask" in res.stderr, res.stdout + res.stderr
    name = res.stdout.strip().splitlines()[-1]
    resumed = kflow(operator, "resume", name, "-i", "approved=true", "-n", namespace, "--wait")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "approved=true" in kflow(operator, "logs", name, "--task", "tell", "-n", namespace).stdout
    # one tick of its Schedule, now: the CronTrigger `kflow convert --split-triggers` makes (suspended here,
    # so only the manual tick runs)
    docs = kflow(operator, "convert", "--split-triggers", str(flow)).stdout
    docs = docs.replace("suspend: false", "suspend: true")
    operator.cluster.kubectl("-n", namespace, "apply", "-f", "-", input=docs)
    tick = kflow(operator, "trigger", "waits-yearly", "--date", "2019-06-01T00:00:00Z", "-n", namespace)
    assert tick.returncode == 0, tick.stdout + tick.stderr
    assert "created for tick 2019-01-01T09:00:00+00:00" in tick.stdout
    ex_name = tick.stdout.split("execution.kflow.dev/", 1)[1].split()[0]
    spec = get(operator.cluster, namespace, "executions", ex_name)["spec"]
    assert spec["trigger"]["date"] == "2019-01-01T09:00:00+00:00"
    twice = kflow(operator, "trigger", "waits-yearly", "--date", "2019-06-01T00:00:00Z", "-n", namespace)
    assert twice.returncode == 1 and "already has execution" in twice.stderr
