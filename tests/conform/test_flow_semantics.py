"""Points 2-5 and 7: Switch, flow outputs, allowWarning, sla, system labels, as Kestra runs them."""

from __future__ import annotations

import json

from kflow.engine.state import State

HEAD = """
id: semantics
namespace: conform.tests
"""

SWITCH = HEAD + """
inputs:
  - id: pick
    type: STRING
tasks:
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.pick }}"
    cases:
      red:
        - id: on_red
          type: io.kestra.plugin.core.log.Log
          message: red
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after
"""


def test_switch_without_match_or_defaults_fails_the_execution(chain):
    r = chain(SWITCH, {"pick": "blue"})
    assert r.state == State.FAILED
    assert r.run("route").state == State.FAILED
    assert "blue" in (r.run("route").error or "")
    assert r.runs("after") == []


def test_switch_outputs_include_defaults(chain):
    flow = SWITCH.replace("  - id: after\n", """    defaults:
      - id: other
        type: io.kestra.plugin.core.log.Log
        message: "other {{ outputs.route.defaults }}"
  - id: after
""")
    r = chain(flow, {"pick": "blue"})
    assert r.state == State.SUCCESS
    assert r.outputs("route") == {"value": "blue", "defaults": True}
    assert r.messages("other") == ["other true"]
    r = chain(flow, {"pick": "red"})
    assert r.outputs("route") == {"value": "red", "defaults": False}


OUTPUTS = HEAD + """
tasks:
  - id: values
    type: io.kestra.plugin.core.output.OutputValues
    values:
      colour: teal
      sizes: [1, 2]
outputs:
  - id: asText
    type: STRING
    value: "{{ outputs.values }}"
  - id: listText
    type: STRING
    value: "{{ outputs.values['values'].sizes }}"
  - id: missing
    type: STRING
    required: false
    value: "{{ outputs.nothere.value }}"
afterExecution:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "{{ execution.state }} {{ execution.outputs.listText }}"
"""


def test_flow_outputs_json_text_optional_null_and_after_execution(chain):
    r = chain(OUTPUTS)
    assert r.state == State.SUCCESS, r.ex.error
    assert json.loads(r.ex.outputs["asText"]) == {"values": {"colour": "teal", "sizes": [1, 2]}}
    assert r.ex.outputs["listText"] == "[1,2]"
    assert r.ex.outputs["missing"] is None
    assert r.messages("report") == ["SUCCESS [1,2]"]


def test_required_output_that_cannot_render_fails(chain):
    r = chain(OUTPUTS.replace("    required: false\n", ""))
    assert r.state == State.FAILED
    assert "missing" in r.ex.error


def test_allow_warning_on_runnable_and_flowable(chain):
    r = chain(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    allowFailure: true
    allowWarning: true
    retry: {type: constant, interval: PT0.01S, maxAttempts: 2}
  - id: group
    type: io.kestra.plugin.core.flow.Sequential
    allowFailure: true
    allowWarning: true
    tasks:
      - id: inner
        type: io.kestra.plugin.core.execution.Fail
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: reached
""")
    assert r.state == State.SUCCESS
    assert r.run("boom").state == State.SUCCESS
    assert len(r.run("boom").attempts) == 2
    assert r.run("group").state == State.SUCCESS
    assert r.run("inner").state == State.FAILED
    assert r.messages("last") == ["reached"]


def test_sla_max_duration_fail_kills_and_labels(chain):
    r = chain(HEAD + """
sla:
  - id: quick
    type: MAX_DURATION
    behavior: FAIL
    duration: PT0.3S
    labels: {sla: missed}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT5S
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
""")
    assert r.state == State.FAILED
    assert r.ex.labels["sla"] == "missed"
    assert "quick" in r.ex.error
    assert r.runs("never") == []
    assert (r.ex.endDate - r.ex.startDate).total_seconds() < 3


def test_sla_max_duration_cancel_and_none(chain):
    flow = HEAD + """
sla:
  - id: quick
    type: MAX_DURATION
    behavior: CANCEL
    duration: PT0.2S
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.6S
"""
    assert chain(flow).state == State.CANCELLED
    r = chain(flow.replace("CANCEL", "NONE") + "labels: {}\n")
    assert r.state == State.SUCCESS


def test_sla_execution_assertion(chain):
    flow = HEAD + """
sla:
  - id: checked
    type: EXECUTION_ASSERTION
    behavior: CANCEL
    assert: "{{ outputs.give.value == 'ok' }}"
    labels: [{key: audit, value: failed}]
tasks:
  - id: give
    type: io.kestra.plugin.core.debug.Return
    format: nope
"""
    r = chain(flow)
    assert r.state == State.CANCELLED
    assert r.ex.labels["audit"] == "failed"
    assert chain(flow.replace("format: nope", "format: ok")).state == State.SUCCESS


def test_every_execution_has_a_correlation_id(chain):
    r = chain(HEAD + """
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ labels['system.correlationId'] }}"
""")
    assert r.ex.labels["system.correlationId"] == r.ex.id
    assert r.messages("show") == [r.ex.id]


def test_error_logs_in_errors_handler(chain):
    r = chain(HEAD + """
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: "disk {{ flow.id }} full"
errors:
  - id: report
    type: io.kestra.plugin.core.log.Log
    message: "{{ errorLogs()[0].taskId }}: {{ errorLogs()[0].message }}"
""")
    assert r.state == State.FAILED
    assert r.messages("report") == ["boom: disk semantics full"]
