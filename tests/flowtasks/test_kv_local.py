"""The KV store on `kflow run`: kv.Set/Get/Delete/GetKeys, kv(), types, TTL, inheritance, secrets."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kflow.engine.state import State
from kflow.kv.local import FileKVStore
from kflow.model.loader import load_flow_text
from kflow.runner.local import Events, LocalRunner

SETTER = """
id: producer
namespace: company.team
tasks:
  - id: remember
    type: io.kestra.plugin.core.kv.Set
    key: last_run
    value: "{{ inputs.n * 2 }}"
    kvType: NUMBER
inputs:
  - id: n
    type: INT
"""

READER = """
id: consumer
namespace: company.team
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "last={{ kv('last_run') + 1 }}"
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    script: |
      print("py sees", {{ kv('last_run') }})
"""


def _kflow(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KFLOW_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_set_in_one_flow_read_by_a_later_execution_of_another(tmp_path: Path) -> None:
    (tmp_path / "producer.yaml").write_text(SETTER)
    (tmp_path / "consumer.yaml").write_text(READER)
    home = tmp_path / "home"
    first = _kflow(home, "run", str(tmp_path / "producer.yaml"), "-i", "n=21")
    assert first.returncode == 0, first.stdout + first.stderr
    stored = json.loads((home / "kv" / "company.team" / "last_run.json").read_text())
    assert stored["type"] == "NUMBER" and stored["value"] == 42
    second = _kflow(home, "run", str(tmp_path / "consumer.yaml"))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "last=43" in second.stdout
    assert "py sees 42" in second.stdout  # kv() inside a script task's own process


def _runner(text: str, tmp_path: Path, clock, env: dict[str, str] | None = None) -> tuple[LocalRunner, Events]:
    flow = load_flow_text(textwrap.dedent(text), "t.yaml").flow
    events = Events()
    runner = LocalRunner(flow, storage_root=tmp_path / "storage", env={**os.environ, **(env or {})},
                         events=events, clock=clock, kv_store=FileKVStore(tmp_path / "kv"))
    return runner, events


def test_ttl_expiry_makes_the_key_missing(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    setter, _ = _runner("""
        id: s
        namespace: ns
        tasks:
          - id: set
            type: io.kestra.plugin.core.kv.Set
            key: token
            value: abc
            ttl: PT10M
        """, tmp_path, lambda: now[0])
    assert setter.run().state == State.SUCCESS
    reader_text = """
        id: r
        namespace: ns
        tasks:
          - id: get
            type: io.kestra.plugin.core.kv.Get
            key: token
          - id: keys
            type: io.kestra.plugin.core.kv.GetKeys
          - id: strict
            type: io.kestra.plugin.core.log.Log
            message: "{{ kv('token') }}"
        """
    now[0] += timedelta(minutes=9)
    reader, _ = _runner(reader_text, tmp_path, lambda: now[0])
    ex = reader.run()
    assert ex.state == State.SUCCESS
    assert ex.task_run("get").outputs == {"value": "abc"}
    assert ex.task_run("keys").outputs == {"keys": ["token"]}
    now[0] += timedelta(minutes=2)
    reader, _ = _runner(reader_text, tmp_path, lambda: now[0])
    ex = reader.run()
    assert ex.task_run("get").outputs == {"value": None}
    assert ex.task_run("keys").outputs == {"keys": []}
    assert ex.state == State.FAILED
    assert "The key 'token' has expired in the namespace 'ns'." in (ex.task_run("strict").error or "")


def test_types_inheritance_and_delete(run_flow, tmp_path: Path) -> None:
    env = {"KFLOW_HOME": str(tmp_path / "home")}
    run = run_flow("""
        id: typed
        namespace: company.team.sub
        tasks:
          - {id: n, type: io.kestra.plugin.core.kv.Set, key: n, value: "3.5", kvType: NUMBER}
          - {id: b, type: io.kestra.plugin.core.kv.Set, key: b, value: "true", kvType: BOOLEAN}
          - {id: dt, type: io.kestra.plugin.core.kv.Set, key: dt, value: "2026-03-01T10:00:00+01:00", kvType: DATETIME}
          - {id: d, type: io.kestra.plugin.core.kv.Set, key: d, value: "2026-03-01", kvType: DATE}
          - {id: du, type: io.kestra.plugin.core.kv.Set, key: du, value: PT90M, kvType: DURATION}
          - {id: j, type: io.kestra.plugin.core.kv.Set, key: cfg, namespace: company, value: '{"x": [1, 2]}', kvType: JSON}
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: >-
              {{ kv('n') * 2 }} {{ kv('b') ? 'yes' : 'no' }} {{ kv('dt') }} {{ kv('d') }} {{ kv('du') }}
              {{ kv('cfg').x[1] }} {{ kv('cfg', 'company.team', errorOnMissing=false) ?? 'not-in-team' }}
          - {id: del, type: io.kestra.plugin.core.kv.Delete, key: n}
          - {id: del2, type: io.kestra.plugin.core.kv.Delete, key: n}
          - {id: keys, type: io.kestra.plugin.core.kv.GetKeys, prefix: d}
        """, env=env)
    assert run.state == State.SUCCESS, run.ex.error
    assert run.messages("log") == ["7.0 yes 2026-03-01T09:00:00.000000Z 2026-03-01 PT1H30M 2 not-in-team"]
    assert run.outputs("del") == {"deleted": True} and run.outputs("del2") == {"deleted": False}
    assert run.outputs("keys") == {"keys": ["d", "dt", "du"]}


def test_bad_value_for_its_type_and_overwrite_false_fail_the_task(run_flow, tmp_path: Path) -> None:
    env = {"KFLOW_HOME": str(tmp_path / "home")}
    run = run_flow("""
        id: typed
        namespace: ns
        tasks:
          - {id: bad, type: io.kestra.plugin.core.kv.Set, key: n, value: "twelve", kvType: NUMBER, allowFailure: true}
          - {id: once, type: io.kestra.plugin.core.kv.Set, key: k, value: a}
          - {id: twice, type: io.kestra.plugin.core.kv.Set, key: k, value: b, overwrite: false}
        """, env=env)
    assert run.state == State.FAILED
    assert run.run("bad").error == "value 'twelve' is not a valid NUMBER"
    assert "Key already exists and `overwrite` is set to `false`" in (run.run("twice").error or "")
    assert json.loads((tmp_path / "home" / "kv" / "ns" / "k.json").read_text())["value"] == "a"


def test_values_from_secrets_are_private_and_masked(run_flow, tmp_path: Path) -> None:
    env = {"KFLOW_HOME": str(tmp_path / "home"), "SECRET_API_TOKEN": base64.b64encode(b"s3cr3t-v4lue").decode()}
    run = run_flow("""
        id: sec
        namespace: ns
        tasks:
          - {id: keep, type: io.kestra.plugin.core.kv.Set, key: token, value: "{{ secret('API_TOKEN') }}"}
        """, env=env)
    assert run.state == State.SUCCESS
    path = tmp_path / "home" / "kv" / "ns" / "token.json"
    assert json.loads(path.read_text())["secret"] is True
    assert path.stat().st_mode & 0o077 == 0
    # A later execution that never called secret() still masks the value it reads from the store.
    later = run_flow("""
        id: later
        namespace: ns
        tasks:
          - {id: show, type: io.kestra.plugin.core.log.Log, message: "token={{ kv('token') }}"}
        """, env={"KFLOW_HOME": str(tmp_path / "home")})
    assert later.messages("show") == ["token=******"]


def test_kv_function_errors_on_missing_by_default(run_flow, tmp_path: Path) -> None:
    run = run_flow("""
        id: miss
        namespace: ns
        tasks:
          - {id: soft, type: io.kestra.plugin.core.log.Log, message: "[{{ kv('nope', errorOnMissing=false) }}]"}
          - {id: get, type: io.kestra.plugin.core.kv.Get, key: nope}
          - {id: strict_get, type: io.kestra.plugin.core.kv.Get, key: nope, errorOnMissing: true, allowFailure: true}
          - {id: hard, type: io.kestra.plugin.core.log.Log, message: "{{ kv('nope') }}"}
        """, env={"KFLOW_HOME": str(tmp_path / "home")})
    assert run.messages("soft") == ["[]"]
    assert run.outputs("get") == {"value": None}
    assert run.run("strict_get").state == State.WARNING
    assert "The key 'nope' does not exist in the namespace 'ns'." in (run.run("hard").error or "")
    assert run.state == State.FAILED


def test_kv_in_a_worker_process_task(run_flow, tmp_path: Path) -> None:
    run = run_flow("""
        id: dk
        namespace: company.team
        tasks:
          - {id: set, type: io.kestra.plugin.core.kv.Set, key: threshold, value: 7}
          - id: q
            type: io.kestra.plugin.jdbc.duckdb.Query
            sql: "SELECT {{ kv('threshold') }} * 6 AS answer"
            fetchType: FETCH_ONE
        """, env={"KFLOW_HOME": str(tmp_path / "home")})
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    assert run.outputs("q")["row"] == {"answer": 42}
