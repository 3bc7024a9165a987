"""WorkingDirectory on `kflow run`: children share one folder; inputFiles, outputFiles, cache."""

from __future__ import annotations

import os
from pathlib import Path

from kflow.engine.state import State

FLOW = """
id: wd
namespace: company.team
tasks:
  - id: shared
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles:
      seed.txt: "seed-{{ inputs.tag }}"
    outputFiles:
      - "*.csv"
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - printf 'a,b\\n1,2\\n3,4\\n' > data.csv
          - cp seed.txt copy.txt
      - id: read
        type: io.kestra.plugin.scripts.python.Script
        script: |
          import csv, os
          rows = list(csv.DictReader(open("data.csv")))
          print('::{"outputs":{"rows":%d,"seed":"%s","cwd":"%s"}}::' % (len(rows), open("copy.txt").read(), os.getcwd()))
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.read.vars.rows }} rows, file {{ outputs.shared.outputFiles['data.csv'] is defined }}"
inputs:
  - {id: tag, type: STRING, defaults: x}
"""


def test_shell_writes_python_reads_in_one_directory(run_flow) -> None:
    run = run_flow(FLOW, inputs={"tag": "t1"})
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    read = run.outputs("read")["vars"]
    assert read["rows"] == 2 and read["seed"] == "seed-t1"
    assert read["cwd"].endswith("/work/shared")
    uri = run.outputs("shared")["outputFiles"]["data.csv"]
    assert uri.startswith("kestra:///company/team/wd/executions/")
    assert run.messages("after") == ["2 rows, file true"]


def test_a_failing_child_fails_the_block_and_outside_tasks_get_their_own_folder(run_flow) -> None:
    run = run_flow(FLOW.replace("cp seed.txt copy.txt", "exit 3"))
    assert run.state == State.FAILED
    assert run.run("shared").state == State.FAILED and run.runs("read") == []
    solo = run_flow("""
        id: solo
        namespace: t
        tasks:
          - {id: one, type: io.kestra.plugin.scripts.shell.Commands, commands: ["echo hi > f.txt"]}
          - {id: two, type: io.kestra.plugin.scripts.shell.Commands, commands: ["test ! -e f.txt"]}
        """)
    assert solo.state == State.SUCCESS  # outside a WorkingDirectory each task starts empty


def test_cache_is_restored_by_the_next_execution(run_flow, tmp_path: Path) -> None:
    flow = """
        id: cached
        namespace: t
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            cache:
              patterns: ["deps/**"]
              ttl: PT1H
            tasks:
              - id: build
                type: io.kestra.plugin.scripts.shell.Commands
                commands:
                  - 'if [ -f deps/lib.txt ]; then echo "::{\\"outputs\\":{\\"hit\\":true}}::"; else mkdir -p deps && echo built > deps/lib.txt && echo "::{\\"outputs\\":{\\"hit\\":false}}::"; fi'
        """
    env = {"KFLOW_HOME": str(tmp_path / "home")}
    first = run_flow(flow, env=env)
    assert first.state == State.SUCCESS and first.outputs("build")["vars"] == {"hit": False}
    assert (tmp_path / "home" / "cache" / "t" / "cached" / "wd.tar").is_file()
    second = run_flow(flow, env=env)
    assert second.outputs("build")["vars"] == {"hit": True}
    os.utime(tmp_path / "home" / "cache" / "t" / "cached" / "wd.tar", (0, 0))  # older than the ttl
    third = run_flow(flow, env=env)
    assert third.outputs("build")["vars"] == {"hit": False}
