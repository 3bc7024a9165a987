"""The zoomcamp taxi flow, unchanged, on the cluster against the test PostgreSQL: same rows as `kflow run`."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from clusterlib import REPO, node_address
from operator_harness import apply, execution, flow_manifest, get, pods, reconfigured, runs, wait_state

from fixtures.taxi_server import TaxiServer

pytestmark = [pytest.mark.cluster, pytest.mark.postgres]
ROWS = 20_000
# TEST-ONLY runtime image: kflow:dev plus the fixture's fake wget (tests/fixtures/taxi-tools.Dockerfile).
TAXI_IMAGE = "kflow-taxi-tools:dev"


@pytest.fixture
def taxi():
    # On the node's address: the extract task's pod downloads from it.
    with TaxiServer(Path(tempfile.mkdtemp(prefix="kflow-taxi-", dir="/tmp")), host=node_address()) as server:
        yield server


def _task_env(cluster, namespace: str, taxi) -> None:
    """What task pods get through KFLOW_SECRETS_FROM: where the fake wget finds the taxi server."""
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"},
                                                      "stringData": {"KFLOW_TAXI_BASE_URL": taxi.base_url}})


def _defaults(db) -> list[dict]:
    return [{"type": "io.kestra.plugin.jdbc.postgresql", "forced": True, "values": db.connection_props()}]


def _count(db, table: str) -> int:
    return db.scalar(f"SELECT count(*) FROM {table}")


def test_taxi_flow_on_the_cluster_loads_what_kflow_run_loads(operator, namespace, pg_db, pod_pg, taxi, tmp_path):
    taxi.add_month("green", 2019, 1, rows=ROWS)
    flow_file = REPO / "flows" / "02_postgres_taxi.yaml"
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text(yaml.safe_dump(_defaults(pod_pg)))
    local = subprocess.run([sys.executable, "-m", "kflow.cli", "run", str(flow_file), "--json",
                            "--storage", str(tmp_path / "storage"), "--plugin-defaults", str(defaults),
                            "-i", "taxi=green", "-i", "year=2019", "-i", "month=01"],
                           env=taxi.env(), capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr[-3000:]
    assert json.loads(local.stdout)["state"] == "SUCCESS"
    local_rows = _count(pg_db, "public.green_tripdata")
    local_files = pg_db.rows("SELECT DISTINCT filename FROM public.green_tripdata")
    assert local_rows > 0.9 * ROWS
    pg_db.execute("DROP TABLE public.green_tripdata; DROP TABLE public.green_tripdata_staging;")

    cluster = operator.cluster
    _task_env(cluster, namespace, taxi)
    with reconfigured(operator, KFLOW_PLUGIN_DEFAULTS=yaml.safe_dump(_defaults(pod_pg)),
                      KFLOW_SECRETS_FROM="task-env", KFLOW_RUNTIME_IMAGE=TAXI_IMAGE):
        apply(cluster, namespace, flow_manifest("postgres-taxi", yaml.safe_load(flow_file.read_text())))
        apply(cluster, namespace, execution("green-2019-01", "postgres-taxi",
                                            {"taxi": "green", "year": "2019", "month": "01"}))
        ex = wait_state(cluster, namespace, "green-2019-01", 300)
    if ex["status"]["state"] != "SUCCESS":
        failed = [tr for tr in ex["status"]["taskRuns"] if tr["state"] == "FAILED"]
        logs = [cluster.kubectl("-n", namespace, "logs", tr["pod"], "--all-containers", check=False).stdout
                for tr in failed if tr.get("pod")]
        spec = cluster.core.read_namespaced_pod(failed[0]["pod"], namespace).spec
        pytest.fail(f"cluster run ended: {failed}\n{logs}\n{spec.containers[0].env_from}")
    assert _count(pg_db, "public.green_tripdata") == local_rows
    assert pg_db.rows("SELECT DISTINCT filename FROM public.green_tripdata") == local_files
    by_id = runs(ex)
    assert by_id["yellow_copy_in_to_staging_table"]["state"] == "SKIPPED"
    assert by_id["green_copy_in_to_staging_table"]["state"] == "SUCCESS"
    assert ex["metadata"]["labels"]["taxi"] == "green"
    ran = {p.metadata.labels["kflow.dev/task"] for p in pods(cluster, namespace)}
    assert "extract" in ran and "green_merge_data" in ran and "yellow_merge_data" not in ran
    assert get(cluster, namespace, "executions", "green-2019-01")["status"]["state"] == "SUCCESS"
    for p in pods(cluster, namespace):  # real containers of images the node has
        assert all("sha256:" in cs.image_id for cs in p.status.container_statuses)


def test_scheduled_taxi_backfill_loads_q1_2019_one_month_at_a_time(operator, namespace, pg_db, pod_pg, taxi):
    from clusterlib import poll
    from crontrigger_harness import executions_of

    for month in (1, 2, 3):
        taxi.add_month("green", 2019, month, rows=3_000, seed=month)
    cluster = operator.cluster
    _task_env(cluster, namespace, taxi)
    # The GitOps way: the unchanged Kestra flow split into a Flow and CronTriggers by `kflow convert`.
    converted = subprocess.run([sys.executable, "-m", "kflow.cli", "convert", "--split-triggers",
                                str(REPO / "flows" / "02_postgres_taxi_scheduled.yaml")],
                               capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(converted) if d]
    green = next(d for d in docs if d["kind"] == "CronTrigger" and d["metadata"]["name"].endswith("green-schedule"))
    green["spec"]["backfill"] = {"start": "2019-01-01T00:00:00Z", "end": "2019-03-31T23:59:59Z"}
    manifests = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    name = green["metadata"]["name"]
    with reconfigured(operator, KFLOW_PLUGIN_DEFAULTS=yaml.safe_dump(_defaults(pod_pg)),
                      KFLOW_SECRETS_FROM="task-env", KFLOW_RUNTIME_IMAGE=TAXI_IMAGE):
        cluster.kubectl("-n", namespace, "apply", "-f", "-", input=manifests)

        def three_done():
            items = executions_of(cluster, namespace, name)
            states = [(i.get("status") or {}).get("state") for i in items]
            return items if len(items) == 3 and all(s in ("SUCCESS", "FAILED", "WARNING") for s in states) \
                else None

        items = poll("three backfill executions", three_done, 600, every=2)
        cluster.kubectl("-n", namespace, "apply", "-f", "-", input=manifests)  # re-applied: nothing new
        time.sleep(5)
        again = executions_of(cluster, namespace, name)
    assert [i["metadata"]["name"] for i in again] == [i["metadata"]["name"] for i in items]
    assert [i["metadata"]["name"] for i in items] == [f"{name}-2019{m:02d}010900" for m in (1, 2, 3)]
    assert [i["status"]["state"] for i in items] == ["SUCCESS"] * 3
    assert all(i["metadata"]["labels"]["kflow.dev/backfill"] == "true" for i in items)

    def running_since(item: dict) -> float:
        return next(_ts(h["date"]) for h in item["status"]["histories"] if h["state"] == "RUNNING")

    spans = sorted((running_since(i), _ts(i["status"]["endDate"])) for i in items)
    assert all(b[0] >= a[1] for a, b in itertools.pairwise(spans)), f"two months ran at once: {spans}"
    files = [r[0] for r in pg_db.rows("SELECT DISTINCT filename FROM public.green_tripdata ORDER BY 1")]
    assert files == [f"green_tripdata_2019-{m:02d}.csv" for m in (1, 2, 3)]
    per_file = dict(pg_db.rows("SELECT filename, count(*) FROM public.green_tripdata GROUP BY 1"))
    assert all(count > 2_500 for count in per_file.values()), per_file


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
