"""The pure pieces behind FILE inputs and namespace files on the cluster: what pods mount and stage."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from kflow.errors import InputsInvalid
from kflow.k8s import file_inputs
from kflow.k8s.config import OperatorConfig
from kflow.k8s.resources import task_pod
from kflow.model.loader import load_flow_text
from kflow.runner.storage import ExecutionStorage
from kflow.tasks import nsfiles

FLOW = load_flow_text("""
id: f
namespace: company.team
inputs:
  - id: data
    type: FILE
  - id: other
    type: FILE
  - id: name
    type: STRING
tasks:
  - id: t
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ inputs.data }}"
""", "f.yaml").flow

EXECUTION = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Execution",
             "metadata": {"name": "e1", "namespace": "ns1", "uid": "u1"}}


def test_plan_values_volume_and_worker_entries():
    entries = file_inputs.plan(FLOW, {"data": {"configMapKeyRef": {"name": "cm", "key": "sales.csv"}},
                                      "other": {"url": "https://example.com/dir/x%20y.parquet"}})
    storage = ExecutionStorage(Path("/kflow/storage"), "company.team", "f", "e1")
    assert file_inputs.input_values(entries, storage) == {
        "data": "kestra:///company/team/f/executions/e1/inputs/data/sales.csv",
        "other": "kestra:///company/team/f/executions/e1/inputs/other/x%20y.parquet"}
    assert file_inputs.volume(entries) == {"name": "kflow-inputs", "projected": {"sources": [
        {"configMap": {"name": "cm", "items": [{"key": "sales.csv", "path": "inputs/data/sales.csv"}]}}]}}
    assert file_inputs.worker_entries(entries) == [
        {"path": "inputs/data/sales.csv", "mount": "/kflow/inputs/inputs/data/sales.csv"},
        {"path": "inputs/other/x y.parquet", "url": "https://example.com/dir/x%20y.parquet"}]


def test_a_file_of_the_parent_execution_is_read_from_its_volume_read_only():
    from kflow.k8s import subflows

    parent_prefix = ExecutionStorage(Path("/s"), "company.team", "p", "p1").prefix
    manifest = {"spec": {"inputs": {"data": f"kestra://{parent_prefix}tasks/each/each/batch-0.txt",
                                    "name": f"kestra://{parent_prefix}x.txt", "other": "kestra:///elsewhere/y"}}}
    subflows.hand_files(manifest, {"spec": {"inputs": [{"id": i.id, "type": i.type} for i in FLOW.inputs]}},
                        "p1", parent_prefix)
    # FILE inputs holding the parent's URIs become volume reads; a STRING keeps the URI as text
    assert manifest["spec"]["inputsFrom"] == {
        "data": {"executionFile": {"execution": "p1", "path": "tasks/each/each/batch-0.txt"}}}
    assert manifest["spec"]["inputs"] == {"name": f"kestra://{parent_prefix}x.txt", "other": "kestra:///elsewhere/y"}
    entries = file_inputs.plan(FLOW, manifest["spec"]["inputsFrom"])
    assert file_inputs.worker_entries(entries) == [
        {"path": "inputs/data/batch-0.txt", "mount": "/kflow/executions/p1/tasks/each/each/batch-0.txt"}]
    assert file_inputs.execution_volumes(entries) == [
        ({"name": "kflow-execution-p1", "persistentVolumeClaim": {"claimName": "p1-storage", "readOnly": True}},
         "/kflow/executions/p1")]


@pytest.mark.parametrize("inputs_from,message", [
    ({"name": {"url": "http://x/y"}}, "names no FILE input"),
    ({"nope": {"url": "http://x/y"}}, "names no FILE input"),
    ({"data": {"url": "http://x/y", "secretKeyRef": {"name": "s", "key": "k"}}}, "exactly one of"),
    ({"data": {"executionFile": {"execution": "p", "path": "tasks/../../other/x"}}}, "a path inside its storage"),
])
def test_plan_rejects(inputs_from, message):
    with pytest.raises(InputsInvalid, match=message):
        file_inputs.plan(FLOW, inputs_from)


def test_task_pod_mounts_extra_volumes_read_only_where_the_worker_runs():
    task = FLOW.tasks[0]
    vol = {"name": "kflow-inputs", "projected": {"sources": []}}
    pod = task_pod(EXECUTION, flow_name="f", task=task, task_run_id="t", attempt=1, worker_spec={"workdir": "/w"},
                   timeout=None, config=OperatorConfig(), extra_volumes=[(vol, file_inputs.MOUNT)])
    assert vol in pod["spec"]["volumes"]
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "kflow-inputs", "mountPath": "/kflow/inputs", "readOnly": True} in mounts


def test_stage_copies_once_and_names_the_input_on_failure(tmp_path):
    src = tmp_path / "mnt" / "inputs" / "data" / "a.csv"
    src.parent.mkdir(parents=True)
    src.write_text("x")
    entry = {"path": "inputs/data/a.csv", "mount": str(src)}
    file_inputs.stage([entry], str(tmp_path / "root"))
    assert (tmp_path / "root" / "inputs" / "data" / "a.csv").read_text() == "x"
    src.write_text("changed")
    file_inputs.stage([entry], str(tmp_path / "root"))  # already there: kept
    assert (tmp_path / "root" / "inputs" / "data" / "a.csv").read_text() == "x"
    from kflow.errors import TaskFailed

    with pytest.raises(TaskFailed, match="FILE input data: cannot stage it"):
        file_inputs.stage([{"path": "inputs/data/b.csv", "mount": str(tmp_path / "none")}], str(tmp_path / "root"))
    assert not list((tmp_path / "root" / "inputs" / "data").glob(".*part"))


def test_namespace_config_maps_round_trip_through_projected_sources(tmp_path):
    (tmp_path / "sql").mkdir()
    (tmp_path / "sql" / "q 1.sql").write_text("select 1")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\xff\x00")
    (tmp_path / "skip.tmp").write_text("no")
    maps = nsfiles.config_maps("company.team", tmp_path, exclude=["*.tmp"])
    assert len(maps) == 1
    cm = maps[0]
    assert cm["metadata"]["labels"] == {nsfiles.LABEL: "company.team"}
    paths = json.loads(cm["metadata"]["annotations"][nsfiles.PATHS_ANNOTATION])
    assert sorted(paths.values()) == ["logo.png", "sql/q 1.sql"]
    key = next(k for k, v in paths.items() if v == "sql/q 1.sql")
    assert cm["data"][key] == "select 1" and "/" not in key and " " not in key
    assert base64.b64decode(cm["binaryData"]["logo.png"]) == b"\x89PNG\xff\x00"
    cm["metadata"]["name"] = "kflow-nsfiles-company-team-0"
    (source,) = nsfiles.projected_sources(maps)
    assert sorted(i["path"] for i in source["configMap"]["items"]) == ["logo.png", "sql/q 1.sql"]


def test_namespace_files_split_into_several_config_maps(tmp_path, monkeypatch):
    monkeypatch.setattr(nsfiles, "CHUNK", 10)
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_text("123456")
    maps = nsfiles.config_maps("ns", tmp_path)
    assert [len(m["data"]) for m in maps] == [1, 1, 1]
    assert len({m["metadata"]["name"] for m in maps}) == 3
    (tmp_path / "big.txt").write_text("x" * 11)
    with pytest.raises(ValueError, match=r"big\.txt: 11 bytes, more than a ConfigMap holds"):
        nsfiles.config_maps("ns", tmp_path)


def test_select_reads_a_kubelet_style_configmap_volume(tmp_path):
    """A kubelet writes `..<timestamp>/`, `..data` and symlinks to them: the files are found once."""
    import os

    (tmp_path / "..2026_12_02" / "scripts").mkdir(parents=True)
    (tmp_path / "..2026_12_02" / "scripts" / "a.sh").write_text("x")
    (tmp_path / "..2026_12_02" / "top.txt").write_text("x")
    os.symlink("..2026_12_02", tmp_path / "..data")
    os.symlink("..data/scripts", tmp_path / "scripts")
    os.symlink("..data/top.txt", tmp_path / "top.txt")
    assert nsfiles.select(tmp_path, None, None) == ["scripts/a.sh", "top.txt"]
    assert nsfiles.select(tmp_path, ["scripts/*"], None) == ["scripts/a.sh"]
