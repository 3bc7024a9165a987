"""ForEachItem, a Subflow handing a file to its child, and log.Fetch on the cluster: the same outcome as on
`kflow run`, with the batches and files read from the parent's volume and the logs from its ConfigMap."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from operator_harness import apply, execution, flow_manifest, pods, runs, wait_state
from test_flowtasks_cluster import _local

pytestmark = pytest.mark.cluster

CHILD = """
id: item_child
namespace: company.team
inputs:
  - {id: batch, type: FILE}
  - {id: index, type: INT}
tasks:
  - id: count
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test "$(head -c 2 {{ inputs.batch }})" != "13"
      - echo "::{\\"outputs\\":{\\"lines\\":$(wc -l < {{ inputs.batch }})}}::"
outputs:
  - {id: lines, type: INT, value: "{{ outputs.count.vars.lines }}"}
  - {id: index, type: INT, value: "{{ inputs.index }}"}
"""

PARENT = """
id: items
namespace: company.team
inputs:
  - {id: count, type: INT, defaults: 7}
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: [list.txt]
    commands: ["seq 1 {{ inputs.count }} > list.txt"]
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ outputs.make.outputFiles['list.txt'] }}"
    batch: {rows: 3}
    namespace: company.team
    flowId: item_child
    concurrencyLimit: 2
    inputs:
      batch: "{{ taskrun.items }}"
      index: "{{ taskrun.iteration }}"
  - id: whole
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: item_child
    inputs:
      batch: "{{ outputs.make.outputFiles['list.txt'] }}"
      index: 99
  - id: merged
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "::{\\"outputs\\":{\\"rows\\":$(wc -l < {{ outputs.each.subflowOutputs }})}}::"
"""


def _overlap(children: list[dict]) -> int:
    """The most children running at the same moment."""
    marks = []
    for c in children:
        st = c["status"]
        marks += [(datetime.fromisoformat(st["startDate"]), 1), (datetime.fromisoformat(st["endDate"]), -1)]
    running = peak = 0
    for _, step in sorted(marks, key=lambda m: (m[0], m[1])):
        running += step
        peak = max(peak, running)
    return peak


def test_foreach_item_and_a_subflow_file_input_on_the_cluster_match_kflow_run(operator, namespace, tmp_path):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("item-child", CHILD))
    apply(cluster, namespace, flow_manifest("items", PARENT))
    apply(cluster, namespace, execution("fe1", "items"))
    apply(cluster, namespace, execution("fe2", "items", {"count": 14}))  # the 5th batch starts with "13": it fails
    ok = wait_state(cluster, namespace, "fe1", 300)
    bad = wait_state(cluster, namespace, "fe2", 300)
    assert ok["status"]["state"] == "SUCCESS", [(t["id"], t["state"], t.get("error")) for t in ok["status"]["taskRuns"]]
    local = _local(tmp_path, {"item_child": CHILD, "items": PARENT}, "items", {})
    assert local.state.value == "SUCCESS"
    each, local_each = runs(ok)["each"]["outputs"], next(t for t in local.taskRuns if t.id == "each").outputs
    for key in ("numberOfBatches", "iterations", "outputs"):
        assert each[key] == local_each[key], key
    assert each["outputs"] == [{"lines": 3, "index": 0}, {"lines": 3, "index": 1}, {"lines": 1, "index": 2}]
    assert each["executionIds"] == ["fe1-each-1-0", "fe1-each-1-1", "fe1-each-1-2"]
    assert runs(ok)["merged"]["outputs"]["vars"] == {"rows": 3}  # subflowOutputs is a file on the volume
    assert runs(ok)["whole"]["outputs"]["outputs"] == {"lines": 7, "index": 99}  # a Subflow's FILE input

    children = json.loads(cluster.kubectl("-n", namespace, "get", "executions", "-l",
                                          "kflow.dev/parent-execution=fe1", "-o", "json").stdout)["items"]
    batches = [c for c in children if c["metadata"]["name"].startswith("fe1-each-")]
    assert len(batches) == 3 and _overlap(batches) <= 2  # concurrencyLimit: 2
    for c in children:  # the file came from the parent's volume, not through the API
        assert "executionFile" in c["spec"]["inputsFrom"]["batch"], c["spec"]
        assert "batch" not in c["spec"].get("inputs", {})

    assert bad["status"]["state"] == "FAILED"
    failed = runs(bad)["each"]
    assert failed["outputs"]["iterations"] == {"SUCCESS": 4, "FAILED": 1}
    assert "1 of 5 subflow executions failed" in failed["error"]
    # one split pod and one merge pod for the ForEachItem itself
    each_pods = sorted(p.metadata.name for p in pods(cluster, namespace, "kflow.dev/execution=fe1")
                       if p.metadata.labels["kflow.dev/task"] == "each")
    assert len(each_pods) == 2 and each_pods[0] == "fe1-each-1" and each_pods[1].startswith("fe1-each-merge-1")


FETCH = """
id: fetch
namespace: company.team
tasks:
  - id: noisy
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo all good
  - id: warn
    type: io.kestra.plugin.core.log.Log
    level: WARN
    message: careful
  - id: logs
    type: io.kestra.plugin.core.log.Fetch
    level: WARN
  - id: only_noisy
    type: io.kestra.plugin.core.log.Fetch
    tasksId: [noisy]
  - id: check
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "::{\\"outputs\\":{\\"careful\\":$(grep -c careful {{ outputs.logs.uri }}),\\"good\\":$(grep -c 'all good' {{ outputs.only_noisy.uri }}),\\"others\\":$(grep -vc noisy {{ outputs.only_noisy.uri }} || true)}}::"
"""


def test_log_fetch_on_the_cluster_reads_the_execution_logs(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("fetch", FETCH))
    apply(cluster, namespace, execution("lf1", "fetch"))
    ex = wait_state(cluster, namespace, "lf1", 180)
    assert ex["status"]["state"] == "SUCCESS", [(t["id"], t.get("error")) for t in ex["status"]["taskRuns"]]
    tr = runs(ex)
    assert tr["logs"]["outputs"]["size"] == 1  # only the WARN line: "all good" is INFO
    assert tr["only_noisy"]["outputs"]["size"] >= 1
    assert tr["check"]["outputs"]["vars"] == {"careful": 1, "good": 1, "others": 0}
