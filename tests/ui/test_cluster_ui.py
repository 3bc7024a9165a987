"""`kflow ui --cluster` in Chromium against the local control plane (`make cluster-up`) and the kflow
operator: hello-world executed from the form and watched live to SUCCESS, and a three-month backfill of
the scheduled taxi flow started from the dialog, its planned executions created and run."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import pytest
import yaml
from clusterlib import node_address
from operator_harness import apply, flow_manifest, get, reconfigured
from uilib import REPO, poll, wait_ready

from fixtures.taxi_server import TaxiServer

pytestmark = pytest.mark.cluster
TERMINAL = {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"}


def _ui(ui_server, cluster, namespace: str):
    return ui_server("--cluster", "-n", namespace, "--allow-actions", env={"KUBECONFIG": cluster.kubeconfig})


def test_hello_world_from_the_form_to_success_live(operator, namespace, ui_server, page, shots):
    cluster = operator.cluster
    apply(cluster, namespace, yaml.safe_load((REPO / "flows" / "hello_world.yaml").read_text()))
    server = _ui(ui_server, cluster, namespace)
    page.goto(server.url + f"#/flows/{namespace}/hello-world")
    wait_ready(page, "flow")
    assert "valid" in page.inner_text("h1")
    shots(page, "cluster-flow")
    page.click("#execute")
    assert page.get_by_label("user").input_value() == "Kestra user"
    page.get_by_label("user").fill("Ada")
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')", timeout=120_000)
    states = page.evaluate("window.kflowStates")
    assert states[0] not in TERMINAL and states[-1] == "SUCCESS", states  # seen live, on one page
    assert page.locator("#gantt .gantt-bar").count() == 4
    shots(page, "cluster-hello-world-success")
    name = page.evaluate("location.hash").rsplit("/", 1)[1]
    ex = get(cluster, namespace, "executions", name)
    assert ex["spec"]["inputs"] == {"user": "Ada"} and ex["status"]["state"] == "SUCCESS"
    page.click("#tab-outputs")
    assert "Hello, Ada!" in page.inner_text("[data-outputs=hello]")

    items = cluster.custom.list_namespaced_custom_object("kflow.dev", "v1alpha1", namespace, "executions")["items"]
    assert [i["metadata"]["name"] for i in items] == [name]
    page.goto(server.url + "#/executions")
    wait_ready(page, "executions")
    page.locator(f'#exec-rows tr[data-key="{namespace}/{name}"]').wait_for()
    shots(page, "cluster-executions")


@pytest.fixture
def taxi():
    # On the node's address: the extract task's pod downloads from it.
    with TaxiServer(Path(tempfile.mkdtemp(prefix="kflow-ui-taxi-", dir="/tmp")), host=node_address()) as server:
        yield server


@pytest.mark.postgres
@pytest.mark.timeout(900)  # three taxi loads one after the other, each a few task pods
def test_three_month_backfill_of_the_scheduled_taxi_flow_from_the_dialog(operator, namespace, pg_db, taxi,
                                                                       ui_server, page, shots):
    cluster = operator.cluster
    for month in (1, 2, 3):
        taxi.add_month("green", 2019, month, rows=500)
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"},
                                                      "stringData": {"KFLOW_TAXI_BASE_URL": taxi.base_url}})
    pod_pg = dataclasses.replace(pg_db, host=node_address())  # the test PostgreSQL as task pods reach it
    defaults = [{"type": "io.kestra.plugin.jdbc.postgresql", "forced": True, "values": pod_pg.connection_props()}]
    body = yaml.safe_load((REPO / "flows" / "02_postgres_taxi_scheduled.yaml").read_text())
    with reconfigured(operator, KFLOW_PLUGIN_DEFAULTS=yaml.safe_dump(defaults), KFLOW_SECRETS_FROM="task-env",
                      KFLOW_RUNTIME_IMAGE="kflow-taxi-tools:dev"):  # TEST-ONLY: kflow:dev + the fake wget
        apply(cluster, namespace, flow_manifest("taxi-scheduled", body))
        trigger = "taxi-scheduled-green-schedule"
        poll("the flow's CronTriggers", lambda: cluster.kubectl(
            "-n", namespace, "get", "crontrigger", trigger, check=False).returncode == 0, 60)
        server = _ui(ui_server, cluster, namespace)
        page.goto(server.url + "#/triggers")
        wait_ready(page, "triggers")
        row = page.locator(f'#trigger-rows tr[data-key="{namespace}/{trigger}"]')
        row.wait_for()
        assert "0 9 1 * *" in row.inner_text()
        shots(page, "cluster-triggers")

        row.locator("[data-backfill]").click()
        page.fill("#bf-start", "2019-01-01")
        page.fill("#bf-end", "2019-03-31")
        page.select_option("#bf-reprocess", "missing")
        page.fill("#bf-max", "1")
        assert page.is_disabled("#bf-confirm")  # nothing is started before the dry-run table is shown
        page.click("#bf-preview")
        page.wait_for_selector("#bf-plan table")
        planned = [r.split("\t") for r in page.locator("#bf-plan tbody tr").all_inner_texts()]
        names = [cells[2] for cells in planned]
        assert [cells[1] for cells in planned] == ["run", "run", "run"]
        assert names == [f"{trigger}-2019{m:02d}010900" for m in (1, 2, 3)]
        assert "3 tick(s): 3 would run" in page.inner_text("#bf-summary")
        assert cluster.custom.get_namespaced_custom_object(
            "kflow.dev", "v1alpha1", namespace, "crontriggers", trigger)["spec"].get("backfill") is None
        shots(page, "cluster-backfill-dry-run")
        page.click("#bf-confirm")
        page.wait_for_selector("#dialog", state="hidden")

        # the planned executions appear one after the other (maxActive 1) and run to SUCCESS
        seen: dict[str, str | None] = {}

        def done() -> bool:
            items = cluster.custom.list_namespaced_custom_object("kflow.dev", "v1alpha1", namespace, "executions")
            seen.clear()
            seen.update({i["metadata"]["name"]: (i.get("status") or {}).get("state") for i in items["items"]})
            return all(seen.get(n) in TERMINAL for n in names)

        try:
            poll("the three backfill executions", done, 780, 2)
        finally:
            print("executions:", seen, "trigger status:", get(cluster, namespace, "crontriggers", trigger).get("status"))
        page.wait_for_function(f"document.querySelector('#trigger-rows tr[data-key=\"{namespace}/{trigger}\"]')"
                               ".innerText.includes('3/3 ticks')", timeout=60_000)
        shots(page, "cluster-backfill-done")
    for n in names:
        ex = get(cluster, namespace, "executions", n)
        assert ex["status"]["state"] == "SUCCESS", (n, ex["status"].get("message"))
        assert ex["metadata"]["labels"]["kflow.dev/backfill"] == "true"
    assert pg_db.scalar("SELECT count(DISTINCT filename) FROM public.green_tripdata") == 3
    page.goto(server.url + f"#/executions/{namespace}/{names[0]}")
    wait_ready(page, "execution")
    assert page.locator("#gantt .gantt-bar").count() >= 3
    shots(page, "cluster-backfill-execution")


def _granted(role: dict) -> set[tuple[str, str, str]]:
    return {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
            for v in rule["verbs"]}


def test_chart_deploys_the_ui_behind_a_value_with_narrow_rbac(cluster, namespace):
    chart = str(REPO / "charts" / "kflow")
    assert "0 chart(s) failed" in cluster.run("helm", "lint", chart, "--set", "ui.enabled=true").stdout
    plain = [d for d in yaml.safe_load_all(cluster.run("helm", "template", "rel", chart, "-n", namespace).stdout) if d]
    assert not [d for d in plain if d["metadata"]["name"].endswith("-ui")]  # off by default

    def render(*sets: str) -> dict[tuple[str, str], dict]:
        text = cluster.run("helm", "template", "rel", chart, "-n", namespace, "--set", "ui.enabled=true",
                           *[a for s in sets for a in ("--set", s)]).stdout
        docs = [d for d in yaml.safe_load_all(text) if d]
        cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", input=yaml.safe_dump_all(docs))
        return {(d["kind"], d["metadata"]["name"]): d for d in docs}

    docs = render()
    dep = docs[("Deployment", "rel-kflow-ui")]["spec"]
    ctr = dep["template"]["spec"]["containers"][0]
    assert ctr["command"] == ["kflow"] and ctr["args"] == ["ui", "--cluster", "--bind=0.0.0.0", "--port=8080"]
    from kflow.cli import build_parser

    parsed = build_parser().parse_args([*ctr["command"][1:], *ctr["args"]])  # the CLI accepts them
    assert parsed.cluster and not parsed.allow_actions
    assert dep["template"]["spec"]["serviceAccountName"] == "rel-kflow-ui"
    operator_selector = docs[("Deployment", "rel-kflow")]["spec"]["selector"]["matchLabels"]
    ui_labels = dep["template"]["metadata"]["labels"]
    assert not all(ui_labels.get(k) == v for k, v in operator_selector.items())  # never the operator's pods
    assert docs[("Service", "rel-kflow-ui")]["spec"]["selector"] == dep["selector"]["matchLabels"]
    role = docs[("ClusterRole", f"{namespace}-rel-kflow-ui")]
    granted = _granted(role)
    assert ("kflow.dev", "executions", "list") in granted and ("", "pods/log", "get") in granted
    assert not [g for g in granted if g[2] not in ("get", "list", "watch")]  # read-only
    assert not [g for g in granted if g[1] in ("secrets", "pods", "*")]
    acting = _granted(render("ui.allowActions=true")[("ClusterRole", f"{namespace}-rel-kflow-ui")])
    assert acting - granted == {("kflow.dev", "executions", "create"), ("kflow.dev", "executions", "patch"),
                                ("kflow.dev", "crontriggers", "patch")}
    one = render(f"ui.namespace={namespace}")
    assert ("Role", "rel-kflow-ui") in one and ("ClusterRole", f"{namespace}-rel-kflow-ui") not in one
    assert f"--namespace={namespace}" in one[("Deployment", "rel-kflow-ui")]["spec"]["template"]["spec"][
        "containers"][0]["args"]
