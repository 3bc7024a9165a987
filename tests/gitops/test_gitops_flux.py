"""GitOps with the real Flux controllers: a repository of Flows, CronTriggers and a backfill, pushed to a git
server on loopback, applied by source-controller + kustomize-controller, run by kflow's operator.

The commands are the README's "GitOps with Flux" section, run block by block (`# gitops: <step>`), in a
clone of the repository, as a user would. The tests run in order and share one repository and namespace.

The taxi flow's CronTriggers (and the backfill patch) are the example's, unchanged; its Flow document is
replaced by a stand-in with the same id, inputs, file variable and labels, whose one pod waits for a gate
named after `trigger.date` (YYYY-MM), served over HTTP on the node's address: the real flow's pods load
PostgreSQL for a minute per month, and the gates let a test hold an execution running while it pushes a
Flow edit.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from clusterlib import REPO, Cluster, node_address, poll
from fluxlib import PREFIX, Flux
from gitserver import GitServer

from fixtures.readme import readme_blocks

pytestmark = pytest.mark.cluster

FLOW = "02-postgres-taxi-scheduled"
GREEN = f"{FLOW}-green-schedule"
YELLOW = f"{FLOW}-yellow-schedule"
GETTING_STARTED = "getting-started-data-pipeline"
FLOW_FILE = Path("flows") / FLOW / "flow.yaml"


def tick(month: int) -> str:
    return f"{GREEN}-2019{month:02d}010900"


def readme_steps() -> dict[str, str]:
    return readme_blocks("GitOps with Flux", "gitops")


class Gates:
    """An HTTP server on the node's address: GET /<month> answers 200 once that gate is open, 404 before."""

    def __init__(self) -> None:
        opened = self.opened = set[str]()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path.strip("/") in opened else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((node_address(), 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://{node_address()}:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def standin_flow(gate_url: str, edited: bool) -> dict[str, Any]:
    month = "{{ trigger.date | date('yyyy-MM') }}"
    tasks: list[dict[str, Any]] = [
        {"id": "set_label", "type": "io.kestra.plugin.core.execution.Labels",
         "labels": {"file": "{{ render(vars.file) }}", "taxi": "{{ inputs.taxi }}"}},
        {"id": "extract", "type": "io.kestra.plugin.scripts.shell.Commands",
         "taskRunner": {"type": "io.kestra.plugin.core.runner.Process"},
         "commands": [f"until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1])' "
                      f"{gate_url}/{month} 2>/dev/null; do sleep 0.2; done"]},
    ]
    if edited:
        tasks.append({"id": "announce", "type": "io.kestra.plugin.core.log.Log",
                      "message": "loaded {{ render(vars.file) }}"})
    return {"id": "02_postgres_taxi_scheduled", "namespace": "zoomcamp",
            "inputs": [{"id": "taxi", "type": "SELECT", "values": ["yellow", "green"], "defaults": "yellow"}],
            "variables": {"file": "{{ inputs.taxi }}_tripdata_{{ trigger.date | date('yyyy-MM') }}.csv"},
            "tasks": tasks}


@dataclass
class GitOps:
    cluster: Cluster
    flux: Flux
    ns: str
    work: Path
    gates: Gates
    env: dict[str, str]
    steps: dict[str, str]

    def run(self, step: str) -> str:
        cwd = self.work if self.work.exists() else self.work.parent
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", self.steps[step]], cwd=cwd, env=self.env,
                           capture_output=True, text=True, timeout=400)
        if r.returncode != 0:
            pytest.fail(f"README step {step!r} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        return r.stdout

    def write_standin(self, edited: bool) -> None:
        path = self.work / FLOW_FILE
        docs = list(yaml.safe_load_all(path.read_text()))
        assert [d["kind"] for d in docs] == ["Flow", "CronTrigger", "CronTrigger"]
        docs[0]["spec"] = standin_flow(self.gates.url, edited)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))

    def open_gate(self, month: int) -> None:
        self.gates.opened.add(f"2019-{month:02d}")

    def head(self) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=self.work, capture_output=True, text=True,
                              check=True).stdout.strip()

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        r = self.cluster.kubectl("-n", self.ns, "get", f"{kind}/{name}", "-o", "json", check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def items(self, kinds: str, selector: str | None = None) -> list[dict[str, Any]]:
        args = ["-n", self.ns, "get", kinds, "-o", "json", *(["-l", selector] if selector else [])]
        return json.loads(self.cluster.kubectl(*args).stdout)["items"]

    def executions(self) -> dict[str, dict[str, Any]]:
        return {e["metadata"]["name"]: e for e in self.items("executions")}

    def wait_done(self, name: str, timeout: float = 120) -> dict[str, Any]:
        self.cluster.kubectl("-n", self.ns, "wait", "--for=condition=Completed", f"execution/{name}",
                             f"--timeout={int(timeout)}s", timeout=timeout + 30)
        ex = self.get("execution", name)
        assert ex is not None
        return ex


@pytest.fixture(scope="module")
def gitops(cluster: Cluster, flux: Flux, gitops_operator: Any, git_server: GitServer,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitOps]:
    ns = cluster.new_namespace(prefix=PREFIX)
    git_server.create("flows")
    gates = Gates()
    work = tmp_path_factory.mktemp("gitops") / "flows-repo"
    who = {"GIT_AUTHOR_NAME": "Flow Author", "GIT_AUTHOR_EMAIL": "author@example.invalid",
           "GIT_COMMITTER_NAME": "Flow Author", "GIT_COMMITTER_EMAIL": "author@example.invalid"}
    env = {**cluster.env, **who, "KUBECONFIG": cluster.kubeconfig, "KFLOW": str(REPO),
           "GIT_URL": git_server.url("flows"), "NS": ns, "WORK": str(work)}
    yield GitOps(cluster, flux, ns, work, gates, env, readme_steps())
    # Kustomizations first, while the controllers run (their finalizers prune), then the namespace,
    # while the operator runs (it removes its finalizers).
    cluster.kubectl("-n", ns, "delete", "kustomizations,gitrepositories", "--all", "--timeout=90s",
                    check=False, timeout=120)
    cluster.delete_namespace(ns)
    poll(f"namespace {ns} deleted", lambda: cluster.kubectl("get", "ns", ns, check=False).returncode != 0, 90)
    gates.close()


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")


def _inventory(ks: dict[str, Any]) -> set[str]:
    return {e["id"] for e in ks["status"]["inventory"]["entries"]}


def _state(ex: dict[str, Any] | None) -> str | None:
    return (ex or {}).get("status", {}).get("state")


def test_a_push_is_applied_and_its_backfill_runs_once_across_reconciles(gitops: GitOps):
    g = gitops
    for month in (1, 2, 3):
        g.open_gate(month)
    g.run("repo")
    g.write_standin(edited=False)
    g.run("push")
    g.run("sync")

    ks = g.get("kustomization", "kflow-flows")
    assert ks is not None and _ready(ks)["status"] == "True", ks
    assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{g.head()}"
    inventory = _inventory(ks)
    for kind, name in (("Flow", GETTING_STARTED), ("Flow", FLOW), ("CronTrigger", GREEN), ("CronTrigger", YELLOW)):
        assert f"{g.ns}_{name}_kflow.dev_{kind}" in inventory, inventory

    trigger = poll("the green backfill complete", lambda: (
        t := g.get("crontrigger", GREEN)) and (t.get("status") or {}).get("backfill", {}).get("completionTime")
        and t, 180)
    bf = trigger["status"]["backfill"]
    assert (bf["total"], bf["created"], bf["succeeded"], bf["failed"]) == (3, 3, 3, 0)
    exs = g.executions()
    assert sorted(exs) == [tick(1), tick(2), tick(3)]
    for ex in exs.values():
        assert ex["status"]["state"] == "SUCCESS", ex["status"]
        assert ex["status"]["flowGeneration"] == 1
        assert ex["metadata"]["ownerReferences"][0]["name"] == GREEN
    assert exs[tick(2)]["spec"]["inputs"] == {"taxi": "green"}

    # Ten more reconciles of the same commit: every object unchanged (no drift), nothing created.
    watched = {f"Flow/{n}": g.get("flow", n) for n in (GETTING_STARTED, FLOW)}
    watched.update({f"CronTrigger/{n}": g.get("crontrigger", n) for n in (GREEN, YELLOW)})
    uids = {n: e["metadata"]["uid"] for n, e in exs.items()}
    before = len(g.flux.applied(g.ns, "kflow-flows"))
    for _ in range(10):
        g.run("reconcile")
    applies = g.flux.applied(g.ns, "kflow-flows")[before:]
    assert len(applies) >= 10
    for output in applies:
        assert set(output.values()) == {"unchanged"}, output
        assert len(output) == 4, output
    for key, old in watched.items():
        kind, name = key.split("/")
        new = g.get(kind.lower(), name)
        assert new is not None
        assert new["metadata"]["generation"] == old["metadata"]["generation"], key
        assert new["spec"] == old["spec"], key
    assert {n: e["metadata"]["uid"] for n, e in g.executions().items()} == uids
    ks = g.get("kustomization", "kflow-flows")
    assert ks is not None and _ready(ks)["status"] == "True"
    events = g.items("events", None)
    changes = [e["message"] for e in events if e["involvedObject"]["name"] == "kflow-flows"
               and "configured" in e["message"]]
    assert not changes, changes


def test_a_push_changing_the_backfill_range_runs_only_the_new_ticks(gitops: GitOps):
    g = gitops
    old = {n: e["metadata"]["uid"] for n, e in g.executions().items()}
    g.run("backfill-range")  # through May: April runs (held on its gate), May waits for it (maxActive 1)
    g.run("reconcile")
    april = poll("April's backfill execution running", lambda: _state(g.get("execution", tick(4))) == "RUNNING"
                 and g.get("execution", tick(4)), 120)
    exs = g.executions()
    assert sorted(exs) == [tick(1), tick(2), tick(3), tick(4)]
    assert {n: exs[n]["metadata"]["uid"] for n in old} == old  # January to March: not run again
    assert april["metadata"]["labels"]["kflow.dev/backfill-id"] != \
        exs[tick(1)]["metadata"]["labels"]["kflow.dev/backfill-id"]
    def progress() -> tuple | None:
        bf = (g.get("crontrigger", GREEN) or {}).get("status", {}).get("backfill") or {}
        got = (bf.get("total"), bf.get("created"), bf.get("skipped"), bf.get("active"))
        return got if got == (5, 1, 3, 1) else None
    poll("the new backfill's progress: 5 ticks, 3 skipped (run before), April active", progress, 30)


def test_a_push_editing_the_flow_is_used_by_new_executions_only(gitops: GitOps):
    g = gitops
    assert _state(g.get("execution", tick(4))) == "RUNNING"
    g.write_standin(edited=True)
    g.run("push")
    g.run("reconcile")
    flow = g.get("flow", FLOW)
    assert flow is not None and flow["metadata"]["generation"] == 2
    assert [t["id"] for t in flow["spec"]["tasks"]][-1] == "announce"

    g.open_gate(4)
    april = g.wait_done(tick(4))
    assert april["status"]["state"] == "SUCCESS"
    assert april["status"]["flowGeneration"] == 1  # started before the edit: keeps its flow
    assert "announce" not in {tr["id"] for tr in april["status"]["taskRuns"]}

    may = poll("May's backfill execution", lambda: g.get("execution", tick(5)), 120)
    g.open_gate(5)
    may = g.wait_done(tick(5))
    assert may["status"]["state"] == "SUCCESS"
    assert may["status"]["flowGeneration"] == 2
    assert "announce" in {tr["id"] for tr in may["status"]["taskRuns"]}

    bf = poll("the new backfill complete", lambda: (t := g.get("crontrigger", GREEN))
              and t["status"]["backfill"].get("completionTime") and t["status"]["backfill"], 60)
    assert (bf["total"], bf["created"], bf["skipped"], bf["succeeded"]) == (5, 2, 3, 2), bf
    assert sorted(g.executions()) == [tick(m) for m in range(1, 6)]


def test_a_push_deleting_the_flow_prunes_it_and_everything_kflow_made_for_it(gitops: GitOps):
    g = gitops
    made = set(g.executions())
    assert made
    kept = g.get("flow", GETTING_STARTED)
    g.run("prune")
    g.run("reconcile")

    def gone() -> bool:
        return (g.get("flow", FLOW) is None and not g.items("crontriggers") and not g.items("executions"))
    poll("the taxi Flow, its CronTriggers and their executions gone", gone, 120)

    def leftovers() -> list[str]:
        objs = g.items("pods,configmaps,persistentvolumeclaims", "kflow.dev/execution")
        return [f"{o['kind']}/{o['metadata']['name']}" for o in objs
                if o["metadata"]["labels"]["kflow.dev/execution"] in made]
    poll("the executions' pods, ConfigMaps and volumes gone", lambda: not leftovers(), 120)
    ks = g.get("kustomization", "kflow-flows")
    assert ks is not None and _ready(ks)["status"] == "True"
    assert _inventory(ks) == {f"{g.ns}_{GETTING_STARTED}_kflow.dev_Flow"}
    still = g.get("flow", GETTING_STARTED)
    assert still is not None and still["metadata"]["uid"] == kept["metadata"]["uid"]  # type: ignore[index]
    # Nothing comes back: no trigger is left to create a future execution.
    time.sleep(3)
    assert not g.items("executions") and not g.items("crontriggers")
