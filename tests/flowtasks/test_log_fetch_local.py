"""log.Fetch on `kflow run`: the execution's own log lines from a level up, as an Ion file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FLOW = """
id: fetch
namespace: t
tasks:
  - id: noisy
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo all good
      - echo 'bad thing' >&2
  - id: warn
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: careful
  - id: logs
    type: io.kestra.plugin.core.log.Fetch
    level: WARN
  - id: only_noisy
    type: io.kestra.plugin.core.log.Fetch
    level: INFO
    tasksId: [noisy]
"""


def test_fetch_returns_the_lines_from_its_level(tmp_path: Path) -> None:
    (tmp_path / "f.yaml").write_text(FLOW)
    res = subprocess.run([sys.executable, "-m", "kflow.cli", "run", "--storage", str(tmp_path / "st"), "--json",
                          str(tmp_path / "f.yaml")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["outputs"]["logs"]["size"] == 2
    from kflow.history import LocalHistory

    record = LocalHistory(tmp_path / "st").get(doc["id"])
    rows = [json.loads(line) for line in record_path(tmp_path, doc, "logs").read_text().splitlines()]
    assert [(r["level"], r["message"], r["taskId"]) for r in rows] == [("ERROR", "bad thing", "noisy"),
                                                                        ("WARN", "careful", "warn")]
    noisy = [json.loads(x) for x in record_path(tmp_path, doc, "only_noisy").read_text().splitlines()]
    assert {r["taskId"] for r in noisy} == {"noisy"} and "all good" in {r["message"] for r in noisy}
    assert record.execution.state.value == "SUCCESS"


def record_path(tmp_path: Path, doc: dict, task: str) -> Path:
    uri = doc["outputs"][task]["uri"]
    return tmp_path / "st" / "t" / "fetch" / "executions" / doc["id"] / uri.split(f"/{doc['id']}/", 1)[1]
