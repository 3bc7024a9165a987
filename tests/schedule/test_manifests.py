"""Pure builders: a tick's Execution, CronTriggers of inline Schedule triggers, `kflow convert`."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from kflow.cli import main
from kflow.k8s.schedules import convert, execution_for_tick, inline_crontriggers, run_of
from kflow.schedule.cron import Cron

TRIGGER = {"apiVersion": "kflow.dev/v1alpha1", "kind": "CronTrigger",
           "metadata": {"name": "taxi", "namespace": "ns", "uid": "u-1"},
           "spec": {"flowRef": {"name": "taxi-flow"}, "cron": "0 9 1 * *", "timezone": "Europe/Paris",
                    "inputs": {"taxi": "green"}, "labels": {"team": "data"}}}
KESTRA = """
id: Taxi_Monthly
namespace: zoomcamp
tasks:
  - id: r
    type: io.kestra.plugin.core.debug.Return
    format: x
triggers:
  - id: green_schedule
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 1 * *"
    inputs: {taxi: green}
    labels: [{key: color, value: green}]
  - id: off
    type: io.kestra.core.models.triggers.types.Schedule
    cron: "@daily"
    disabled: true
    allowConcurrent: true
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: abc
"""


def test_execution_of_a_tick():
    cron = Cron("0 9 1 * *", "Europe/Paris")
    tick = datetime(2019, 2, 1, 8, tzinfo=UTC)
    ex = execution_for_tick(TRIGGER, cron, tick, backfill={"inputs": {"year": 2019}, "labels": {"bf": "y"}},
                            bf_id="abc", attempt=1)
    meta, spec = ex["metadata"], ex["spec"]
    assert meta["name"] == "taxi-201902010800-r1"
    assert meta["labels"]["kflow.dev/trigger"] == "taxi" and meta["labels"]["kflow.dev/backfill"] == "true"
    assert meta["labels"]["kflow.dev/scheduled-at"] == "20190201T080000Z" and meta["labels"]["team"] == "data"
    assert meta["ownerReferences"][0] == {"apiVersion": "kflow.dev/v1alpha1", "kind": "CronTrigger",
                                          "name": "taxi", "uid": "u-1", "controller": True,
                                          "blockOwnerDeletion": False}
    assert spec["inputs"] == {"taxi": "green", "year": 2019}
    assert spec["trigger"] == {"date": "2019-02-01T09:00:00+01:00", "next": "2019-03-01T09:00:00+01:00",
                               "previous": "2019-01-01T09:00:00+01:00"}
    run = run_of(ex)
    assert run is not None and (run.tick, run.backfill_id, run.attempt, run.active) == (tick, "abc", 1, True)


def test_inline_schedule_triggers_become_owned_crontriggers():
    flow = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "spec": yaml.safe_load(KESTRA),
            "metadata": {"name": "taxi", "namespace": "ns", "uid": "f-1"}}
    green, off = inline_crontriggers(flow)
    assert green["metadata"]["name"] == "taxi-green-schedule"
    assert green["metadata"]["ownerReferences"][0]["uid"] == "f-1"
    assert green["spec"]["labels"] == {"color": "green"} and green["spec"]["inputs"] == {"taxi": "green"}
    assert green["spec"]["concurrencyPolicy"] == "Forbid" and green["spec"]["suspend"] is False
    assert off["spec"]["suspend"] is True and off["spec"]["concurrencyPolicy"] == "Allow"
    assert off["spec"]["recoverMissedSchedules"] == "ALL"


def test_convert(tmp_path, capsys):
    flow, = convert(yaml.safe_load(KESTRA))
    assert flow["metadata"]["name"] == "taxi-monthly" and flow["spec"]["id"] == "Taxi_Monthly"
    assert len(flow["spec"]["triggers"]) == 3
    path = tmp_path / "f.yaml"
    path.write_text(KESTRA)
    assert main(["convert", str(path), "--split-triggers"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Flow", "CronTrigger", "CronTrigger"]
    assert [t["type"] for t in docs[0]["spec"]["triggers"]] == ["io.kestra.plugin.core.trigger.Webhook"]
    assert docs[1]["metadata"]["name"] == "taxi-monthly-green-schedule"  # what the operator would name it
    assert "ownerReferences" not in docs[1]["metadata"]
    assert main(["convert", str(path), "-n", "prod"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["metadata"]["namespace"] == "prod"
