"""Runnable tasks on the local runner: scripts, files, DuckDB, Download, purge."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from kflow.engine.state import State
from kflow.tasks.ion import read_rows

HEAD = """
id: t
namespace: company.team
"""


def _resolve(r, uri: str) -> Path:
    from kflow.runner.storage import ExecutionStorage

    ex = r.ex
    root = r.storage / ex.namespace.replace(".", "/") / ex.flowId / "executions" / ex.id
    return ExecutionStorage(root, ex.namespace, ex.flowId, ex.id).resolve(uri)


def test_shell_outputs_protocol_env_and_before_commands(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      GREETING: "hi {{ flow.id }}"
    beforeCommands:
      - export EXTRA=before
    commands:
      - |
        echo '::{"outputs": {"count": 3, "who": "'"$GREETING $EXTRA"'"}}::'
      - echo plain line
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.sh.vars.count + 1 }} {{ outputs.sh.vars.who }}"
""")
    assert r.state == State.SUCCESS
    assert r.outputs("sh")["vars"] == {"count": 3, "who": "hi t before"}
    assert r.outputs("sh")["exitCode"] == 0
    assert r.outputs("use")["value"] == "4 hi t before"
    assert "plain line" in r.messages("sh")


def test_python_script_with_kestra_library_and_output_files(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    outputFiles: ["*.csv", "out/**"]
    script: |
      from kestra import Kestra
      import os
      os.makedirs("out", exist_ok=True)
      open("result.csv", "w").write("a,b\\n1,2\\n")
      open("out/deep.txt", "w").write("deep")
      Kestra.outputs({"rows": 1, "name": "{{ flow.id }}"})
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      copy.csv: "{{ outputs.py.outputFiles['result.csv'] }}"
    commands:
      - cat copy.csv
      - cat {{ outputs.py.outputFiles['out/deep.txt'] }}
""")
    assert r.state == State.SUCCESS, r.ex.taskRuns
    assert r.outputs("py")["vars"] == {"rows": 1, "name": "t"}
    assert set(r.outputs("py")["outputFiles"]) == {"result.csv", "out/deep.txt"}
    assert all(u.startswith("kestra:///company/team/t/executions/") for u in r.outputs("py")["outputFiles"].values())
    assert r.messages("read") == ["a,b", "1,2", "deep"]


def test_python_commands_and_input_files_as_json_string(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: files
    type: io.kestra.plugin.core.output.OutputValues
    values:
      spec: '{"data.txt": "hello", "nested/x.txt": "x"}'
  - id: py
    type: io.kestra.plugin.scripts.python.Commands
    inputFiles: "{{ outputs.files['values']['spec'] }}"
    commands:
      - python -c "print(open('data.txt').read() + open('nested/x.txt').read())"
""")
    assert r.state == State.SUCCESS
    assert r.messages("py") == ["hellox"]


def test_failfast_stops_at_first_failing_command(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["false", "echo unreachable"]
""")
    assert r.state == State.FAILED
    assert "unreachable" not in r.messages("sh")


def test_duckdb_fetch_shapes_and_output_files(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: data
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["*.csv"]
    commands:
      - printf 'brand,price\\nacme,10\\nacme,20\\nzen,5\\n' > items.csv
  - id: fetch
    type: io.kestra.plugin.jdbc.duckdb.Query
    inputFiles:
      items.csv: "{{ outputs.data.outputFiles['items.csv'] }}"
    sql: SELECT brand, avg(price) AS avg_price FROM read_csv_auto('{{ workingDir }}/items.csv') GROUP BY brand ORDER BY brand
    fetchType: FETCH
  - id: one
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: SELECT 42 AS answer, DATE '2024-01-31' AS d
    fetchOne: true
  - id: store
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: "INSTALL json; LOAD json; SELECT * FROM range(3) t(n)"
    fetchType: STORE
  - id: none
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: CREATE TABLE x AS SELECT 1
  - id: export
    type: io.kestra.plugin.jdbc.duckdb.Query
    outputFiles: [out]
    sql: COPY (SELECT 'a' AS c) TO '{{ outputFiles.out }}' (HEADER, DELIMITER ',')
""")
    assert r.state == State.SUCCESS, [(t.taskId, t.error) for t in r.ex.taskRuns]
    assert r.outputs("fetch") == {"rows": [{"brand": "acme", "avg_price": 15.0},
                                           {"brand": "zen", "avg_price": 5.0}], "size": 2}
    assert r.outputs("one") == {"row": {"answer": 42, "d": "2024-01-31"}, "size": 1}
    store = r.outputs("store")
    assert store["size"] == 3 and store["uri"].endswith(".ion")
    assert list(read_rows(_resolve(r, store["uri"]))) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert r.outputs("none") == {}
    assert _resolve(r, r.outputs("export")["outputFiles"]["out"]).read_text() == "c\na\n"


