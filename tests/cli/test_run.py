"""`kflow run` as a user runs it: a real process, real files, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def kflow(*args: str, cwd: Path = REPO, storage: Path | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--storage", str(storage)] if storage and args and args[0] == "run" else []
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args[:1], *extra, *args[1:]], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_getting_started_prints_the_brand_table(tmp_path: Path):
    result = kflow("run", "flows/01_getting_started_data_pipeline.yaml", storage=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "ended SUCCESS" in out
    assert "brand" in out and "avg_price" in out
    for task in ("extract", "transform", "query"):
        assert f"ok {task}" in out
    # the table lists each brand of the shipped products once, the highest average first
    assert "Annibale Colombo" in out and "N/A" in out


def test_getting_started_json_and_column_input(tmp_path: Path):
    result = kflow("run", "flows/01_getting_started_data_pipeline.yaml", "--json",
                   "-i", 'columns_to_keep=["brand","price","category"]', storage=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["state"] == "SUCCESS"
    assert [t["taskId"] for t in doc["taskRuns"]] == ["extract", "transform", "query"]
    assert all(t["attempts"] == 1 and t["startDate"] and t["endDate"] for t in doc["taskRuns"])
    assert doc["outputs"]["query"]["size"] > 5
    assert doc["outputs"]["query"]["uri"].endswith(".ion")


def test_foreach_outputs_in_json_are_keyed_by_value(tmp_path: Path):
    flow = tmp_path / "loop.yaml"
    flow.write_text("""
id: loop
namespace: t
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [a, b]
    tasks:
      - id: r
        type: io.kestra.plugin.core.debug.Return
        format: "v={{ taskrun.value }}"
""")
    doc = json.loads(kflow("run", str(flow), "--json", storage=tmp_path).stdout)
    assert doc["outputs"]["r"] == {"a": {"value": "v=a"}, "b": {"value": "v=b"}}
    assert [t["value"] for t in doc["taskRuns"] if t["taskId"] == "r"] == ["a", "b"]


def test_invalid_input_exits_two_naming_the_input(tmp_path: Path):
    flow = tmp_path / "f.yaml"
    flow.write_text("""
id: f
namespace: t
inputs:
  - id: month
    type: SELECT
    values: ["01", "02"]
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.month }}"
""")
    result = kflow("run", str(flow), "-i", "month=13", storage=tmp_path)
    assert result.returncode == 2
    assert "Invalid input for `month`" in result.stderr
    assert "Traceback" not in result.stderr
    result = kflow("run", str(flow), storage=tmp_path)
    assert result.returncode == 2 and "missing required input" in result.stderr


def test_invalid_flow_exits_two_and_failed_flow_exits_one(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: f\nnamespace: t\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Nope\n")
    result = kflow("run", str(bad), storage=tmp_path)
    assert result.returncode == 2
    assert f"{bad}: tasks[0].type: Invalid type: io.kestra.plugin.core.log.Nope" in result.stderr
    failing = tmp_path / "fail.yaml"
    failing.write_text("id: f\nnamespace: t\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.execution.Fail\n")
    result = kflow("run", str(failing), storage=tmp_path)
    assert result.returncode == 1
    assert "ended FAILED" in result.stdout


def test_hello_world_manifest_with_input(tmp_path: Path):
    result = kflow("run", "flows/hello_world.yaml", "-i", "user=Ada", storage=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Hello, Ada!" in result.stdout
