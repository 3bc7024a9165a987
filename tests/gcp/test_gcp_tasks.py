"""Every GCS and BigQuery task on its own, in flows of this test that set their properties directly
(credentials through pluginDefaults and `secret()`), against the emulators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gcp_support import key_fragments, secret_env
from google.api_core.exceptions import NotFound

from kflow.tasks.ion import read_rows

pytestmark = [pytest.mark.gcp, pytest.mark.timeout(900)]

DEFAULTS = """
pluginDefaults:
  - type: io.kestra.plugin.gcp
    values:
      projectId: kflow-test
      serviceAccount: "{{ secret('GCP_SA') }}"
"""

MAKE_CSV = """
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    outputFiles: [people.csv]
    commands:
      - printf 'id,name\\n1,ann\\n2,bob\\n' > people.csv
"""


@pytest.fixture
def run(kflow, service_account):
    kflow.env["SECRET_GCP_SA"] = secret_env(json.dumps(service_account))

    def go(name: str, tasks: str):
        flow = kflow.home / f"{name}.yaml"
        flow.write_text(f"id: {name}\nnamespace: kflow.test\ntasks:{tasks}{DEFAULTS}")
        res = kflow.run(flow)
        for fragment in key_fragments(service_account):
            assert fragment not in res.stdout + res.stderr + kflow.everything_written()
        return res

    return go


def _stored(kflow, uri: str) -> Path:
    return kflow.home / "storage" / uri.removeprefix("kestra:///")


def test_gcs_tasks(run, kflow, names, gcs):
    b = names["bucket"]
    res = run("gcs_tasks", MAKE_CSV + f"""
  - id: bucket
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    name: {b}
    storageClass: STANDARD
  - id: bucket_again
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    name: {b}
    ifExists: SKIP
  - id: upload
    type: io.kestra.plugin.gcp.gcs.Upload
    from: "{{{{ outputs.make.outputFiles['people.csv'] }}}}"
    to: gs://{b}/dir/people.csv
    contentType: text/csv
  - id: upload_keep_name
    type: io.kestra.plugin.gcp.gcs.Upload
    from: "{{{{ outputs.make.outputFiles['people.csv'] }}}}"
    to: gs://{b}/other/
  - id: list_dir
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://{b}/dir/
  - id: list_all
    type: io.kestra.plugin.gcp.gcs.List
    from: gs://{b}/
    listingType: RECURSIVE
    filter: FILES
  - id: download
    type: io.kestra.plugin.gcp.gcs.Download
    from: gs://{b}/dir/people.csv
  - id: delete
    type: io.kestra.plugin.gcp.gcs.Delete
    uri: gs://{b}/dir/people.csv
  - id: delete_again
    type: io.kestra.plugin.gcp.gcs.Delete
    uri: gs://{b}/dir/people.csv
""")
    assert res.state == "SUCCESS", res.failed() or res.state
    out = res.data["outputs"]
    assert out["bucket"]["created"] is True and out["bucket"]["bucketUri"] == f"gs://{b}"
    assert out["bucket_again"]["created"] is False
    assert out["upload"]["uri"] == f"gs://{b}/dir/people.csv"
    assert out["upload_keep_name"]["uri"].startswith(f"gs://{b}/other/") and \
        out["upload_keep_name"]["uri"].endswith("people.csv")
    assert [x["name"] for x in out["list_dir"]["blobs"]] == ["dir/people.csv"]
    assert out["list_dir"]["blobs"][0]["size"] == 20
    assert sorted(x["uri"] for x in out["list_all"]["blobs"]) == sorted(
        [f"gs://{b}/dir/people.csv", out["upload_keep_name"]["uri"]])
    assert _stored(kflow, out["download"]["uri"]).read_text() == "id,name\n1,ann\n2,bob\n"
    assert out["delete"] == {"uri": f"gs://{b}/dir/people.csv", "deleted": True}
    assert out["delete_again"]["deleted"] is False
    assert gcs.bucket(b).get_blob("dir/people.csv") is None


def test_gcs_failures_name_the_object(run, names, gcs):
    gcs.create_bucket(names["bucket"])
    res = run("gcs_missing", f"""
  - id: delete
    type: io.kestra.plugin.gcp.gcs.Delete
    uri: gs://{names['bucket']}/nothing.csv
    errorOnMissing: true
