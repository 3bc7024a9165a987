"""Failure paths: allowFailure, errors and finally, retries and their delays, timeouts."""

from __future__ import annotations

import os
import time
from itertools import pairwise
from pathlib import Path

from kflow.engine.state import State

HEAD = """
id: t
namespace: company.team
"""


def test_allow_failure_turns_into_warning_and_flow_continues(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    commands: ["exit 4"]
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: still here
""")
    assert r.state == State.WARNING
    assert r.run("flaky").state == State.WARNING
    assert r.run("flaky").outputs["exitCode"] == 4
    assert r.run("after").state == State.SUCCESS


def test_errors_then_finally_run_in_order_after_failure(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "broken {{ flow.id }}"
  - id: skipped
    type: io.kestra.plugin.core.log.Log
    message: never
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    message: "handling {{ execution.state }}"
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: cleanup
""")
    assert r.state == State.FAILED
    assert r.run("boom").error == "broken t"
    assert r.runs("skipped") == []
    assert [tr.taskId for tr in r.ex.taskRuns] == ["boom", "on_error", "cleanup"]
    assert r.run("on_error").branch == "errors"


def test_finally_runs_on_success_and_errors_do_not(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: ok
    type: io.kestra.plugin.core.log.Log
    message: ok
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    message: no
finally:
  - id: cleanup
    type: io.kestra.plugin.core.log.Log
    message: cleanup
""")
    assert r.state == State.SUCCESS
    assert r.runs("on_error") == []
    assert r.run("cleanup").state == State.SUCCESS


def test_failing_finally_fails_the_execution(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: ok
    type: io.kestra.plugin.core.log.Log
    message: ok
finally:
  - id: bad
    type: io.kestra.plugin.core.execution.Fail
""")
    assert r.state == State.FAILED


def test_local_errors_on_a_flowable(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: inner
        type: io.kestra.plugin.core.execution.Fail
    errors:
      - id: local_handler
        type: io.kestra.plugin.core.log.Log
        message: "inner failed"
""")
    assert r.state == State.FAILED
    assert r.run("local_handler").parentId == r.run("group").id
    assert r.run("group").state == State.FAILED


def test_retry_constant_counts_attempts_and_waits_between_them(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'if [ "{{ taskrun.attemptsCount }}" -lt 2 ]; then exit 1; fi'
    retry:
      type: constant
      interval: PT0.3S
      maxAttempts: 5
""")
    tr = r.run("flaky")
    assert r.state == State.SUCCESS
    assert [a.state for a in tr.attempts] == [State.FAILED, State.FAILED, State.SUCCESS]
    gaps = [(b.startDate - a.endDate).total_seconds() for a, b in pairwise(tr.attempts)]
    assert all(g >= 0.29 for g in gaps), gaps


def test_retry_exhausted_fails_after_max_attempts(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: always
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["exit 2"]
    retry:
      type: constant
      interval: PT0.05S
      maxAttempt: 3
""")
    assert r.state == State.FAILED
    assert len(r.run("always").attempts) == 3
    assert "exit code 2" in r.run("always").error


def test_retry_exponential_delays_grow(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: always
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["exit 1"]
    retry:
      type: exponential
      interval: PT0.1S
      maxInterval: PT1S
      maxAttempts: 4
""")
    a = r.run("always").attempts
    gaps = [(y.startDate - x.endDate).total_seconds() for x, y in pairwise(a)]
    assert len(a) == 4
    assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39, gaps


def test_warning_on_retry(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'test "{{ taskrun.attemptsCount }}" -ge 1'
    retry:
      type: constant
      interval: PT0.01S
      maxAttempts: 3
      warningOnRetry: true
""")
    assert r.state == State.WARNING
    assert len(r.run("flaky").attempts) == 2


def test_timeout_kills_the_whole_process_tree(run_flow, tmp_path: Path):
    pidfile = tmp_path / "child.pid"
    started = time.monotonic()
    r = run_flow(HEAD + f"""
tasks:
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    timeout: PT0.5S
    commands:
      - "sleep 30 & echo $! > {pidfile}"
      - "sleep 30"
""")
    took = time.monotonic() - started
    assert r.state == State.FAILED
    assert "Timeout after PT0.5S" in r.run("slow").error
    assert took < 10
    pid = int(pidfile.read_text())
    time.sleep(0.2)
    try:
        os.kill(pid, 0)
        alive = Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except ProcessLookupError:
        alive = False
    assert not alive, "the background child survived the timeout"


def test_timeout_then_retry_gives_new_attempts(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: slow
    type: io.kestra.plugin.scripts.shell.Commands
    timeout: PT0.2S
    commands: ["sleep 5"]
    retry:
      type: constant
      interval: PT0.01S
      maxAttempts: 2
""")
    assert r.state == State.FAILED
    assert len(r.run("slow").attempts) == 2


def test_non_zero_exit_fails_with_exit_code(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: bad
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["echo partial", "exit 7"]
""")
    assert r.state == State.FAILED
    assert r.run("bad").outputs["exitCode"] == 7
    assert r.run("bad").attempts[-1].exitCode is None or r.run("bad").attempts[-1].exitCode == 7
    assert "partial" in r.messages("bad")


def test_fail_task_with_condition(run_flow):
    r = run_flow(HEAD + """
inputs:
  - id: n
    type: INT
    defaults: 3
tasks:
  - id: guard
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.n > 5 }}"
    errorMessage: too big
""")
    assert r.state == State.SUCCESS
    r2 = run_flow(HEAD + """
inputs:
  - id: n
    type: INT
    defaults: 9
tasks:
  - id: guard
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.n > 5 }}"
    errorMessage: "too big: {{ inputs.n }}"
""")
    assert r2.state == State.FAILED
    assert r2.run("guard").error == "too big: 9"


def test_after_execution_sees_final_state(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
afterExecution:
  - id: notify
    type: io.kestra.plugin.core.debug.Return
    format: "{{ execution.state }}"
""")
    assert r.state == State.FAILED
    assert r.outputs("notify")["value"] == "FAILED"
