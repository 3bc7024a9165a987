"""Restart, replay, resume and kill of recorded local executions (Kestra's semantics, §8)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from clilib import REPO, execution_id, kflow, write_flow

THREE = """
id: three
namespace: test.recovery
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo first >> {log}
      - echo '::{{"outputs":{{"n":41}}}}::'
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - if [ -f {marker} ]; then echo lucky; else touch {marker}; exit 3; fi
  - id: last
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ outputs.first.vars.n + 1 }}}}"
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    message: failed once
"""


def doc(storage: Path, ex_id: str) -> dict:
    return json.loads(kflow("get", ex_id, "-o", "json", storage=storage).stdout)


def test_restart_reruns_the_failed_task_only(tmp_path):
    flow = write_flow(tmp_path, "three.yaml", THREE.format(log=tmp_path / "ran.log", marker=tmp_path / "marker"))
    storage = tmp_path / "st"
    first = kflow("run", str(flow), storage=storage)
    assert first.returncode == 1 and "ended FAILED" in first.stdout
    ex_id = execution_id(first)
    before = doc(storage, ex_id)
    assert {t["taskId"]: t["state"] for t in before["taskRuns"]} == {
        "first": "SUCCESS", "flaky": "FAILED", "on_error": "SUCCESS"}
    again = kflow("restart", ex_id, storage=storage)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"Execution {ex_id} of test.recovery.three restarted (attempt 2): re-running flaky" in again.stdout
    after = doc(storage, ex_id)
    runs = {t["taskId"]: t for t in after["taskRuns"]}
    assert after["state"] == "SUCCESS" and after["id"] == ex_id and after["attempt"] == 2
    assert set(runs) == {"first", "flaky", "last"}  # the error handler's run is gone
    assert len(runs["first"]["attempts"]) == 1 and runs["first"]["attempts"] == before["taskRuns"][0]["attempts"]
    assert [a["state"] for a in runs["flaky"]["attempts"]] == ["FAILED", "SUCCESS"]
    assert runs["last"]["outputs"] == {"value": "42"}  # computed from the kept output of `first`
    assert (tmp_path / "ran.log").read_text() == "first\n"  # `first` did not run again
    listed = kflow("list", "-o", "wide", storage=storage).stdout
    assert ex_id in listed and len(json.loads(kflow("list", "-o", "json", storage=storage).stdout)) == 1
    refused = kflow("restart", ex_id, storage=storage)
    assert refused.returncode == 1 and "ended SUCCESS: nothing to restart" in refused.stderr


def test_replay_from_a_task_reuses_what_came_before(tmp_path):
    flow = write_flow(tmp_path, "three.yaml", THREE.format(log=tmp_path / "ran.log", marker=tmp_path / "marker"))
    storage = tmp_path / "st"
    kflow("run", str(flow), storage=storage)
    (tmp_path / "marker").touch()
    old = doc(storage, "@latest")
    res = kflow("replay", old["id"], "--from", "flaky", storage=storage)
    assert res.returncode == 0, res.stdout + res.stderr
    new = doc(storage, "@latest")
    assert new["id"] != old["id"] and new["originalId"] == old["id"] and new["state"] == "SUCCESS"
    runs = {t["taskId"]: t for t in new["taskRuns"]}
    assert runs["first"]["attempts"] == old["taskRuns"][0]["attempts"]  # copied, not run
    assert len(runs["flaky"]["attempts"]) == 1 and runs["last"]["outputs"] == {"value": "42"}
    assert (tmp_path / "ran.log").read_text() == "first\n"
    assert doc(storage, old["id"])["state"] == "FAILED"  # the original is left as it was
    bad = kflow("replay", old["id"], "--from", "nope", storage=storage)
    assert bad.returncode == 1 and "has no task run 'nope'" in bad.stderr


PAUSE = """
id: waits
namespace: test.recovery
tasks:
  - id: ask
    type: io.kestra.plugin.core.flow.Pause
    onResume:
      - id: approved
        type: BOOLEAN
      - id: note
        type: STRING
        defaults: none
  - id: tell
    type: io.kestra.plugin.core.log.Log
    message: "approved={{ outputs.ask.onResume.approved }} note={{ outputs.ask.onResume.note }}"
"""


def test_resume_a_paused_run_with_on_resume_inputs(tmp_path):
    storage = tmp_path / "st"
    res = kflow("run", str(write_flow(tmp_path, "waits.yaml", PAUSE)), storage=storage)
    ex_id = execution_id(res)
    assert res.returncode == 0 and f"is PAUSED at ask: `kflow resume {ex_id}" in res.stdout, res.stdout + res.stderr
    assert doc(storage, ex_id)["state"] == "PAUSED"
    bad = kflow("resume", ex_id, "-i", "approved=maybe", storage=storage)
    assert bad.returncode == 2 and "onResume.approved" in bad.stderr and "Traceback" not in bad.stderr
    unknown = kflow("resume", ex_id, "-i", "aproved=true", storage=storage)
    assert unknown.returncode == 2 and "onResume.aproved: no such input (declared: approved, note)" in unknown.stderr
    assert doc(storage, ex_id)["state"] == "PAUSED"  # nothing half-applied
    ok = kflow("resume", ex_id, "-i", "approved=true", storage=storage)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "approved=true note=none" in kflow("logs", ex_id, "--task", "tell", storage=storage).stdout
    assert doc(storage, ex_id)["state"] == "SUCCESS"


def test_kill_a_running_and_a_paused_execution(tmp_path):
    storage = tmp_path / "st"
    paused = execution_id(kflow("run", str(write_flow(tmp_path, "waits.yaml", PAUSE)), storage=storage))
    res = kflow("kill", paused, storage=storage)
    assert res.returncode == 0 and res.stdout.strip() == f"Execution {paused} KILLED"
    assert doc(storage, paused)["state"] == "KILLED"
    flow = write_flow(tmp_path, "long.yaml", """
        id: long
        namespace: test.recovery
        tasks:
          - id: nap
            type: io.kestra.plugin.scripts.shell.Commands
            commands: ["sleep 30.0511"]
        """)
    proc = subprocess.Popen([sys.executable, "-m", "kflow.cli", "run", str(flow), "--storage", str(storage)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        listed = json.loads(kflow("list", "--state", "RUNNING", "-o", "json", storage=storage).stdout)
        if listed and any(t["state"] == "RUNNING" for t in listed[0]["taskRuns"]):
            break
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.3)
    killed = kflow("kill", listed[0]["id"], storage=storage)
    assert killed.returncode == 0 and "KILLED" in killed.stdout, killed.stderr
    proc.communicate(timeout=30)
    assert proc.returncode == 143
    again = kflow("kill", listed[0]["id"], storage=storage)
    assert again.returncode == 1 and "already ended KILLED" in again.stderr