""")
    assert res.state == "FAILED"
    assert res.task("delete")["error"].startswith(f"delete of gs://{names['bucket']}/nothing.csv: 404 "), \
        res.task("delete")["error"]
    res = run("gcs_exists", f"""
  - id: bucket
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    name: {names['bucket']}
""")
    assert res.state == "FAILED"
    assert res.task("bucket")["error"] == f"bucket {names['bucket']}: already exists (ifExists: ERROR)"


def test_bigquery_tasks(run, kflow, names, bq):
    ds, b = names["dataset"], names["bucket"]
    table = f"kflow-test.{ds}"
    res = run("bq_tasks", MAKE_CSV + f"""
  - id: dataset
    type: io.kestra.plugin.gcp.bigquery.CreateDataset
    name: {ds}
    description: test dataset
  - id: dataset_again
    type: io.kestra.plugin.gcp.bigquery.CreateDataset
    name: {ds}
    ifExists: SKIP
  - id: table
    type: io.kestra.plugin.gcp.bigquery.CreateTable
    dataset: {ds}
    table: people
    tableDefinition:
      schema:
        fields:
          - {{name: id, type: INT64}}
          - {{name: name, type: STRING}}
  - id: load
    type: io.kestra.plugin.gcp.bigquery.Load
    from: "{{{{ outputs.make.outputFiles['people.csv'] }}}}"
    destinationTable: {ds}.people
    format: CSV
    csvOptions:
      skipLeadingRows: 1
  - id: bucket
    type: io.kestra.plugin.gcp.gcs.CreateBucket
    name: {b}
  - id: upload
    type: io.kestra.plugin.gcp.gcs.Upload
    from: "{{{{ outputs.make.outputFiles['people.csv'] }}}}"
    to: gs://{b}/people.csv
  - id: load_gcs
    type: io.kestra.plugin.gcp.bigquery.LoadFromGcs
    from:
      - gs://{b}/people.csv
    destinationTable: {table}.people_gcs
    format: CSV
    csvOptions:
      skipLeadingRows: 1
    schema:
      fields:
        - {{name: id, type: INT64}}
        - {{name: name, type: STRING}}
  - id: fetch
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchType: FETCH
    sql: SELECT id, name FROM `{table}.people` ORDER BY id
  - id: one
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchOne: true
    sql: SELECT COUNT(*) AS n, MAX(name) AS last FROM `{table}.people_gcs`
  - id: store
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchType: STORE
    sql: SELECT id, name, DATE '2019-01-31' AS day FROM `{table}.people` ORDER BY id
  - id: append
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: SELECT id * 10 AS id, name FROM `{table}.people`
    destinationTable: {ds}.copy
    writeDisposition: WRITE_APPEND
  - id: append_again
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: SELECT id * 10 AS id, name FROM `{table}.people`
    destinationTable: {ds}.copy
    writeDisposition: WRITE_APPEND
  - id: count_copy
    type: io.kestra.plugin.gcp.bigquery.Query
    fetchType: FETCH_ONE
    sql: SELECT COUNT(*) AS n, SUM(id) AS total FROM `{table}.copy`
  - id: drop_copy
    type: io.kestra.plugin.gcp.bigquery.DeleteTable
    dataset: {ds}
    table: copy
  - id: drop_dataset
    type: io.kestra.plugin.gcp.bigquery.DeleteDataset
    name: {ds}
    deleteContents: true
""")
    assert res.state == "SUCCESS", res.failed() or res.state
    out = res.data["outputs"]
    assert out["dataset"]["dataset"] == ds and out["dataset"]["description"] == "test dataset"
    assert out["table"]["table"] == "people"
    assert out["load"]["rows"] == 2 and out["load"]["destinationTable"]["table"] == "people"
    assert out["load_gcs"]["rows"] == 2
    assert out["fetch"]["rows"] == [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}]
    assert out["fetch"]["size"] == 2
    assert out["one"]["row"] == {"n": 2, "last": "bob"}
    assert out["store"]["size"] == 2 and out["store"]["uri"].endswith(".ion")
    ion = _stored(kflow, out["store"]["uri"])
    assert ion.read_text().splitlines()[0] == '{"id":1,"name":"ann","day":2019-01-31}'  # an Ion date
    assert [r["name"] for r in read_rows(ion)] == ["ann", "bob"]
    assert out["append"]["destinationTable"] == {"project": "kflow-test", "dataset": ds, "table": "copy"}
    assert out["count_copy"]["row"] == {"n": 4, "total": 60}
    with pytest.raises(NotFound):
        bq.get_dataset(f"kflow-test.{ds}")


def test_bigquery_failures_carry_bigquery_messages(run, names, bq):
    ds = names["dataset"]
    bq.create_dataset(f"kflow-test.{ds}")
    bq.query(f"CREATE TABLE `kflow-test.{ds}.t` AS SELECT 1 AS a").result()
    res = run("bq_fail", f"""
  - id: write_empty
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: SELECT 2 AS a
    destinationTable: {ds}.t
    writeDisposition: WRITE_EMPTY
""")
    assert res.state == "FAILED"
    assert res.task("write_empty")["error"].startswith(f"BigQuery query: 409 Already Exists: Table kflow-test:{ds}.t"), \
        res.task("write_empty")["error"]
    res = run("bq_fail2", """
  - id: bad_sql
    type: io.kestra.plugin.gcp.bigquery.Query
    sql: SELEC 1
""")
    assert res.state == "FAILED"
    assert res.task("bad_sql")["error"].startswith("BigQuery query: 400 "), res.task("bad_sql")["error"]
