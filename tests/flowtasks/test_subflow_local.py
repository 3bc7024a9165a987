"""Subflow on `kflow run`: a child execution in the same storage, found among the flow files."""

from __future__ import annotations

import textwrap
from pathlib import Path

from kflow.engine.state import State
from kflow.history import LocalHistory

CHILD = """
id: child
namespace: company.team
labels:
  team: data
inputs:
  - {id: n, type: INT}
tasks:
  - id: double
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.n * 2 }}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.n > 100 }}"
    errorMessage: too big
  - id: who
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.flowId }}/{{ labels.origin ?? '-' }}/{{ labels.stage ?? '-' }}"
outputs:
  - id: doubled
    type: INT
    value: "{{ outputs.double.value }}"
"""

PARENT = """
id: parent
namespace: company.team
labels:
  stage: dev
inputs:
  - {id: n, type: INT, defaults: 21}
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: child
    inputs:
      n: "{{ inputs.n }}"
    labels:
      origin: parent
    inheritLabels: true
  - id: use
    type: io.kestra.plugin.core.log.Log
    message: "child said {{ outputs.call.outputs.doubled }}"
"""


def _write(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(textwrap.dedent(text))


def test_parent_waits_for_child_and_uses_its_outputs(run_flow, tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    run = run_flow(PARENT)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    out = run.outputs("call")
    assert out["state"] == "SUCCESS" and out["outputs"] == {"doubled": 42}
    assert run.messages("use") == ["child said 42"]
    assert len(out["executionId"]) == 22 and out["executionId"] != run.ex.id


def test_child_failure_is_transmitted_unless_told_not_to(run_flow, tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    run = run_flow(PARENT, inputs={"n": 500})
    assert run.state == State.FAILED
    call = run.run("call")
    assert call.state == State.FAILED and call.outputs["state"] == "FAILED"
    assert f"subflow execution {call.outputs['executionId']} ended FAILED" in (call.error or "")
    assert run.runs("use") == []
    relaxed = run_flow(PARENT.replace("inheritLabels: true", "inheritLabels: true\n    transmitFailed: false"),
                       inputs={"n": 500})
    assert relaxed.state == State.SUCCESS
    assert relaxed.outputs("call")["state"] == "FAILED"


def test_labels_trigger_and_history_of_the_child(tmp_path: Path) -> None:
    import subprocess
    import sys

    _write(tmp_path, "child.yaml", CHILD)
    _write(tmp_path, "parent.yaml", PARENT)
    storage = tmp_path / "st"
    res = subprocess.run([sys.executable, "-m", "kflow.cli", "run", "--storage", str(storage),
                          str(tmp_path / "parent.yaml")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "[call.double]" in res.stdout or "call" in res.stdout
    records = LocalHistory(storage).list_executions(flow="company.team.child")
    assert len(records) == 1
    child = records[0].execution
    parent = LocalHistory(storage).list_executions(flow="company.team.parent")[0].execution
    assert child.labels["origin"] == "parent" and child.labels["stage"] == "dev" and child.labels["team"] == "data"
    assert child.labels["system.correlationId"] == parent.id
    assert child.trigger["executionId"] == parent.id
    who = next(t for t in child.taskRuns if t.taskId == "who")
    assert who.outputs["value"] == "parent/parent/dev"


def test_no_wait_unknown_flow_and_runtime_recursion(run_flow, tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    run = run_flow(PARENT.replace("inheritLabels: true", "wait: false").replace(
        "child said {{ outputs.call.outputs.doubled }}", "started {{ outputs.call.executionId | length }}"))
    assert run.state == State.SUCCESS
    assert set(run.outputs("call")) == {"executionId"}
    assert run.messages("use") == ["started 22"]
    missing = run_flow(PARENT.replace("flowId: child", "flowId: nowhere"))
    assert missing.state == State.FAILED
    assert "flow company.team.nowhere not found among the flow files of" in (missing.run("call").error or "")
    _write(tmp_path, "ping.yaml", """
        id: ping
        namespace: company.team
        tasks:
          - {id: to_pong, type: io.kestra.plugin.core.flow.Subflow, namespace: company.team, flowId: pong}
        """)
    _write(tmp_path, "pong.yaml", """
        id: pong
        namespace: company.team
        tasks:
          - {id: to_ping, type: io.kestra.plugin.core.flow.Subflow, namespace: company.team, flowId: ping}
        """)
    looped = run_flow((tmp_path / "ping.yaml").read_text())
    assert looped.state == State.FAILED
    assert "recursive subflow: company.team.ping -> company.team.pong -> company.team.ping" in \
        (looped.run("to_pong").error or "")
