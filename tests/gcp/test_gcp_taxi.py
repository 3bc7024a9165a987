"""The zoomcamp GCP flows, unchanged, run by `kflow run` against the GCS and BigQuery emulators.

Settings come from a run of flows/04_gcp_kv.yaml, then (as a Kestra user does in the UI) the key,
bucket and dataset of this test; flows/05_gcp_setup.yaml creates the bucket and the dataset.
"""

from __future__ import annotations

import gzip
import json

import pytest
from gcp_support import FLOWS, key_fragments, secret_env
from google.api_core.exceptions import NotFound

pytestmark = [pytest.mark.gcp, pytest.mark.timeout(900)]

TAXI = FLOWS / "06_gcp_taxi.yaml"


@pytest.fixture
def setup(kflow, names, service_account):
    """04_gcp_kv + this test's own bucket/dataset/key + 05_gcp_setup, as a user would."""
    kv = kflow.run(FLOWS / "04_gcp_kv.yaml")
    assert kv.state == "SUCCESS", kv.failed() or kv.state
    kflow.settings(GCP_BUCKET_NAME=names["bucket"], GCP_DATASET=names["dataset"],
                   GCP_PROJECT_ID=names["project"], GCP_CREDS=json.dumps(service_account))
    res = kflow.run(FLOWS / "05_gcp_setup.yaml")
    assert res.state == "SUCCESS", res.failed() or res.state
    assert res.data["outputs"]["create_gcs_bucket"]["created"] is True
    return names


def _by_file(bq, names, table: str) -> dict[str, int]:
    sql = f"SELECT filename, COUNT(*) AS n FROM `{names['project']}.{names['dataset']}.{table}` GROUP BY filename"
    return {r["filename"]: r["n"] for r in bq.query(sql).result()}


def test_green_month_lands_in_bucket_and_table_and_rerun_adds_nothing(kflow, setup, taxi_server, gcs, bq):
    served = taxi_server.add_month("green", 2019, 1, rows=3_000, seed=11)
    first = kflow.run(TAXI, taxi="green", year="2019", month="01")
    assert first.state == "SUCCESS", first.failed() or first.state
    states = first.states()
    assert all(states[t] == "SKIPPED" for t in states if t.startswith("bq_yellow")), states
    assert first.data["outputs"]["upload_to_gcs"]["uri"] == f"gs://{setup['bucket']}/green_tripdata_2019-01.csv"

    # The CSV in the bucket is the month's file, byte for byte.
    blob = gcs.bucket(setup["bucket"]).blob("green_tripdata_2019-01.csv")
    assert blob.download_as_bytes() == gzip.decompress(served.read_bytes())
    # The month's rows in the partitioned table, typed.
    assert _by_file(bq, setup, "green_tripdata") == {"green_tripdata_2019-01.csv": 3_000}
    row = next(iter(bq.query(
        f"SELECT MIN(lpep_pickup_datetime) AS lo, MAX(lpep_pickup_datetime) AS hi, COUNT(DISTINCT unique_row_id) AS u "
        f"FROM `{setup['project']}.{setup['dataset']}.green_tripdata`").result()))
    assert row["lo"].year == 2019 and row["lo"].month == 1 and row["hi"].month == 1
    assert row["u"] == 3_000

    again = kflow.run(TAXI, taxi="green", year="2019", month="01")
    assert again.state == "SUCCESS", again.failed()
    assert _by_file(bq, setup, "green_tripdata") == {"green_tripdata_2019-01.csv": 3_000}  # MERGE added nothing

    taxi_server.add_month("green", 2019, 2, rows=700, seed=12)
    feb = kflow.run(TAXI, taxi="green", year="2019", month="02")
    assert feb.state == "SUCCESS", feb.failed()
    assert _by_file(bq, setup, "green_tripdata") == {"green_tripdata_2019-01.csv": 3_000,
                                                     "green_tripdata_2019-02.csv": 700}


def test_yellow_month_and_the_2026_flow(kflow, setup, taxi_server, bq):
    taxi_server.add_month("yellow", 2019, 3, rows=1_500, seed=13)
    res = kflow.run(TAXI, taxi="yellow", year="2019", month="03")
    assert res.state == "SUCCESS", res.failed() or res.state
    assert res.states()["purge_files"] == "SUCCESS"
    assert _by_file(bq, setup, "yellow_tripdata") == {"yellow_tripdata_2019-03.csv": 1_500}
    # The 2026 cohort's copy loads into the same tables; its MERGE finds the rows already there.
    again = kflow.run(FLOWS / "08_gcp_taxi.yaml", taxi="yellow", year="2019", month="03")
    assert again.state == "SUCCESS", again.failed()
    assert _by_file(bq, setup, "yellow_tripdata") == {"yellow_tripdata_2019-03.csv": 1_500}


