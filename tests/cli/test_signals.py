"""Ctrl-C on `kflow run`: the task processes die, the execution ends KILLED (recorded), afterExecution runs,
and no working directory is left behind; a second Ctrl-C exits at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from clilib import REPO, kflow, write_flow

FLOW = """
id: sleepy
namespace: test.signals
tasks:
  - id: before
    type: io.kestra.plugin.core.log.Log
    message: starting
  - id: nap
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - {command}
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not reached
afterExecution:
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after {{{{ execution.state }}}}"
"""


def processes_with(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd and "pytest" not in cmd:
            found.append(int(pid))
    return found


def start(tmp_path: Path, command: str, marker: str) -> tuple[subprocess.Popen[str], Path]:
    flow = write_flow(tmp_path, "sleepy.yaml", FLOW.format(command=command))
    storage = tmp_path / "storage"
    proc = subprocess.Popen([sys.executable, "-m", "kflow.cli", "run", str(flow), "--storage", str(storage)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    deadline = time.monotonic() + 120
    while not processes_with(marker):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the task never started"
        time.sleep(0.1)
    return proc, storage


def test_ctrl_c_kills_the_task_and_ends_killed(tmp_path):
    marker = "sleep 30.0417"
    proc, storage = start(tmp_path, marker, marker)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 5, "kflow took more than 5 s to stop"
    assert not processes_with(marker)
    assert proc.returncode == 130, out + err
    assert "ended KILLED" in out and "SIGINT: killing the execution" in err
    assert not list(storage.rglob(".wd-*"))
    doc = json.loads(kflow("get", "@latest", "-o", "json", storage=storage).stdout)
    states = {t["taskId"]: t["state"] for t in doc["taskRuns"]}
    assert doc["state"] == "KILLED" and doc["live"] is False
    assert states == {"before": "SUCCESS", "nap": "KILLED", "after": "SUCCESS"}  # `never` never created
    logs = kflow("logs", "@latest", "--no-timestamps", storage=storage).stdout
    assert "execution WARN  execution killed by SIGINT" in logs and "after INFO  after KILLED" in logs


def test_sigterm_then_sigkill_for_a_task_that_ignores_sigterm(tmp_path):
    marker = "sleep 30.0419"
    proc, storage = start(tmp_path, f"trap '' TERM; {marker}; echo surv''ived", marker)
    proc.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert 2.5 < took < 5, f"the grace period before SIGKILL is 3 s, took {took:.1f}s"
    assert proc.returncode == 143 and not processes_with(marker) and "survived" not in out.replace("surv''ived", "")
    assert json.loads(kflow("get", "@latest", "-o", "json", storage=storage).stdout)["state"] == "KILLED"


def test_second_ctrl_c_exits_at_once(tmp_path):
    marker = "sleep 30.0423"
    proc, _ = start(tmp_path, f"trap '' TERM; {marker}", marker)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 1.5 and proc.returncode == 130
    assert not processes_with(marker)
