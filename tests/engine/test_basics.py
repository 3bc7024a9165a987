"""Core behaviour of flows: sequencing, outputs, variables, expressions, inline tasks."""

from __future__ import annotations

from kflow.engine.state import State

HEAD = """
id: t
namespace: company.team
"""


def test_tasks_run_in_order_and_pass_outputs(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: first
    type: io.kestra.plugin.core.debug.Return
    format: "{{ 6 * 7 }}"
  - id: second
    type: io.kestra.plugin.core.debug.Return
    format: "answer={{ outputs.first.value }}"
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.second.value }} from {{ flow.namespace }}.{{ flow.id }}"
""")
    assert r.state == State.SUCCESS
    assert [tr.taskId for tr in r.ex.taskRuns] == ["first", "second", "say"]
    assert r.outputs("second") == {"value": "answer=42"}
    assert r.messages("say") == ["answer=42 from company.team.t"]


def test_variables_are_rendered_once_unless_render_is_used(run_flow):
    r = run_flow(HEAD + """
inputs:
  - id: taxi
    type: STRING
    defaults: green
variables:
  file: "{{ inputs.taxi }}_tripdata.csv"
  nested: "data/{{ vars.file }}"
tasks:
  - id: raw
    type: io.kestra.plugin.core.debug.Return
    format: "{{ vars.file }}"
  - id: rendered
    type: io.kestra.plugin.core.debug.Return
    format: "{{ render(vars.file) }}"
  - id: nested
    type: io.kestra.plugin.core.debug.Return
    format: "{{ render(vars.nested) }}"
""")
    assert r.outputs("raw")["value"] == "{{ inputs.taxi }}_tripdata.csv"
    assert r.outputs("rendered")["value"] == "green_tripdata.csv"
    assert r.outputs("nested")["value"] == "data/green_tripdata.csv"


def test_undefined_variable_fails_the_task_with_kestra_message(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: oops
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.nope }}"
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
""")
    assert r.state == State.FAILED
    assert r.run("oops").state == State.FAILED
    assert "Unable to find `inputs.nope`" in (r.run("oops").error or "")
    assert r.runs("never") == []


def test_null_coalescing_and_ternary(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ trigger.date ?? 'manual' }}|{{ 3 > 2 ? 'yes' : 'no' }}|{{ 'a' ~ 1 }}|{{ [1, 2] }}|{{ true }}"
""")
    assert r.outputs("r")["value"] == 'manual|yes|a1|[1,2]|true'


def test_output_values_and_flow_outputs(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values:
      rows: "42"
      nested:
        name: "{{ flow.id }}"
outputs:
  - id: count
    type: INT
    value: "{{ outputs.out['values']['rows'] }}"
""")
    assert r.state == State.SUCCESS
    assert r.outputs("out") == {"values": {"rows": "42", "nested": {"name": "t"}}}
    assert r.ex.outputs == {"count": 42}


def test_bad_flow_output_fails_execution(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: a
    type: io.kestra.plugin.core.debug.Return
    format: x
outputs:
  - id: n
    type: INT
    value: "{{ outputs.a.value }}"
""")
    assert r.state == State.FAILED
    assert "Invalid output for `n`" in (r.ex.error or "")


def test_labels_task_sets_execution_labels(run_flow):
    r = run_flow(HEAD + """
labels:
  team: data
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.Labels
    labels:
      file: "{{ flow.id }}.csv"
  - id: set_list
    type: io.kestra.plugin.core.execution.Labels
    labels:
      - key: team
        value: platform
""")
    assert r.state == State.SUCCESS
    assert r.ex.labels == {"team": "platform", "file": "t.csv", "system.correlationId": r.ex.id}


def test_labels_task_refuses_system_labels(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.Labels
    labels:
      system.correlationId: x
""")
    assert r.state == State.FAILED
    assert "reserved" in r.run("set").error


def test_old_type_aliases_still_run(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: log
    type: io.kestra.core.tasks.log.Log
    message: legacy
  - id: ret
    type: io.kestra.core.tasks.debugs.Return
    format: ok
""")
    assert r.state == State.SUCCESS
    assert r.messages("log") == ["legacy"]


def test_secret_function_reads_env_and_is_masked(run_flow):
    import base64

    token = base64.b64encode(b"s3cr3t-value").decode()
    r = run_flow(HEAD + """
tasks:
  - id: leak
    type: io.kestra.plugin.core.log.Log
    message: "token is {{ secret('API_TOKEN') }}"
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      TOKEN: "{{ secret('API_TOKEN') }}"
    commands:
      - echo "shell sees $TOKEN"
""", env={"SECRET_API_TOKEN": token})
    assert r.state == State.SUCCESS
    text = "\n".join(r.messages())
    assert "s3cr3t-value" not in text
    assert "token is ******" in text
    assert "shell sees ******" in text


def test_envs_context(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: "{{ envs.region }}"
""", env={"ENV_REGION": "eu-west"})
    assert r.outputs("r")["value"] == "eu-west"


def test_disabled_task_has_no_task_run(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: off
    type: io.kestra.plugin.core.execution.Fail
    disabled: true
  - id: on
    type: io.kestra.plugin.core.log.Log
    message: on
""")
    assert r.state == State.SUCCESS
    assert r.runs("off") == []


def test_run_if_false_is_skipped(run_flow):
    r = run_flow(HEAD + """
inputs:
  - id: taxi
    type: SELECT
    values: [yellow, green]
    defaults: green
tasks:
  - id: yellow_only
    type: io.kestra.plugin.core.execution.Fail
    runIf: "{{ inputs.taxi == 'yellow' }}"
  - id: green_only
    type: io.kestra.plugin.core.log.Log
    runIf: "{{ inputs.taxi == 'green' }}"
    message: green
""")
    assert r.state == State.SUCCESS
    assert r.run("yellow_only").state == State.SKIPPED
    assert r.run("green_only").state == State.SUCCESS


def test_plugin_defaults_list_form_prefix_match_and_task_wins(run_flow):
    r = run_flow(HEAD + """
pluginDefaults:
  - type: io.kestra.plugin.core.log
    values:
      message: from defaults
      level: WARN
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
  - id: b
    type: io.kestra.plugin.core.log.Log
    message: own message
""")
    assert r.state == State.SUCCESS
    assert r.events.logs == [("a", "WARN", "from defaults"), ("b", "WARN", "own message")]


def test_plugin_defaults_map_form_and_forced_global(run_flow):
    r = run_flow(HEAD + """
pluginDefaults:
  io.kestra.plugin.core.debug.Return:
    format: map form
tasks:
  - id: a
    type: io.kestra.plugin.core.debug.Return
  - id: b
    type: io.kestra.plugin.core.debug.Return
    format: mine
""", plugin_defaults=[{"type": "io.kestra.plugin.core.debug", "forced": True,
                       "values": {"format": "forced"}}])
    assert r.outputs("a")["value"] == "forced"
    assert r.outputs("b")["value"] == "forced"
    r2 = run_flow(HEAD + """
pluginDefaults:
  io.kestra.plugin.core.debug.Return:
    format: map form
tasks:
  - id: a
    type: io.kestra.plugin.core.debug.Return
""")
    assert r2.outputs("a")["value"] == "map form"
