"""Flowable tasks evaluated by the engine: If, Switch, Parallel, Sequential, ForEach, Sleep, Pause."""

from __future__ import annotations

import time
from itertools import pairwise

from kflow.engine.state import State

HEAD = """
id: t
namespace: company.team
"""


def test_if_takes_then_or_else(run_flow):
    flow = HEAD + """
inputs:
  - id: n
    type: INT
tasks:
  - id: check
    type: io.kestra.plugin.core.flow.If
    condition: "{{ inputs.n > 10 }}"
    then:
      - id: big
        type: io.kestra.plugin.core.debug.Return
        format: big
    else:
      - id: small
        type: io.kestra.plugin.core.debug.Return
        format: small
"""
    r = run_flow(flow, {"n": "42"})
    assert r.state == State.SUCCESS
    assert r.outputs("check") == {"evaluationResult": True}
    assert r.runs("small") == [] and r.run("big").state == State.SUCCESS
    r = run_flow(flow, {"n": "1"})
    assert r.outputs("check") == {"evaluationResult": False}
    assert r.runs("big") == [] and r.run("small").state == State.SUCCESS


def test_switch_matches_case_or_defaults(run_flow):
    flow = HEAD + """
inputs:
  - id: taxi
    type: STRING
tasks:
  - id: route
    type: io.kestra.plugin.core.flow.Switch
    value: "{{ inputs.taxi }}"
    cases:
      yellow:
        - id: y
          type: io.kestra.plugin.core.log.Log
          message: yellow
      green:
        - id: g
          type: io.kestra.plugin.core.log.Log
          message: green
    defaults:
      - id: other
        type: io.kestra.plugin.core.log.Log
        message: other
"""
    assert run_flow(flow, {"taxi": "green"}).messages() == ["green"]
    assert run_flow(flow, {"taxi": "fhv"}).messages() == ["other"]


def test_parallel_runs_children_at_the_same_time(run_flow):
    started = time.monotonic()
    r = run_flow(HEAD + """
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: a
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.6"]
      - id: b
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.6"]
      - id: c
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.6"]
""")
    took = time.monotonic() - started
    assert r.state == State.SUCCESS
    assert took < 1.6, took
    windows = [(r.run(x).attempts[0].startDate, r.run(x).attempts[0].endDate) for x in "abc"]
    assert max(s for s, _ in windows) < min(e for _, e in windows), "children did not overlap"


def test_parallel_concurrent_limit_serialises(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    concurrent: 1
    tasks:
      - id: a
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.2"]
      - id: b
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.2"]
""")
    a, b = r.run("a").attempts[0], r.run("b").attempts[0]
    assert b.startDate >= a.endDate


def test_parallel_child_failure_fails_the_group(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: fan
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: ok
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.2"]
      - id: bad
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["exit 1"]
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: never
""")
    assert r.state == State.FAILED
    assert r.run("fan").state == State.FAILED
    assert r.run("ok").state == State.SUCCESS
    assert r.runs("after") == []


def test_foreach_outputs_are_keyed_by_value(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["yellow", "green"]
    tasks:
      - id: file
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}_tripdata.csv"
  - id: pick
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.file['green'].value }}"
""")
    assert r.state == State.SUCCESS
    assert [tr.value for tr in r.runs("file")] == ["yellow", "green"]
    assert r.outputs("pick")["value"] == "green_tripdata.csv"


def test_foreach_sequential_by_default_and_concurrent_with_limit_zero(run_flow):
    loop = HEAD + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2, 3]
    concurrencyLimit: {limit}
    tasks:
      - id: nap
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.4"]
"""
    seq = run_flow(loop.replace("{limit}", "1"))
    runs = sorted(seq.runs("nap"), key=lambda tr: tr.attempts[0].startDate)
    assert all(b.attempts[0].startDate >= a.attempts[0].endDate for a, b in pairwise(runs))
    par = run_flow(loop.replace("{limit}", "0"))
    spans = [(tr.attempts[0].startDate, tr.attempts[0].endDate) for tr in par.runs("nap")]
    assert max(s for s, _ in spans) < min(e for _, e in spans)


def test_nested_foreach_parent_value_and_json_values(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: months
    type: io.kestra.plugin.core.flow.ForEach
    values: ["01", "02"]
    tasks:
      - id: taxis
        type: io.kestra.plugin.core.flow.ForEach
        values: ["yellow", "green"]
        tasks:
          - id: key
            type: io.kestra.plugin.core.debug.Return
            format: "{{ taskrun.value }}-{{ parent.taskrun.value }}"
  - id: objects
    type: io.kestra.plugin.core.flow.ForEach
    values: [{"name": "a", "n": 1}, {"name": "b", "n": 2}]
    tasks:
      - id: obj
        type: io.kestra.plugin.core.debug.Return
        format: "{{ fromJson(taskrun.value).name }}"
  - id: pick
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.key['02']['green'].value }}"
""")
    assert r.state == State.SUCCESS
    assert sorted(tr.outputs["value"] for tr in r.runs("key")) == \
        ["green-01", "green-02", "yellow-01", "yellow-02"]
    assert [tr.outputs["value"] for tr in r.runs("obj")] == ["a", "b"]
    assert r.outputs("pick")["value"] == "green-02"
    assert len({tr.id for tr in r.ex.taskRuns}) == len(r.ex.taskRuns)


def test_foreach_values_from_an_expression(run_flow):
    r = run_flow(HEAD + """
inputs:
  - id: months
    type: ARRAY
    itemType: STRING
    defaults: ["01", "02", "03"]
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: "{{ inputs.months }}"
    tasks:
      - id: m
        type: io.kestra.plugin.core.debug.Return
        format: "{{ taskrun.value }}"
""")
    assert [tr.outputs["value"] for tr in r.runs("m")] == ["01", "02", "03"]


def test_foreach_failure_stops_new_iterations(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["a", "b", "c"]
    tasks:
      - id: f
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{ taskrun.value == 'b' }}"
""")
    assert r.state == State.FAILED
    assert [tr.value for tr in r.runs("f")] == ["a", "b"]


def test_sleep_waits(run_flow):
    started = time.monotonic()
    r = run_flow(HEAD + """
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT0.4S
""")
    assert r.state == State.SUCCESS
    assert time.monotonic() - started >= 0.39


def test_pause_with_duration_pauses_then_resumes(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0.3S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
""")
    assert r.state == State.SUCCESS
    assert State.PAUSED in [h.state for h in r.ex.histories]
    assert r.run("after").startDate >= r.run("wait").startDate
    assert (r.run("wait").endDate - r.run("wait").startDate).total_seconds() >= 0.29
