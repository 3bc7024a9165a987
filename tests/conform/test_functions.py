"""Point 11: read(), fileExists(), outputFiles globs (wcmatch), date(..., locale=) (babel)."""

from __future__ import annotations

from kflow.engine.state import State

FLOW = """
id: files
namespace: conform.tests
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner: {type: io.kestra.plugin.core.runner.Process}
    outputFiles: ["out/**/*.{csv,json}", "data[0-9].txt"]
    commands:
      - mkdir -p out/deep/er
      - echo "a,b" > out/deep/er/x.csv
      - echo 1 > out/y.json
      - echo skip > out/z.txt
      - echo three > data3.txt
      - echo no > dataX.txt
  - id: show
    type: io.kestra.plugin.core.log.Log
    message:
      - "{{ read(outputs.make.outputFiles['out/deep/er/x.csv']) | trim }}"
      - "{{ fileExists(outputs.make.outputFiles['data3.txt']) }}"
      - "{{ read('notes/hello.txt') | trim }}"
      - "{{ fileExists('notes/missing.txt') }}"
      - "{{ '2024-03-05T10:00:00Z' | date('EEEE d MMMM', locale='fr') }}"
      - "{{ '2024-03-05T10:00:00Z' | date('EEE d MMM', locale='de') }}"
"""


def test_read_file_exists_globs_and_locale(chain, tmp_path):
    ns = tmp_path / "nsfiles"
    (ns / "notes").mkdir(parents=True)
    (ns / "notes" / "hello.txt").write_text("hello from the namespace\n")
    r = chain(FLOW, env={"KFLOW_NAMESPACE_FILES": str(ns)})
    assert r.state == State.SUCCESS, [(t.taskId, t.error) for t in r.ex.taskRuns]
    assert sorted(r.outputs("make")["outputFiles"]) == ["data3.txt", "out/deep/er/x.csv", "out/y.json"]
    assert r.messages("show") == ["a,b", "true", "hello from the namespace", "false", "mardi 5 mars",
                                  "Di. 5 März"]


def test_read_refuses_files_of_other_flows(chain):
    r = chain(FLOW.replace("- id: make", "- id: unused").split("  - id: show")[0] + """  - id: peek
    type: io.kestra.plugin.core.log.Log
    message: "{{ read('kestra:///other/flow/executions/x/secret.txt') }}"
""")
    assert r.state == State.FAILED
    assert "only files of this flow's executions and namespace" in r.run("peek").error