def test_duckdb_sql_error_fails_with_message(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: q
    type: io.kestra.plugin.jdbc.duckdb.Query
    sql: SELECT * FROM missing_table
""")
    assert r.state == State.FAILED
    assert "missing_table" in r.run("q").error


@pytest.fixture
def http_server(tmp_path: Path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "products.json").write_text(json.dumps({"products": [{"brand": "a"}]}))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path / "www"), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_http_and_missing_url(run_flow, http_server):
    r = run_flow(HEAD + f"""
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: {http_server}/products.json
""")
    assert r.state == State.SUCCESS
    out = r.outputs("dl")
    assert out["code"] == 200 and out["length"] > 10
    assert json.loads(_resolve(r, out["uri"]).read_text()) == {"products": [{"brand": "a"}]}
    r = run_flow(HEAD + f"""
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: {http_server}/nope.json
""")
    assert r.state == State.FAILED
    assert "404" in r.run("dl").error


def test_download_file_uri_relative_to_the_flow(run_flow, tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("local")
    r = run_flow(HEAD + """
tasks:
  - id: dl
    type: io.kestra.plugin.core.http.Download
    uri: file:data/x.txt
""")
    assert r.state == State.SUCCESS
    assert _resolve(r, r.outputs("dl")["uri"]).read_text() == "local"


def test_purge_current_execution_files(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["*.txt"]
    commands: ["echo x > a.txt"]
  - id: purge
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["cat {{ outputs.make.outputFiles['a.txt'] }}"]
""")
    assert r.run("purge").state == State.SUCCESS
    assert len(r.outputs("purge")["uris"]) == 1
    assert r.run("read").state == State.FAILED
    assert "not found" in r.run("read").error


def test_each_attempt_gets_its_own_working_directory_named_after_it(run_flow):
    r = run_flow(HEAD + """
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - test -z "$(ls -A)"   # starts empty
      - echo one > left.txt
      - |
        echo '::{"outputs": {"dir": "'"$PWD"'"}}::'
  - id: flaky
    type: io.kestra.plugin.scripts.shell.Commands
    retry:
      type: constant
      interval: PT0S
      maxAttempts: 2
    commands:
      - test -z "$(ls -A)"
      - |
        echo '::{"outputs": {"dir": "'"$PWD"'"}}::'
      - test {{ taskrun.attemptsCount }} -ge 1   # the first attempt fails
""")
    assert r.state == State.SUCCESS, r.ex.error
    ex = r.ex
    work = r.storage / ex.namespace.replace(".", "/") / ex.flowId / "executions" / ex.id / "work"
    # Once the execution ends, each attempt's folder is named <taskRunId>-<attempt>, files left in it kept.
    assert sorted(p.name for p in work.iterdir()) == ["first-1", "flaky-1", "flaky-2"]
    assert (work / "first-1" / "left.txt").read_text() == "one\n"
    assert r.outputs("first")["vars"]["dir"] != r.outputs("flaky")["vars"]["dir"]
