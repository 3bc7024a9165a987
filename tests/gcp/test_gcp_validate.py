"""Validation of the GCP tasks: the zoomcamp flows are valid as they are, and every GCP property they
use rejects a bad value with `path: message` (no emulator needed)."""

from __future__ import annotations

import subprocess

import yaml
from gcp_support import FLOWS, kflow_cmd

from kflow.model.loader import load_flow_file

GCP_FLOWS = ["04_gcp_kv.yaml", "05_gcp_setup.yaml", "06_gcp_taxi.yaml", "06_gcp_taxi_scheduled.yaml",
             "06_gcp_kv.yaml", "07_gcp_setup.yaml", "08_gcp_taxi.yaml", "09_gcp_taxi_scheduled.yaml"]


def test_zoomcamp_gcp_flows_validate_unchanged():
    res = subprocess.run([*kflow_cmd(), "validate", "-v", *(str(FLOWS / f) for f in GCP_FLOWS)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(": valid") == len(GCP_FLOWS), res.stdout


def test_plugin_default_bucket_is_dropped_where_the_task_has_no_such_property():
    # pluginDefaults give every io.kestra.plugin.gcp task `bucket`; Upload and Query have none (Kestra
    # injects defaults leniently), while the same property written on the task itself is an error.
    flow = load_flow_file(FLOWS / "06_gcp_taxi.yaml").flow
    upload = next(t for t in flow.tasks if t.id == "upload_to_gcs")
    assert upload.serviceAccount == "{{kv('GCP_CREDS')}}" and upload.projectId == "{{kv('GCP_PROJECT_ID')}}"
    assert not hasattr(upload, "bucket")


def _task_properties() -> list[tuple[str, str, str, object]]:
    """(file, task id, property, value) of every GCP task property in the zoomcamp flows."""
    out = []
    for name in GCP_FLOWS:
        raw = yaml.safe_load((FLOWS / name).read_text())

        def walk(tasks, name=name):
            for t in tasks or []:
                if t["type"].startswith("io.kestra.plugin.gcp."):
                    out.extend((name, t["id"], k, v) for k, v in t.items() if k not in ("id", "type"))
                walk(t.get("then"), name)
                walk(t.get("else"), name)
        walk(raw["tasks"])
        for d in raw.get("pluginDefaults") or []:
            out.extend((name, "<defaults>", k, v) for k, v in d["values"].items())
    return out


def _flow(task: str) -> str:
    return "id: bad\nnamespace: zoomcamp\ntasks:\n" + task


CASES = [
    ("  - {id: b, type: io.kestra.plugin.gcp.gcs.CreateBucket, name: x, ifExists: MAYBE}",
     "tasks[0].ifExists", "must be one of ERROR, UPDATE, SKIP, got 'MAYBE'"),
    ("  - {id: b, type: io.kestra.plugin.gcp.gcs.CreateBucket, name: x, storageClass: SHINY}",
     "tasks[0].storageClass", "must be one of REGIONAL, MULTI_REGIONAL, NEARLINE"),
    ("  - {id: b, type: io.kestra.plugin.gcp.gcs.CreateBucket, ifExists: SKIP}",
     "tasks[0].name", "required property is missing"),
    ("  - {id: d, type: io.kestra.plugin.gcp.bigquery.CreateDataset, name: x, ifExists: yes}",
     "tasks[0].ifExists", "must be one of ERROR, UPDATE, SKIP"),
    ("  - {id: u, type: io.kestra.plugin.gcp.gcs.Upload, to: 'gs://b/x'}",
     "tasks[0].from", "required property is missing"),
    ("  - {id: u, type: io.kestra.plugin.gcp.gcs.Upload, from: x, to: 'gs://b/x', bucket: b}",
     "tasks[0].bucket", 'Unrecognized field "bucket"'),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query}",
     "tasks[0].sql", "required property is missing"),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, writeDisposition: WRITE_SOMETIMES}",
     "tasks[0].writeDisposition", "must be one of WRITE_TRUNCATE, WRITE_APPEND, WRITE_EMPTY"),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, createDisposition: CREATE_MAYBE}",
     "tasks[0].createDisposition", "must be one of CREATE_IF_NEEDED, CREATE_NEVER"),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, fetchType: ALL}",
     "tasks[0].fetchType", "must be one of NONE, FETCH, FETCH_ONE, STORE, got 'ALL'"),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, dryRun: perhaps}",
     "tasks[0].dryRun", "must be true, false or an expression, got 'perhaps'"),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, jobTimeout: 5 minutes}",
     "tasks[0].jobTimeout", ""),
    ("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x, serviceAccount: [a]}",
     "tasks[0].serviceAccount", ""),
    ("  - {id: l, type: io.kestra.plugin.gcp.bigquery.LoadFromGcs, from: ['gs://b/x'], destinationTable: d.t,"
     " format: XLS}", "tasks[0].format", "must be one of CSV, JSON, AVRO, PARQUET, ORC"),
    ("  - {id: t, type: io.kestra.plugin.gcp.bigquery.DeleteTable, dataset: d}",
     "tasks[0].table", "required property is missing"),
    ("  - {id: u, type: io.kestra.plugin.gcp.gcs.Upload, from: x}",
     "tasks[0].to", "required property is missing"),
    ("  - {id: d, type: io.kestra.plugin.gcp.bigquery.CreateDataset, name: x, location: {eu: 1}}",
     "tasks[0].location", "string"),
    ("  - {id: d, type: io.kestra.plugin.gcp.bigquery.CreateDataset, name: [x]}",
     "tasks[0].name", "string"),
    ("  - {id: u, type: io.kestra.plugin.gcp.gcs.Upload, from: x, to: 'gs://b/x', projectId: 12}",
     "tasks[0].projectId", "string"),
    ("  - {id: l, type: io.kestra.plugin.gcp.gcs.List, from: 'gs://b/', listingType: DEEP}",
     "tasks[0].listingType", "must be one of DIRECTORY, RECURSIVE"),
]


def test_every_gcp_property_of_the_flows_has_a_bad_value_case():
    used = {prop for _, _, prop, _ in _task_properties()}
    covered = {path.split(".")[-1] for _, path, _ in CASES}
    # `bucket` is a default no task of these flows declares (dropped); the rest are checked below.
    assert used <= covered, used - covered


def test_invalid_property_gives_path_and_message(tmp_path):
    files = []
    for i, (task, _, _) in enumerate(CASES):
        files.append(tmp_path / f"bad{i}.yaml")
        files[-1].write_text(_flow(task))
    res = subprocess.run([*kflow_cmd(), "validate", *map(str, files)], capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out
    for f, (task, path, message) in zip(files, CASES, strict=True):
        lines = [ln for ln in out.splitlines() if ln.startswith(f"{f}: {path}: ")]
        assert lines, f"{task}: nothing for {path} in\n{out}"
        assert message in lines[0], lines[0]


def test_expressions_are_accepted_where_an_enum_is_expected(tmp_path):
    flow = tmp_path / "ok.yaml"
    flow.write_text(_flow("  - {id: q, type: io.kestra.plugin.gcp.bigquery.Query, sql: x,"
                          " writeDisposition: \"{{ 'WRITE_APPEND' }}\", dryRun: \"{{ true }}\"}"))
    res = subprocess.run([*kflow_cmd(), "validate", str(flow)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
