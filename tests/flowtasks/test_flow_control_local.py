"""Dag, Exit and Assert on `kflow run`."""

from __future__ import annotations

from kflow.engine.state import State

DAG = """
id: dag
namespace: t
inputs:
  - {id: fail_b, type: BOOLEAN, defaults: false}
tasks:
  - id: graph
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: report, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.a.vars.n + outputs.b.value | number }}"}
        dependsOn: [a, b]
      - task:
          id: a
          type: io.kestra.plugin.scripts.shell.Commands
          commands: ["sleep 0.3", "echo '::{\\"outputs\\":{\\"n\\":40}}::'"]
      - task: {id: b, type: io.kestra.plugin.core.debug.Return, format: "2"}
      - task: {id: b_fails, type: io.kestra.plugin.core.execution.Fail, condition: "{{ inputs.fail_b }}"}
        dependsOn: [b]
"""


def test_dag_runs_dependencies_first_and_independent_tasks_together(run_flow) -> None:
    run = run_flow(DAG)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    assert run.outputs("report") == {"value": "42"}
    a, b, report = run.run("a"), run.run("b"), run.run("report")
    assert b.endDate <= a.endDate  # b did not wait for a
    assert report.startDate >= a.endDate and report.startDate >= b.endDate


def test_dag_failure_stops_dependents(run_flow) -> None:
    run = run_flow(DAG.replace("dependsOn: [a, b]", "dependsOn: [a, b_fails]"), inputs={"fail_b": True})
    assert run.state == State.FAILED
    assert run.run("b_fails").state == State.FAILED
    assert run.runs("report") == []


def test_exit_ends_the_execution_in_its_state(run_flow) -> None:
    flow = """
        id: ex
        namespace: t
        inputs:
          - {id: how, type: STRING, defaults: WARNING}
        tasks:
          - id: gate
            type: io.kestra.plugin.core.flow.If
            condition: "{{ inputs.how != 'CONTINUE' }}"
            then:
              - {id: stop, type: io.kestra.plugin.core.execution.Exit, state: "{{ inputs.how }}"}
              - {id: never, type: io.kestra.plugin.core.log.Log, message: never}
          - {id: after, type: io.kestra.plugin.core.log.Log, message: after}
        """
    warned = run_flow(flow)
    assert warned.state == State.WARNING and warned.runs("never") == [] and warned.runs("after") == []
    cancelled = run_flow(flow, inputs={"how": "CANCELED"})
    assert cancelled.state == State.CANCELLED
    assert run_flow(flow, inputs={"how": "CONTINUE"}).messages("after") == ["after"]
    killed = run_flow("""
        id: ex2
        namespace: t
        tasks:
          - id: par
            type: io.kestra.plugin.core.flow.Parallel
            tasks:
              - {id: slow, type: io.kestra.plugin.scripts.shell.Commands, commands: ["sleep 30"]}
              - {id: stop, type: io.kestra.plugin.core.execution.Exit, state: KILLED}
        """)
    assert killed.state == State.KILLED and killed.run("slow").state == State.KILLED
    assert (killed.run("slow").endDate - killed.run("slow").startDate).total_seconds() < 10


def test_assert_lists_the_conditions_that_failed(run_flow) -> None:
    run = run_flow("""
        id: as
        namespace: t
        inputs:
          - {id: n, type: INT, defaults: 5}
        tasks:
          - id: check
            type: io.kestra.plugin.core.execution.Assert
            conditions:
              - "{{ inputs.n > 1 }}"
              - "{{ inputs.n > 10 }}"
              - "{{ inputs.n is even }}"
        """)
    assert run.state == State.FAILED
    assert run.run("check").error == "2 assertion(s) failed: `{{ inputs.n > 10 }}`, `{{ inputs.n is even }}`"
    assert run_flow(run.ex.flowId and """
        id: as
        namespace: t
        tasks:
          - {id: check, type: io.kestra.plugin.core.execution.Assert, conditions: ["{{ 2 > 1 }}"]}
        """).state == State.SUCCESS


WAITFOR = """
id: wf
namespace: t
inputs:
  - {id: target, type: INT, defaults: 3}
tasks:
  - id: poll
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.ret.value | number >= inputs.target }}"
    failOnMaxReached: true
    checkFrequency:
      interval: PT0.1S
      maxIterations: 5
    tasks:
      - id: ret
        type: io.kestra.plugin.core.debug.Return
        format: "{{ outputs.poll.iterationCount ?? 0 }}"
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.poll.iterationCount }} {{ outputs.ret.value }}"
"""


def test_waitfor_repeats_until_the_condition_holds(run_flow) -> None:
    run = run_flow(WAITFOR)
    assert run.state == State.SUCCESS
    assert run.messages("done") == ["4 3"]
    rets = run.runs("ret")
    assert len(rets) == 4 and (rets[-1].startDate - rets[0].startDate).total_seconds() >= 0.3
    capped = run_flow(WAITFOR, inputs={"target": 50})
    assert capped.state == State.FAILED and capped.run("poll").outputs == {"iterationCount": 5}


def test_loop_item_is_visible_at_any_depth(run_flow) -> None:
    run = run_flow("""
        id: loop
        namespace: t
        tasks:
          - id: loop
            type: io.kestra.plugin.core.flow.Loop
            values: ["north", "south"]
            concurrencyLimit: 0
            tasks:
              - id: gate
                type: io.kestra.plugin.core.flow.If
                condition: "{{ item.index >= 0 }}"
                then:
                  - {id: ret, type: io.kestra.plugin.core.debug.Return, format: "{{ item.index }}={{ item.value }}"}
          - id: byname
            type: io.kestra.plugin.core.flow.Loop
            values: {a: 1, b: 2}
            tasks:
              - {id: pair, type: io.kestra.plugin.core.debug.Return, format: "{{ item.key }}:{{ item.value }}"}
        """)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    assert sorted(t.outputs["value"] for t in run.runs("ret")) == ["0=north", "1=south"]
    assert sorted(t.outputs["value"] for t in run.runs("pair")) == ["a:1", "b:2"]
