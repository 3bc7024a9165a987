"""Points 6, 8, 9, 10, 12: loops over nulls and concurrent failures, deprecated properties, messages,
static checks and `kflow validate` (warnings, CronTrigger manifests), with flows of our own."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kflow.engine.state import State
from kflow.errors import FlowInvalid
from kflow.model.loader import load_flow_text

HEAD = """
id: language
namespace: conform.tests
"""


def test_foreach_over_null_fails_with_kestras_message(chain):
    r = chain(HEAD + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: '["a", null, {"k": [1, true]}]'
    tasks:
      - id: inner
        type: io.kestra.plugin.core.log.Log
        message: "{{ taskrun.value }}"
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: after
""")
    assert r.state == State.FAILED
    assert [tr.taskId for tr in r.ex.taskRuns] == ["each"]
    assert r.run("each").error == "Found '1' null values on Each, with values=[a, null, {k=[1, true]}]"


@pytest.mark.parametrize("loop", [
    "type: io.kestra.plugin.core.flow.ForEach\n    concurrencyLimit: 2\n    values",
    "type: io.kestra.plugin.core.flow.EachParallel\n    value",
])
def test_concurrent_iterations_keep_starting_after_a_failure(chain, loop):
    r = chain(HEAD + f"""
tasks:
  - id: each
    {loop}: ["bad", "b", "c", "d"]
    tasks:
      - id: check
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{{{ taskrun.value == 'bad' }}}}"
""")
    assert r.state == State.FAILED
    assert sorted(tr.value for tr in r.runs("check")) == ["b", "bad", "c", "d"]
    assert [tr.state for tr in r.runs("check")].count(State.SUCCESS) == 3


def test_sequential_foreach_stops_at_the_failure(chain):
    r = chain(HEAD + """
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: ["bad", "b"]
    tasks:
      - id: check
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{ taskrun.value == 'bad' }}"
""")
    assert [tr.value for tr in r.runs("check")] == ["bad"]


def test_when_is_read_as_run_if_and_pause_tasks_run_after_the_pause(chain):
    r = chain(HEAD + """
tasks:
  - id: skipped
    type: io.kestra.plugin.core.log.Log
    when: "{{ 1 == 2 }}"
    message: never
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0.1S
    tasks:
      - id: after_pause
        type: io.kestra.plugin.core.log.Log
        message: resumed
  - id: cached
    type: io.kestra.plugin.core.debug.Return
    format: x
    taskCache: {enabled: true, ttl: PT1H}
""")
    assert r.state == State.SUCCESS
    assert r.run("skipped").state == State.SKIPPED
    assert r.messages("after_pause") == ["resumed"]
    assert r.run("after_pause").startDate >= r.run("wait").startDate
    assert r.run("wait").state == State.SUCCESS


def _problems(text: str) -> list[str]:
    with pytest.raises(FlowInvalid) as info:
        load_flow_text(textwrap.dedent(text), "f.yaml")
    return [str(p) for p in info.value.problems]


def test_invalid_children_do_not_cascade_into_empty_lists():
    problems = _problems(HEAD + """
tasks:
  - id: group
    type: io.kestra.plugin.core.flow.Parallel
    tasks:
      - id: bad
        type: io.kestra.plugin.core.log.Log
""")
    assert problems == ["tasks[0].tasks[0].message: required property is missing"]


def test_every_problem_in_one_pass_each_once():
    problems = _problems(HEAD + """
tasks:
  - id: twice
    type: io.kestra.plugin.core.log.Log
  - id: twice
    type: io.kestra.plugin.core.debug.Return
    format: x
  - id: other
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.user-name }}"
inputs:
  - id: user-name
    type: STRING
    defaults: me
""")
    assert "tasks[0].message: required property is missing" in problems
    assert "tasks: Duplicate task id with name [twice]" in problems
    assert any(p.startswith("tasks[2].message: `inputs.user-name` is read as a subtraction") for p in problems)
    assert len(problems) == len(set(problems)) == 3


def _validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kflow.cli", "validate", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


def test_validate_warns_with_file_and_path(tmp_path):
    f = tmp_path / "legacy.yaml"
    f.write_text(textwrap.dedent(HEAD + """
inputs:
  - id: who
    type: STRING
    default: world
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.who }} {{ outputs.ghost.value ?? '' }} {{ inputs.nobody ?? '' }}"
  - id: cached
    type: io.kestra.plugin.core.debug.Return
    format: x
    taskCache: {enabled: true}
"""))
    r = _validate(f)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""  # no library warning with a source line
    lines = r.stdout.splitlines()
    assert f"{f}: warning: inputs[0].default: `default` is not a Kestra property (Kestra rejects it): " \
           "read as `defaults`" in lines
    assert f"{f}: warning: tasks[0].message: `outputs.ghost`: no task has the id `ghost`" in lines
    assert f"{f}: warning: tasks[0].message: `inputs.nobody`: the flow declares no input `nobody`" in lines
    assert any(ln.startswith(f"{f}: warning: tasks[1].taskCache: accepted, but kflow does not cache") for ln in lines)


def test_validate_checks_crontrigger_manifests_with_the_scheduler_parser(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: kflow.dev/v1alpha1\nkind: CronTrigger\nmetadata: {name: ok}\n"
                    "spec:\n  flowRef: {name: hello}\n  cron: '@daily'\n  timezone: Europe/Paris\n")
    assert _validate(good).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: kflow.dev/v1alpha1\nkind: CronTrigger\nmetadata: {name: ko}\n"
                   "spec:\n  flowRef: {name: hello}\n  cron: '0 0 31 2 *'\n")
    r = _validate(bad)
    assert r.returncode == 1
    assert r.stdout.strip() == f"{bad}: spec.cron: cron expression '0 0 31 2 *' never matches a date"


def test_schedule_validation_uses_the_scheduler_cron():
    from kflow.schedule.cron import Cron, CronError

    for cron in ("0 0 30 2 *", "60 * * * *", "* * * 13 *"):
        with pytest.raises(CronError) as scheduler:
            Cron(cron)
        problems = _problems(HEAD + f"""
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: x
triggers:
  - id: s
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "{cron}"
""")
        assert problems == [f"triggers[0].cron: {scheduler.value}"]


@pytest.mark.parametrize(("expr", "expected"), [
    ("{{ {'a': [3, 1, 2]} | jq('.a | sort | map(. * 10)') | first }}", "[10,20,30]"),
    ("{{ '[{\"n\": \"x\", \"v\": 1}, {\"n\": \"y\", \"v\": 5}]' | jq('map(select(.v > 2)) | .[0].n') | first }}",
     "y"),
    ("{{ {'k': 'v'} | jq('to_entries | .[0] | \"\\\\(.key)=\\\\(.value)\"') | first }}", "k=v"),
    ("{{ {'a': 1, 'b': 2} | jq('[.[]] | add') | first }}", "3"),
])
def test_jq_is_the_full_language(expr, expected):
    from kflow.expr import Renderer

    assert Renderer().render(expr, {}) == expected
