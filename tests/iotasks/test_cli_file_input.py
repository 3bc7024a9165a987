"""`kflow run -i data=@file` as a user types it: the file reaches a DuckDB query; bad files exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FLOW = """
id: cli_file
namespace: demo.io
inputs:
  - id: data
    type: FILE
    allowedFileExtensions: [.csv]
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      in.csv: "{{ inputs.data }}"
    sql: SELECT max(v) AS top FROM read_csv_auto('{{ workingDir }}/in.csv')
    fetchType: FETCH_ONE
"""


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kflow.cli", "run", "flow.yaml", "--storage", str(tmp_path / "s"),
                           *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)


def test_at_path_plain_path_and_file_uri(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "v.csv").write_text("k,v\na,3\nb,9\n")
    for value in ("@d/v.csv", "d/v.csv", f"file://{tmp_path}/d/v.csv"):
        res = _run(tmp_path, "--json", "-i", f"data={value}")
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["outputs"]["q"]["row"] == {"top": 9}
        assert doc["inputs"]["data"].endswith(f"/executions/{doc['id']}/inputs/data/v.csv")


def test_missing_and_wrong_extension_exit_2_with_one_line(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    (tmp_path / "notes.txt").write_text("x")
    missing = _run(tmp_path, "-i", "data=@nope.csv")
    assert missing.returncode == 2
    assert f"inputs.data: Invalid input for `data`, file not found: {tmp_path}/nope.csv" in missing.stderr
    wrong = _run(tmp_path, "-i", "data=@notes.txt")
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert "it must have one of the extensions `[.csv]`, but received `notes.txt`" in wrong.stderr
