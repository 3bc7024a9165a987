"""io.kestra.plugin.jdbc.duckdb.Queries: several statements, one output per result set, one transaction."""

from __future__ import annotations

from pathlib import Path

import duckdb

from kflow.engine.state import State


def test_one_output_per_statement_with_rows_and_parameters(run_flow) -> None:
    run = run_flow("""
        id: dq
        namespace: t
        tasks:
          - id: q
            type: io.kestra.plugin.jdbc.duckdb.Queries
            inputFiles:
              in.csv: "a,b\\n1,x\\n2,y\\n3,z\\n"
            sql: |
              INSTALL json; LOAD json;
              CREATE TABLE t AS SELECT * FROM read_csv_auto('{{ workingDir }}/in.csv', header=True);
              INSERT INTO t VALUES (4, 'w');
              SELECT count(*) AS n FROM t;
              SELECT b FROM t WHERE a > :lo ORDER BY a;
            parameters:
              lo: 2
            fetchType: FETCH
          - id: one
            type: io.kestra.plugin.jdbc.duckdb.Queries
            sql: SELECT 42 AS answer; SELECT 'x' AS letter;
            fetchType: FETCH_ONE
        """)
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    assert run.outputs("q")["outputs"] == [{"rows": [{"n": 4}], "size": 1},
                                           {"rows": [{"b": "z"}, {"b": "w"}], "size": 2}]
    assert run.outputs("one")["outputs"] == [{"row": {"answer": 42}, "size": 1},
                                             {"row": {"letter": "x"}, "size": 1}]


def test_a_failing_statement_rolls_back_the_others(run_flow, tmp_path: Path) -> None:
    db = tmp_path / "kept.duckdb"
    sql = "CREATE TABLE kept (x INT); INSERT INTO kept VALUES (1); SELECT * FROM missing_table;"
    run = run_flow(f"""
        id: dq
        namespace: t
        tasks:
          - id: q
            type: io.kestra.plugin.jdbc.duckdb.Queries
            url: "jdbc:duckdb:{db}"
            sql: "{sql}"
        """)
    assert run.state == State.FAILED
    assert "missing_table" in (run.run("q").error or "")
    con = duckdb.connect(str(db))
    try:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'kept'"
                           ).fetchone() == (0,)
    finally:
        con.close()
    free = run_flow(f"""
        id: dq2
        namespace: t
        tasks:
          - id: q
            type: io.kestra.plugin.jdbc.duckdb.Queries
            url: "jdbc:duckdb:{db}"
            transaction: false
            allowFailure: true
            sql: "{sql}"
        """)
    assert free.run("q").state == State.WARNING
    con = duckdb.connect(str(db))
    try:
        assert con.execute("SELECT count(*) FROM kept").fetchone() == (1,)
    finally:
        con.close()
