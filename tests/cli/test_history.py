"""The local history: every `kflow run` is readable afterwards with executions/get/logs/outputs/prune."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from clilib import REPO, execution_id, kflow, write_flow

from kflow.history import LocalHistory
from kflow.history.recorder import history_root

FLOW = """
id: hist
namespace: test.history
labels:
  team: data
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "hello {{ inputs.who }}"
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [a, b]
    tasks:
      - id: echo
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo "item {{ taskrun.value }}"
          - echo '::{"outputs":{"item":"{{ taskrun.value }}"}}::'
  - id: csv
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["out.csv"]
    commands:
      - printf 'name,n\\nx,1\\ny,2\\n' > out.csv
inputs:
  - id: who
    type: STRING
    defaults: world
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, str, Path]:
    folder = tmp_path_factory.mktemp("hist")
    flow = write_flow(folder, "hist.yaml", FLOW)
    storage = folder / "storage"
    res = kflow("run", str(flow), "-i", "who=kflow", "-l", "run=first", storage=storage)
    assert res.returncode == 0, res.stdout + res.stderr
    return storage, execution_id(res), flow


def test_get_shows_the_task_run_tree(recorded):
    storage, ex_id, _ = recorded
    res = kflow("get", ex_id[:8], storage=storage)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"Name:        {ex_id}" in out and "Status:      SUCCESS" in out
    assert "Inputs:      who=kflow" in out and "run=first" in out
    lines = out.splitlines()
    tree = [line for line in lines if "echo[" in line]
    assert len(tree) == 2 and tree[0].lstrip().startswith("├─") and tree[1].lstrip().startswith("└─"), out
    doc = json.loads(kflow("get", ex_id, "-o", "json", storage=storage).stdout)
    assert doc["state"] == "SUCCESS" and doc["live"] is False
    echo = [t for t in doc["taskRuns"] if t["taskId"] == "echo"]
    assert [t["value"] for t in echo] == ["a", "b"]
    assert all(len(t["attempts"]) == 1 and t["attempts"][0]["state"] == "SUCCESS" for t in echo)
    assert doc["taskOutputs"]["echo"] == {"a": {"vars": {"item": "a"}, "exitCode": 0, "outputFiles": {}},
                                          "b": {"vars": {"item": "b"}, "exitCode": 0, "outputFiles": {}}}


def test_list_filters_and_formats(recorded, tmp_path):
    storage, ex_id, flow = recorded
    second = kflow("run", str(flow), "-l", "run=second", storage=storage)
    assert second.returncode == 0
    out = kflow("executions", storage=storage).stdout
    assert out.splitlines()[0].split() == ["ID", "NAMESPACE", "FLOW", "STATE", "STARTED", "DURATION"]
    assert out.index(execution_id(second)) < out.index(ex_id)  # newest first
    only = kflow("list", "-l", "run=first", "-o", "json", storage=storage)
    assert [d["id"] for d in json.loads(only.stdout)] == [ex_id]
    assert json.loads(kflow("list", "--state", "FAILED", "-o", "json", storage=storage).stdout) == []
    assert len(json.loads(kflow("list", "--flow", "test.history.hist", "-o", "json", storage=storage).stdout)) == 2
    assert json.loads(kflow("list", "--flow-namespace", "test", "--since", "PT1H", "-o", "json",
                            storage=storage).stdout)
    assert json.loads(kflow("list", "--since", "2999-01-01", "-o", "json", storage=storage).stdout) == []
    wide = kflow("list", "-o", "wide", storage=storage).stdout
    assert "LABELS" in wide and "team=data" in wide and "4/4" not in wide and "5/5" in wide
    assert "- id:" in kflow("list", "-o", "yaml", storage=storage).stdout


def test_logs_per_task_in_order_with_foreach_value(recorded):
    storage, ex_id, _ = recorded
    res = kflow("logs", ex_id, "--task", "echo", "--no-timestamps", "--level", "info", storage=storage)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == ["echo[a] INFO  item a", "echo[b] INFO  item b"]
    allf = kflow("logs", ex_id, storage=storage).stdout
    assert "say INFO  hello kflow" in allf and allf.index("hello kflow") < allf.index("item a")
    bad = kflow("logs", ex_id, "--task", "nope", storage=storage)
    assert bad.returncode == 1 and "no task 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_outputs_resolve_and_preview_stored_files(recorded):
    storage, ex_id, _ = recorded
    res = kflow("outputs", ex_id, "csv", storage=storage)
    assert res.returncode == 0, res.stderr
    assert "kestra:///test/history/hist/executions/" in res.stdout
    local = [line.split("-> ", 1)[1] for line in res.stdout.splitlines() if "-> " in line]
    assert len(local) == 1 and Path(local[0]).read_text() == "name,n\nx,1\ny,2\n"
    assert "name | n" in res.stdout and "x    | 1" in res.stdout
    doc = json.loads(kflow("outputs", ex_id, "-o", "json", storage=storage).stdout)
    assert list(doc["files"].values()) == local


