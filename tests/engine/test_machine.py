"""The pure state machine driven by hand: what a runner sees between steps (no processes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kflow.engine.machine import Engine, StartTaskRun, TaskRunResult
from kflow.engine.state import State
from kflow.expr import Renderer
from kflow.model.flow import parse_flow

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _shell(task_id: str) -> dict:
    return {"id": task_id, "type": "io.kestra.plugin.scripts.shell.Commands", "commands": ["true"]}


def _starts(actions: list) -> dict[str, StartTaskRun]:
    return {a.run_id: a for a in actions if isinstance(a, StartTaskRun)}


def _done(start: StartTaskRun, state: State = State.SUCCESS, **vars_: object) -> TaskRunResult:
    return TaskRunResult(start.run_id, start.attempt, state, {"vars": vars_, "exitCode": 0})


def test_a_running_task_context_does_not_change_when_siblings_finish():
    flow = parse_flow({"id": "f", "namespace": "t", "tasks": [
        {"id": "both", "type": "io.kestra.plugin.core.flow.Parallel", "tasks": [_shell("a"), _shell("b")]},
        _shell("after")]})
    engine = Engine(flow, Renderer())
    ex = engine.create_execution("e1", {}, T0)
    starts = _starts(engine.step(ex, T0))
    assert set(starts) == {"a", "b"}
    b_context = starts["b"].context
    engine.apply(ex, _done(starts["a"], rows=7), T0 + timedelta(seconds=1))
    assert engine.step(ex, T0 + timedelta(seconds=1)) == []
    # b was handed its context before a finished: it renders with the world as it was then.
    assert "a" not in b_context["outputs"]
    assert b_context["tasks"]["a"] == {"state": "RUNNING"}
    engine.apply(ex, _done(starts["b"]), T0 + timedelta(seconds=2))
    after = _starts(engine.step(ex, T0 + timedelta(seconds=2)))["after"]
    assert after.context["outputs"]["a"]["vars"] == {"rows": 7}
    assert after.context["tasks"]["both"] == {"state": "SUCCESS"}
    engine.apply(ex, _done(after), T0 + timedelta(seconds=3))
    engine.step(ex, T0 + timedelta(seconds=3))
    assert ex.state == State.SUCCESS


def test_foreach_outputs_by_value_seen_by_the_next_task_and_retry_state_visible():
    flow = parse_flow({"id": "f", "namespace": "t", "tasks": [
        {"id": "each", "type": "io.kestra.plugin.core.flow.ForEach", "values": ["x", "y"],
         "tasks": [{**_shell("load"), "retry": {"type": "constant", "interval": "PT1S", "maxAttempts": 2}}]},
        _shell("report")]})
    engine = Engine(flow, Renderer())
    ex = engine.create_execution("e2", {}, T0)
    now = T0
    first = _starts(engine.step(ex, now))
    (x,) = first.values()
    engine.apply(ex, _done(x, State.FAILED), now)
    assert engine.step(ex, now)[-1].at == now + timedelta(seconds=1)  # a Wake for the retry
    now += timedelta(seconds=1)
    (x2,) = _starts(engine.step(ex, now)).values()
    assert x2.attempt == 2 and x2.context["taskrun"]["attemptsCount"] == 1
    engine.apply(ex, _done(x2, rows=1), now)
    (y,) = _starts(engine.step(ex, now)).values()
    assert y.context["taskrun"]["value"] == "y"
    assert y.context["outputs"]["load"] == {"x": {"vars": {"rows": 1}, "exitCode": 0}}
    engine.apply(ex, _done(y, rows=2), now)
    report = _starts(engine.step(ex, now))["report"]
    assert report.context["outputs"]["load"]["y"]["vars"] == {"rows": 2}
    assert report.context["tasks"]["load"] == {"x": {"state": "SUCCESS"}, "y": {"state": "SUCCESS"}}
