"""The pre-0.13 io.kestra.core.tasks.scripts.{Bash,Python,Node} with their old property names."""

from __future__ import annotations

from kflow.engine.state import State

FLOW = """
id: legacy
namespace: t
tasks:
  - id: bash
    type: io.kestra.core.tasks.scripts.Bash
    interpreter: /bin/bash
    interpreterArgs: ["-c"]
    exitOnFailed: true
    outputsFiles: [first.txt]
    commands:
      - echo "hello" > first.txt
      - '[[ -n "$BASH_VERSION" ]] && echo "::{\\"outputs\\":{\\"shell\\":\\"bash\\"}}::"'
  - id: py
    type: io.kestra.core.tasks.scripts.Python
    requirements: [requests]
    virtualEnv: true
    args: [world]
    inputFiles:
      data.txt: "{{ outputs.bash.outputFiles['first.txt'] }}"
      main.py: |
        import sys
        from kestra import Kestra
        print("noise")
        Kestra.outputs({"greeting": open("data.txt").read().strip() + " " + sys.argv[1]})
  - id: node
    type: io.kestra.core.tasks.scripts.Node
    inputFiles:
      main.js: |
        console.log('::' + JSON.stringify({outputs: {sum: 40 + 2}}) + '::');
"""


def test_old_bash_python_node_run_with_their_old_properties(run_flow) -> None:
    run = run_flow(FLOW)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    assert run.outputs("bash")["vars"] == {"shell": "bash"}
    assert "first.txt" in run.outputs("bash")["outputFiles"]
    py = run.outputs("py")
    assert py["vars"] == {"greeting": "hello world"} and py["stdOutLineCount"] == 2
    assert run.outputs("node")["vars"] == {"sum": 42}


def test_exit_on_failed_false_keeps_going(run_flow) -> None:
    run = run_flow("""
        id: legacy2
        namespace: t
        tasks:
          - id: bash
            type: io.kestra.core.tasks.scripts.Bash
            exitOnFailed: false
            commands: ["false", "echo still here"]
        """)
    assert run.state == State.SUCCESS
    assert "still here" in run.messages("bash")
