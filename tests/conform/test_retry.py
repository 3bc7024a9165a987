"""Point 1: retry on every task (core tasks evaluated by the engine too), flow-level retry,
CREATE_NEW_EXECUTION as new executions, warningOnRetry, and 1 attempt for a core task."""

from __future__ import annotations

import time
from itertools import pairwise

from kflow.engine.state import State

HEAD = """
id: retrying
namespace: conform.tests
"""


def test_core_task_reports_one_attempt(chain):
    r = chain(HEAD + """
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: hi
  - id: give
    type: io.kestra.plugin.core.debug.Return
    format: "x"
""")
    assert r.state == State.SUCCESS
    assert len(r.run("say").attempts) == 1
    assert len(r.run("give").attempts) == 1
    assert r.run("give").attempts[0].state == State.SUCCESS


def test_fail_task_is_retried_with_its_delays(chain):
    started = time.monotonic()
    r = chain(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    retry: {type: constant, interval: PT0.2S, maxAttempts: 3}
""")
    assert r.state == State.FAILED
    tr = r.run("boom")
    assert len(tr.attempts) == 3
    assert [a.state for a in tr.attempts] == [State.FAILED] * 3
    gaps = [(b.startDate - a.startDate).total_seconds() for a, b in pairwise(tr.attempts)]
    assert all(g >= 0.19 for g in gaps), gaps
    assert time.monotonic() - started >= 0.38


def test_retried_core_task_can_succeed_with_warning_on_retry(chain):
    # Fail only while attemptsCount < 2: the third attempt succeeds, warningOnRetry marks it WARNING.
    r = chain(HEAD + """
tasks:
  - id: flaky
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ taskrun.attemptsCount < 2 }}"
    retry: {type: constant, interval: PT0.05S, maxAttempts: 5, warningOnRetry: true}
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "after {{ tasks.flaky.state }}"
""")
    assert r.run("flaky").state == State.WARNING
    assert len(r.run("flaky").attempts) == 3
    assert r.state == State.WARNING
    assert r.messages("after") == ["after WARNING"]


def test_flow_level_retry_failed_task(chain):
    r = chain(HEAD + """
retry: {behavior: RETRY_FAILED_TASK, type: constant, interval: PT0.05S, maxAttempt: 4}
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
""")
    assert r.state == State.FAILED
    assert len(r.run("boom").attempts) == 4
    assert r.retried == []


def test_flow_level_retry_duration_bounds_attempts(chain):
    # interval 0.2s, maxDuration 0.5s: attempts at 0, 0.2 and 0.4s, the next (0.6s) is past the bound.
    r = chain(HEAD + """
retry: {type: constant, interval: PT0.2S, maxDuration: PT0.5S}
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
""")
    assert r.state == State.FAILED
    assert len(r.run("boom").attempts) == 3


def test_task_retry_create_new_execution(chain):
    r = chain(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    retry: {behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT0.1S, maxAttempts: 3}
""")
    assert r.states == ["RETRIED", "RETRIED", "FAILED"]
    ids = {e.id for e in r.retried} | {r.ex.id}
    assert len(ids) == 3
    assert [len(e.taskRuns[0].attempts) for e in [*r.retried, r.ex]] == [1, 1, 1]
    assert r.ex.attempt == 3 and r.ex.originalId == r.retried[0].id
    first = r.retried[0].labels["system.correlationId"]
    assert all(e.labels["system.correlationId"] == first for e in [*r.retried, r.ex])


def test_flow_retry_create_new_execution(chain):
    r = chain(HEAD + """
retry: {behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT0.1S, maxAttempt: 2}
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
""")
    assert r.states == ["RETRIED", "FAILED"]


def test_create_new_execution_stops_once_one_succeeds(chain, tmp_path):
    marker = tmp_path / "seen"
    r = chain(HEAD + f"""
tasks:
  - id: once
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
    commands: ["if [ -e {marker} ]; then exit 0; else touch {marker}; exit 1; fi"]
    retry: {{behavior: CREATE_NEW_EXECUTION, type: constant, interval: PT0.1S, maxAttempts: 5}}
""")
    assert r.states == ["RETRIED", "SUCCESS"]
