"""ForEachItem on `kflow run`: a file split into batches, one child execution per batch."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from kflow.engine.state import State
from kflow.tasks.flow.foreach_item import Batch, split

CHILD = """
id: item_child
namespace: t
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
namespace: t
inputs:
  - {id: n, type: INT, defaults: 7}
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: [list.txt]
    commands: ["seq 1 {{ inputs.n }} > list.txt"]
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ outputs.make.outputFiles['list.txt'] }}"
    batch: {rows: 3}
    namespace: t
    flowId: item_child
    concurrencyLimit: 2
    inputs:
      batch: "{{ taskrun.items }}"
      index: "{{ taskrun.iteration }}"
"""


def test_one_child_per_batch_with_merged_outputs(run_flow, tmp_path: Path) -> None:
    (tmp_path / "item_child.yaml").write_text(textwrap.dedent(CHILD))
    run = run_flow(PARENT)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    out = run.outputs("each")
    assert out["numberOfBatches"] == 3 and out["iterations"] == {"SUCCESS": 3}
    assert out["outputs"] == [{"lines": 3, "index": 0}, {"lines": 3, "index": 1}, {"lines": 1, "index": 2}]
    assert len(set(out["executionIds"])) == 3
    rel = out["subflowOutputs"].split(f"/executions/{run.ex.id}/", 1)[1]
    merged = (run.storage / "t" / "items" / "executions" / run.ex.id / rel).read_text().splitlines()
    assert [json.loads(x)["lines"] for x in merged] == [3, 3, 1]


def test_a_failing_batch_fails_the_task(run_flow, tmp_path: Path) -> None:
    (tmp_path / "item_child.yaml").write_text(textwrap.dedent(CHILD))
    run = run_flow(PARENT, inputs={"n": 14})  # the 5th batch starts with "13"
    assert run.state == State.FAILED
    each = run.run("each")
    assert each.outputs["iterations"] == {"SUCCESS": 4, "FAILED": 1}
    assert "1 of 5 subflow executions failed" in (each.error or "")


def test_split_by_rows_partitions_and_bytes() -> None:
    text = "a\nb\nc\nd\ne\n"
    assert split(text, Batch()) == ["a\n", "b\n", "c\n", "d\n", "e\n"]
    assert split(text, Batch(rows=2)) == ["a\nb\n", "c\nd\n", "e\n"]
    assert split(text, Batch(partitions=2)) == ["a\nb\nc\n", "d\ne\n"]
    assert split(text, Batch(bytes="4B")) == ["a\nb\n", "c\nd\n", "e\n"]
