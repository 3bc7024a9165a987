"""The zoomcamp GCP flows, unchanged, on the cluster against the GCS and BigQuery emulators.

Task pods run the test-only taxi-tools image (kflow:dev plus the fixture's fake wget) and get the
emulators' endpoints and the taxi server's address (both on the node's address) from the Secret the
operator hands every task pod (`KFLOW_SECRETS_FROM`): set once, never in the flows. Settings come from a run of
04_gcp_kv on the cluster, then this test's key, bucket and dataset as KV entries (ConfigMaps).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from clusterlib import REPO, node_address
from operator_harness import apply, execution, flow_manifest, reconfigured, runs, wait_state

from fixtures.taxi_server import TaxiServer
from kflow.k8s import kvstore
from kflow.kv.memory import MemoryKVStore
from kflow.kv.model import kv_set

sys.path.insert(0, str(REPO / "tests" / "gcp"))
from gcp_support import FLOWS, clients, key_fragments, make_service_account, start_emulators

pytestmark = [pytest.mark.cluster, pytest.mark.gcp, pytest.mark.timeout(1800)]
TAXI_IMAGE = "kflow-taxi-tools:dev"  # TEST-ONLY: kflow:dev plus the taxi fixture's fake wget


@pytest.fixture
def taxi():
    with TaxiServer(Path(tempfile.mkdtemp(prefix="kflow-gcp-taxi-", dir="/tmp")), host=node_address()) as server:
        yield server


@pytest.fixture
def gcp(operator, namespace, taxi):
    """Emulators up, the task-env Secret, this test's settings in the cluster's KV store."""
    env = start_emulators()
    cluster = operator.cluster
    assert node_address() in env["KFLOW_GCS_ENDPOINT"], (
        f"task pods reach the emulators only on the node's address: start them with "
        f"KFLOW_GCP_EMULATOR_HOST={node_address()} scripts/gcp-emulators.sh start ({env})")
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"},
                                                      "stringData": {"KFLOW_TAXI_BASE_URL": taxi.base_url, **env}})
    tag = uuid.uuid4().hex[:8]
    names = {"bucket": f"kflow-k8s-{tag}", "dataset": f"zoomcamp_k8s_{tag}", "project": "kflow-test"}
    sa = make_service_account()
    with reconfigured(operator, KFLOW_SECRETS_FROM="task-env", KFLOW_RUNTIME_IMAGE=TAXI_IMAGE):
        apply(cluster, namespace, flow_manifest("gcp-kv", (FLOWS / "04_gcp_kv.yaml").read_text()))
        apply(cluster, namespace, execution("kv", "gcp-kv"))
        assert wait_state(cluster, namespace, "kv", 180)["status"]["state"] == "SUCCESS"
        store = MemoryKVStore()
        now = datetime.now(UTC)
        for key, value in (("GCP_BUCKET_NAME", names["bucket"]), ("GCP_DATASET", names["dataset"]),
                           ("GCP_PROJECT_ID", names["project"]), ("GCP_CREDS", json.dumps(sa))):
            apply(cluster, namespace, kvstore.manifest(kv_set(store, "zoomcamp", key, value, now,
                                                               kv_type="STRING"), namespace))
        apply(cluster, namespace, flow_manifest("gcp-setup", (FLOWS / "05_gcp_setup.yaml").read_text()))
        apply(cluster, namespace, execution("setup", "gcp-setup"))
        ex = wait_state(cluster, namespace, "setup", 240)
        assert ex["status"]["state"] == "SUCCESS", _failure(cluster, namespace, ex)
        yield cluster, names, sa, clients(env)


def _failure(cluster, namespace, ex) -> str:
    failed = [tr for tr in ex["status"].get("taskRuns", []) if tr["state"] == "FAILED"]
    logs = [cluster.kubectl("-n", namespace, "logs", tr["pod"], "--all-containers", check=False).stdout[-3000:]
            for tr in failed if tr.get("pod")]
    return f"{failed}\n{logs}"


def _by_file(bq, names, table: str) -> dict[str, int]:
    sql = f"SELECT filename, COUNT(*) AS n FROM `{names['project']}.{names['dataset']}.{table}` GROUP BY filename"
    return {r["filename"]: r["n"] for r in bq.query(sql).result()}


def test_gcp_taxi_flow_on_the_cluster(gcp, namespace, taxi):
    cluster, names, sa, (gcs, bq) = gcp
    served = taxi.add_month("green", 2019, 1, rows=2_000, seed=21)
    apply(cluster, namespace, flow_manifest("gcp-taxi", (FLOWS / "06_gcp_taxi.yaml").read_text()))
    apply(cluster, namespace, execution("green-2019-01", "gcp-taxi", {"taxi": "green", "year": "2019",
                                                                      "month": "01"}))
    ex = wait_state(cluster, namespace, "green-2019-01", 420)
    assert ex["status"]["state"] == "SUCCESS", _failure(cluster, namespace, ex)
    assert runs(ex)["bq_green_merge"]["state"] == "SUCCESS"
    assert runs(ex).get("bq_yellow_merge", {}).get("state") in (None, "SKIPPED")
    blob = gcs.bucket(names["bucket"]).blob("green_tripdata_2019-01.csv")
    assert blob.download_as_bytes() == gzip.decompress(served.read_bytes())
    assert _by_file(bq, names, "green_tripdata") == {"green_tripdata_2019-01.csv": 2_000}
    apply(cluster, namespace, execution("green-2019-01-again", "gcp-taxi",
                                        {"taxi": "green", "year": "2019", "month": "01"}))
    again = wait_state(cluster, namespace, "green-2019-01-again", 420)
    assert again["status"]["state"] == "SUCCESS", _failure(cluster, namespace, again)
    assert _by_file(bq, names, "green_tripdata") == {"green_tripdata_2019-01.csv": 2_000}  # MERGE: nothing new
    # The key is in no status and no pod log.
    text = json.dumps(ex) + json.dumps(again)
    for tr in ex["status"]["taskRuns"]:
        if tr.get("pod"):
            text += cluster.kubectl("-n", namespace, "logs", tr["pod"], "--all-containers", check=False).stdout
    for fragment in key_fragments(sa):
        assert fragment not in text


def test_scheduled_gcp_flow_q1_2019_backfill_on_the_cluster(gcp, operator, namespace, taxi):
    from clusterlib import poll
    from crontrigger_harness import executions_of

    cluster, names, _, (_, bq) = gcp
    for month in (1, 2, 3):
        taxi.add_month("green", 2019, month, rows=500, seed=30 + month)
    converted = subprocess.run([sys.executable, "-m", "kflow.cli", "convert", "--split-triggers",
                                str(FLOWS / "06_gcp_taxi_scheduled.yaml")],
                               capture_output=True, text=True, check=True).stdout
    docs = [d for d in yaml.safe_load_all(converted) if d]
    green = next(d for d in docs if d["kind"] == "CronTrigger" and d["metadata"]["name"].endswith("green-schedule"))
    green["spec"]["backfill"] = {"start": "2019-01-01T00:00:00Z", "end": "2019-03-31T23:59:59Z"}
    name = green["metadata"]["name"]
    with reconfigured(operator, KFLOW_SECRETS_FROM="task-env", KFLOW_RUNTIME_IMAGE=TAXI_IMAGE):
        cluster.kubectl("-n", namespace, "apply", "-f", "-", input="\n---\n".join(yaml.safe_dump(d) for d in docs))

        def three_done():
            items = executions_of(cluster, namespace, name)
            states = [(i.get("status") or {}).get("state") for i in items]
            return items if len(items) == 3 and all(s in ("SUCCESS", "FAILED", "WARNING") for s in states) \
                else None

        items = poll("three backfill executions", three_done, 1200, every=3)
    assert [i["status"]["state"] for i in items] == ["SUCCESS"] * 3, \
        [_failure(cluster, namespace, i) for i in items if i["status"]["state"] != "SUCCESS"]
    assert _by_file(bq, names, "green_tripdata") == {f"green_tripdata_2019-0{m}.csv": 500 for m in (1, 2, 3)}