def test_read_api_survives_a_torn_last_line_and_reports_a_dead_writer(recorded, tmp_path):
    storage, ex_id, _ = recorded
    source = history_root(storage) / ex_id
    copy = tmp_path / "st"
    dest = history_root(copy) / ex_id
    dest.mkdir(parents=True)
    for name in ("events.jsonl", "logs.jsonl", "flow.yaml"):
        (dest / name).write_bytes((source / name).read_bytes())
    # a crash mid-write: an execution event cut in half, no snapshot, no lock holder
    with open(dest / "events.jsonl", "ab") as fh:
        fh.write(b'{"e":"execution","execution":{"id":"')
    history = LocalHistory(copy)
    rec = history.get(ex_id)
    assert rec.execution.state.value == "SUCCESS" and rec.live is False
    assert [r.id for r in history.list_executions(labels={"run": "first"})] == [ex_id]
    assert rec.flow_source and "id: hist" in rec.flow_source
    assert rec.raw_inputs == {"who": "kflow"}
    entries = [e for e in history.logs(ex_id, task="echo") if e.level == "INFO"]
    assert [e.message for e in entries] == ["item a", "item b"]
    # offset: reading on from the first line gives the rest only
    assert [e.message for e in history.logs(ex_id, task="echo", offset=entries[0].offset)
            if e.level == "INFO"] == ["item b"]


def test_prune_deletes_old_executions_and_their_files(recorded, tmp_path):
    _, _, flow = recorded
    storage = tmp_path / "st"
    ids = [execution_id(kflow("run", str(flow), storage=storage)) for _ in range(2)]
    history = LocalHistory(storage)
    files = [LocalHistory.execution_storage(history.get(i)) for i in ids]
    assert all(f.is_dir() for f in files)
    assert "0 execution(s)" in kflow("prune", "--older-than", "P7D", storage=storage).stderr
    dry = kflow("prune", "--keep", "1", "--dry-run", storage=storage)
    assert f"would delete {ids[0]}" in dry.stdout and files[0].is_dir()
    res = kflow("prune", "--keep", "1", storage=storage)
    assert f"deleted {ids[0]}" in res.stdout
    assert not files[0].exists() and files[1].is_dir()
    assert [r.id for r in history.list_executions()] == [ids[1]]
    gone = history.prune(older_than=timedelta(seconds=0), now=datetime.now(UTC) + timedelta(seconds=1))
    assert [r.id for r in gone] == [ids[1]] and history.list_executions() == []
    assert kflow("prune", "--older-than", "7 days", storage=storage).returncode == 2


def test_default_retention_keeps_the_newest(tmp_path):
    flow = REPO / "flows" / "hello_world.yaml"
    storage = tmp_path / "st"
    env = {"KFLOW_HISTORY_MAX": "2"}
    ids = [execution_id(kflow("run", str(flow), "-q", storage=storage, env=env)) for _ in range(3)]
    kept = [r.id for r in LocalHistory(storage).list_executions()]
    # the retention runs as a run starts: the third run drops the first
    assert ids[0] not in kept and set(ids[1:]) <= set(kept)


def test_logs_follow_streams_until_the_run_ends(tmp_path):
    import subprocess
    import sys
    import time

    flow = write_flow(tmp_path, "slow.yaml", """
        id: slow
        namespace: test.history
        tasks:
          - id: one
            type: io.kestra.plugin.core.log.Log
            message: line one
          - id: wait
            type: io.kestra.plugin.scripts.shell.Commands
            commands: ["sleep 3", "echo line two"]
          - id: three
            type: io.kestra.plugin.core.log.Log
            message: line three
        """)
    storage = tmp_path / "st"
    run = subprocess.Popen([sys.executable, "-m", "kflow.cli", "run", str(flow), "--storage", str(storage)],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    history = LocalHistory(storage)
    deadline = time.monotonic() + 60
    while not history.list_executions():
        assert time.monotonic() < deadline and run.poll() is None
        time.sleep(0.1)
    follow = kflow("logs", "@latest", "-f", "--no-timestamps", "--level", "INFO", storage=storage, timeout=120)
    run.wait(60)
    assert follow.returncode == 0, follow.stderr
    assert follow.stdout.splitlines() == ["one INFO  line one", "wait INFO  line two", "three INFO  line three"]