def test_scheduled_flow_loads_the_trigger_month(kflow, setup, taxi_server, bq):
    taxi_server.add_month("green", 2019, 3, rows=400, seed=14)
    res = kflow.run(FLOWS / "06_gcp_taxi_scheduled.yaml", "--trigger-date", "2019-03-01T09:00:00Z",
                    "--trigger", "green_schedule")
    assert res.state == "SUCCESS", res.failed() or res.state
    assert res.data["labels"].get("file") == "green_tripdata_2019-03.csv"
    assert _by_file(bq, setup, "green_tripdata") == {"green_tripdata_2019-03.csv": 400}


def test_2026_setup_reads_the_key_from_a_secret(kflow, names, service_account, bq, gcs):
    kflow.settings(GCP_BUCKET_NAME=names["bucket"], GCP_DATASET=names["dataset"], GCP_PROJECT_ID=names["project"],
                   GCP_LOCATION="US")
    kflow.env["SECRET_GCP_CREDS"] = secret_env(json.dumps(service_account))
    res = kflow.run(FLOWS / "07_gcp_setup.yaml")
    assert res.state == "SUCCESS", res.failed() or res.state
    assert gcs.lookup_bucket(names["bucket"]) is not None
    assert bq.get_dataset(f"{names['project']}.{names['dataset']}").dataset_id == names["dataset"]
    again = kflow.run(FLOWS / "07_gcp_setup.yaml")  # ifExists: SKIP
    assert again.state == "SUCCESS", again.failed()
    assert again.data["outputs"]["create_gcs_bucket"]["created"] is False


# --- failures: the task fails with the service's message, and the key shows up nowhere ----------------

def _assert_no_key(run, kflow, sa):
    seen = run.stdout + run.stderr + kflow.everything_written()
    for fragment in key_fragments(sa):
        assert fragment not in seen


def test_missing_bucket_fails_the_upload_with_the_service_message(kflow, names, service_account, taxi_server, gcs):
    kflow.settings(GCP_BUCKET_NAME=names["bucket"], GCP_DATASET=names["dataset"], GCP_PROJECT_ID=names["project"],
                   GCP_LOCATION="US", GCP_CREDS=json.dumps(service_account))
    taxi_server.add_month("green", 2019, 4, rows=100, seed=15)
    res = kflow.run(TAXI, taxi="green", year="2019", month="04")  # 05_gcp_setup never ran
    assert res.rc == 1 and res.state == "FAILED"
    assert [t["taskId"] for t in res.failed()] == ["upload_to_gcs"]
    error = res.failed()[0]["error"]
    # The service's own message (the emulator's wording; GCS says "The specified bucket does not exist.")
    with pytest.raises(NotFound) as direct:
        gcs.bucket(names["bucket"]).blob("x.csv").upload_from_string(b"x")
    raw = direct.value.message
    said = json.JSONDecoder().raw_decode(raw[raw.index("{"):])[0]["error"]["message"]
    assert error == f"upload to gs://{names['bucket']}/green_tripdata_2019-04.csv: 404 {said}", error
    assert "bq_green_tripdata" not in res.states() or res.states()["bq_green_tripdata"] != "SUCCESS"
    _assert_no_key(res, kflow, service_account)


def test_missing_dataset_fails_the_query_with_bigquery_message(kflow, names, service_account, taxi_server, gcs):
    kflow.settings(GCP_BUCKET_NAME=names["bucket"], GCP_DATASET=names["dataset"], GCP_PROJECT_ID=names["project"],
                   GCP_LOCATION="US", GCP_CREDS=json.dumps(service_account))
    gcs.create_bucket(names["bucket"])
    taxi_server.add_month("green", 2019, 5, rows=100, seed=16)
    res = kflow.run(TAXI, taxi="green", year="2019", month="05")
    assert res.state == "FAILED"
    assert [t["taskId"] for t in res.failed()] == ["if_green_taxi", "bq_green_tripdata"]
    error = res.task("bq_green_tripdata")["error"]
    # bqemulator's wording (BigQuery's is "Not found: Dataset ..."): the service's message, passed through.
    assert error.startswith("BigQuery query: 400 ") and names["dataset"] in error and "does not exist" in error, error


@pytest.mark.parametrize("damage", ["truncated key", "not json"])
def test_bad_credentials_fail_the_first_gcp_task_without_leaking_the_key(kflow, setup, service_account,
                                                                         taxi_server, damage):
    if damage == "truncated key":
        bad = dict(service_account, private_key=service_account["private_key"][:900] + "\n-----END PRIVATE KEY-----\n")
        text, expected = json.dumps(bad), "serviceAccount: Failed to load service account credentials"
    else:
        text, expected = json.dumps(service_account)[:-40], "serviceAccount: not a JSON key file"
    kflow.settings(GCP_CREDS=text)
    taxi_server.add_month("green", 2019, 6, rows=50, seed=17)
    res = kflow.run(TAXI, taxi="green", year="2019", month="06")
    assert res.state == "FAILED"
    assert [t["taskId"] for t in res.failed()] == ["upload_to_gcs"]
    assert res.failed()[0]["error"].startswith(expected), res.failed()[0]["error"]
    _assert_no_key(res, kflow, service_account)
