"""The Execution status stays small enough for etcd: 2,000 task runs fit under 512 KiB (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kflow.engine.machine import Engine, StartTaskRun, TaskRunResult
from kflow.engine.state import State
from kflow.expr import Renderer
from kflow.k8s.snapshot import execution_from_status, execution_status, split_outputs
from kflow.model.flow import parse_flow


def _big_execution(values: int):
    flow = parse_flow({"id": "big", "namespace": "t", "tasks": [{
        "id": "each", "type": "io.kestra.plugin.core.flow.ForEach", "concurrencyLimit": 0,
        "values": [f"2019-{i:05d}" for i in range(values)],
        "tasks": [{"id": "load", "type": "io.kestra.plugin.scripts.shell.Commands", "commands": ["true"]}]}]})
    engine = Engine(flow, Renderer())
    now = datetime.now(UTC)
    ex = engine.create_execution(NAME, {}, now)
    for action in engine.step(ex, now):
        if isinstance(action, StartTaskRun):
            engine.apply(ex, TaskRunResult(action.run_id, action.attempt, State.SUCCESS,
                                           {"vars": {"rows": 1000}, "exitCode": 0, "outputFiles": {}}, None, 0),
                         now)
    engine.step(ex, now)
    return engine, ex, now


NAME = "an-execution-name-as-long-as-kubernetes-allows-for-a-label-val"  # 63 characters


def test_two_thousand_task_runs_stay_under_512_kib_and_round_trip():
    _, ex, now = _big_execution(1999)
    assert len(ex.taskRuns) == 2000 and ex.state == State.SUCCESS
    inline, spilled = split_outputs(ex, set())
    status = execution_status(ex, execution_name=NAME, flow_generation=1, generation=1, now=now, inline=inline,
                              outputs_refs=[f"{NAME[:50]}-outputs-0"])
    size = len(json.dumps({"status": status}, separators=(",", ":")))
    assert size < 512 * 1024, f"{size / 1024:.0f} KiB"
    assert spilled, "large executions keep part of their outputs in ConfigMaps"
    back = execution_from_status(status, execution_id=ex.id, namespace="t", flow_id="big", trigger=None,
                                 outputs_of=spilled)
    assert [(t.id, t.state, t.value, t.outputs) for t in back.taskRuns] == \
        [(t.id, t.state, t.value, t.outputs) for t in ex.taskRuns]
    assert back.state == State.SUCCESS
    assert all(t["id"] and t["state"] and t["startDate"] and t["endDate"] and t["attempts"] == 1
               for t in status["taskRuns"][1:])
