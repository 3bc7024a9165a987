"""PostgreSQL task classes run directly against the real test server (no engine)."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from decimal import Decimal
from pathlib import Path

import pytest
from amazon.ion import simpleion
from amazon.ion.simple_types import IonPyNull

from kflow.errors import TaskFailed
from kflow.tasks.postgresql import copy_tasks
from kflow.tasks.postgresql.connection import parse_url
from kflow.tasks.postgresql.copy_tasks import CopyIn, CopyOut
from kflow.tasks.postgresql.query import Queries, Query, bind_named, split_statements
from kflow.tasks.registry import task_class

pytestmark = pytest.mark.postgres

PG = "io.kestra.plugin.jdbc.postgresql."


def plain(value):
    """Ion values → plain Python (IonPyNull → None) for comparisons."""
    if isinstance(value, IonPyNull):
        return None
    if hasattr(value, "items"):
        return {k: plain(v) for k, v in value.items()}
    return value


def query(db, **props):
    return Query.model_validate({"id": "q", "type": PG + "Query", **db.connection_props(), **props})


def queries(db, **props):
    return Queries.model_validate({"id": "qs", "type": PG + "Queries", **db.connection_props(), **props})


def copy_in(db, **props):
    return CopyIn.model_validate({"id": "copy_in", "type": PG + "CopyIn", **db.connection_props(), **props})


def copy_out(db, **props):
    return CopyOut.model_validate({"id": "copy_out", "type": PG + "CopyOut", **db.connection_props(),
                                   **props})


# --- registry / parsing -----------------------------------------------------------------------------

def test_types_are_registered():
    for name in ("Query", "Queries", "CopyIn", "CopyOut"):
        assert task_class(PG + name) is not None


def test_unknown_property_is_rejected(pg_server):
    with pytest.raises(ValueError, match="nope"):
        Query.model_validate({"id": "q", "type": PG + "Query", "sql": "SELECT 1", "nope": 1})


def test_jdbc_url_mapping():
    params, ignored = parse_url(
        "jdbc:postgresql://db.example:6543/ny_taxi?sslmode=verify-full&ApplicationName=x"
        "&connectTimeout=3&currentSchema=s1&prepareThreshold=0")
    assert params["host"] == "db.example" and params["port"] == "6543" and params["dbname"] == "ny_taxi"
    assert params["sslmode"] == "verify-full" and params["application_name"] == "x"
    assert params["connect_timeout"] == "3" and params["options"] == "-c search_path=s1"
    assert ignored == ["prepareThreshold"]
    assert parse_url("jdbc:postgresql://localhost/db?ssl=true")[0]["sslmode"] == "require"
    multi, _ = parse_url("jdbc:postgresql://[::1]:5433,h2/db")
    assert multi["host"] == "::1,h2" and multi["port"] == "5433,5432"
    with pytest.raises(ValueError, match="jdbc:postgresql"):
        parse_url("jdbc:mysql://localhost/db")


def test_statement_splitting_and_named_parameters():
    sql = """CREATE TABLE a (x text); -- a comment; with a semicolon
    INSERT INTO a VALUES ('a;b'), ($$c;d$$), (E'it\\'s;'); /* ; */ ;
    SELECT 1"""
    assert split_statements(sql) == [
        "CREATE TABLE a (x text)",
        "-- a comment; with a semicolon\n    INSERT INTO a VALUES ('a;b'), ($$c;d$$), (E'it\\'s;')",
        "SELECT 1",
    ]
    text, values = bind_named("SELECT :a, ':b', x::text, 5 % 2, :a -- :c", {"a": 1})
    assert text == "SELECT %s, ':b', x::text, 5 %% 2, %s -- :c" and values == [1, 1]
    with pytest.raises(TaskFailed, match=":missing"):
        bind_named("SELECT :missing", {"a": 1})


# --- Query / Queries ------------------------------------------------------------------------------

def test_fetch_types(pg_db, harness):
    pg_db.execute("CREATE TABLE t (id int, name text); INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL)")
    sql = "SELECT id, name FROM t ORDER BY id"
    assert query(pg_db, sql=sql).run(harness()) == {}
    assert query(pg_db, sql=sql, fetchType="FETCH").run(harness()) == {
        "rows": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": None}], "size": 3}
    assert query(pg_db, sql=sql, fetchType="FETCH_ONE").run(harness()) == {
        "row": {"id": 1, "name": "a"}, "size": 1}
    assert query(pg_db, sql="SELECT * FROM t WHERE id > 10", fetchType="FETCH_ONE").run(harness()) == {
        "row": None, "size": 0}
    ctx = harness("store")
    out = query(pg_db, sql=sql, fetchType="STORE", fetchSize=2).run(ctx)
    assert out["size"] == 3 and out["uri"].startswith("kestra:///") and out["uri"].endswith(".ion")
    text = ctx.storage.resolve(out["uri"]).read_text()
    assert len(text.splitlines()) == 3
    values = simpleion.loads(text, single_value=False)
    assert [plain(v) for v in values] == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"},
                                          {"id": 3, "name": None}]


@pytest.mark.parametrize(("flag", "key"), [("fetch", "rows"), ("fetchOne", "row"), ("store", "uri")])
def test_deprecated_fetch_booleans(pg_db, harness, flag, key):
    out = query(pg_db, sql="SELECT 1 AS one", **{flag: True}).run(harness())
    assert key in out and out["size"] == 1


def test_fetch_type_is_dynamic_and_validated(pg_db, harness):
    ctx = harness(kind="FETCH_ONE")
    assert query(pg_db, sql="SELECT 1 AS a", fetchType="{{ kind }}").run(ctx)["row"] == {"a": 1}
    with pytest.raises(TaskFailed, match="fetchType"):
        query(pg_db, sql="SELECT 1", fetchType="ALL").run(harness())


def test_fetched_values_are_json_serializable(pg_db, harness):
    sql = """SELECT timestamp '2019-01-01 00:46:40' AS ts,
                    timestamptz '2019-01-01 00:46:40+00' AS tstz,
                    date '2019-01-31' AS d, time '12:30:00' AS t,
                    12.50::numeric AS dec, 42::numeric AS int_dec, 1.5::float8 AS f,
                    interval '1 day 2 hours 3.5 seconds' AS iv, '\\x0102'::bytea AS b,
                    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u,
                    '{"k": [1, 2.5]}'::jsonb AS j, ARRAY[1, 2] AS arr, true AS ok, NULL::text AS n"""
    ctx = harness()
    row = query(pg_db, sql=sql, fetchType="FETCH_ONE", timeZoneId="UTC").run(ctx)["row"]
    json.dumps(row)
    assert row == {
        "ts": "2019-01-01T00:46:40", "tstz": "2019-01-01T00:46:40+00:00", "d": "2019-01-31", "t": "12:30:00",
        "dec": 12.5, "int_dec": 42, "f": 1.5, "iv": "P1DT2H3.5S", "b": "AQI=",
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": {"k": [1, 2.5]}, "arr": [1, 2], "ok": True,
        "n": None,
    }
    out = query(pg_db, sql=sql, fetchType="STORE", timeZoneId="UTC").run(ctx)
    stored = simpleion.loads(ctx.storage.resolve(out["uri"]).read_text(), single_value=False)[0]
    assert stored["dec"] == Decimal("12.50") and stored["int_dec"] == Decimal("42")
    assert stored["ts"].isoformat().startswith("2019-01-01T00:46:40")
    assert stored["tstz"].utcoffset().total_seconds() == 0
    assert stored["b"] == b"\x01\x02" and stored["f"] == 1.5 and list(stored["arr"]) == [1, 2]
    assert plain(stored["n"]) is None and bool(stored["ok"])


def test_parameters_are_bound_not_spliced(pg_db, harness):
    pg_db.execute("CREATE TABLE p (id int, name text)")
    evil = "x'); DROP TABLE p; --"
    queries(pg_db, sql="INSERT INTO p VALUES (:id, :name)", parameters={"id": 7, "name": evil}).run(harness())
    out = query(pg_db, sql="SELECT name, :tag::text AS tag, ':id' AS lit FROM p WHERE id = :id",
                parameters={"id": "{{ wanted }}", "tag": "t"}, fetchType="FETCH").run(harness(wanted=7))
    assert out == {"rows": [{"name": evil, "tag": "t", "lit": ":id"}], "size": 1}
    with pytest.raises(TaskFailed, match=":other"):
        query(pg_db, sql="SELECT :other", parameters={"id": 1}).run(harness())


def test_queries_outputs_per_statement(pg_db, harness):
    out = queries(pg_db, fetchType="FETCH", sql="""
        CREATE TABLE q (id int);
        INSERT INTO q SELECT generate_series(1, 3);
        SELECT count(*) AS n FROM q;
        SELECT id FROM q ORDER BY id DESC LIMIT 2;
    """).run(harness())
    assert out == {"outputs": [{"rows": [{"n": 3}], "size": 1},
                               {"rows": [{"id": 3}, {"id": 2}], "size": 2}]}
    none = queries(pg_db, sql="SELECT 1; SELECT 2").run(harness())
    assert none == {"outputs": [{}, {}]}


def test_queries_transaction_rolls_back_everything(pg_db, harness):
    task = queries(pg_db,
                   sql="CREATE TABLE r (id int); INSERT INTO r VALUES (1); INSERT INTO r VALUES ('x');")
    with pytest.raises(TaskFailed) as err:
        task.run(harness())
    msg = str(err.value)
    assert "statement 3 of 3" in msg and "rolled back" in msg
    assert "invalid input syntax for type integer" in msg
    assert pg_db.scalar("SELECT to_regclass('public.r')::text") is None


def test_queries_without_transaction_keeps_earlier_statements(pg_db, harness):
    task = queries(pg_db, transaction=False,
                   sql="CREATE TABLE r (id int); INSERT INTO r VALUES (1); INSERT INTO r VALUES ('x');")
    with pytest.raises(TaskFailed):
        task.run(harness())
    assert pg_db.scalar("SELECT count(*) FROM r") == 1


def test_query_after_sql_in_same_transaction(pg_db, harness):
    pg_db.execute("CREATE TABLE jobs (id int, done bool); INSERT INTO jobs VALUES (1, false)")
    out = query(pg_db, sql="SELECT id FROM jobs WHERE NOT done", fetchType="FETCH",
                afterSQL="UPDATE jobs SET done = true").run(harness())
    assert out["rows"] == [{"id": 1}]
    assert pg_db.scalar("SELECT done FROM jobs") is True
    with pytest.raises(TaskFailed):
        query(pg_db, sql="UPDATE jobs SET done = false", afterSQL="SELECT 1/0").run(harness())
    assert pg_db.scalar("SELECT done FROM jobs") is True  # rolled back with afterSQL


def test_sql_error_has_server_message(pg_db, harness):
    with pytest.raises(TaskFailed, match=r'relation "missing" does not exist.*42P01'):
        query(pg_db, sql="SELECT * FROM missing").run(harness())


# --- connection failures, password hygiene ----------------------------------------------------------

def test_unreachable_server_fails_clearly(harness):
    task = Query.model_validate({"id": "q", "type": PG + "Query", "sql": "SELECT 1",
                                 "url": "jdbc:postgresql://127.0.0.1:1/nowhere",
                                 "username": "root", "password": "S3cret-pass"})
    ctx = harness()
    with pytest.raises(TaskFailed) as err:
        task.run(ctx)
    msg = str(err.value)
    assert "could not connect to PostgreSQL at 127.0.0.1:1/nowhere" in msg
    assert "refused" in msg.lower()
    assert "S3cret-pass" not in msg and "S3cret-pass" not in ctx.log_text()


def test_wrong_password_fails_and_is_never_shown(pg_db, harness):
    wrong = "not-the-Password-42"
    task = Query.model_validate({"id": "q", "type": PG + "Query", "sql": "SELECT 1",
                                 "url": pg_db.jdbc_url, "username": "root", "password": wrong})
    ctx = harness()
    with pytest.raises(TaskFailed) as err:
        task.run(ctx)
    msg = str(err.value)
    assert 'password authentication failed for user "root"' in msg
    assert wrong not in msg and wrong not in ctx.log_text()


def test_password_inside_url_is_scrubbed(pg_db, harness):
    wrong = "urlPassw0rd!"
    task = Query.model_validate({"id": "q", "type": PG + "Query", "sql": "SELECT 1",
                                 "url": f"jdbc:postgresql://127.0.0.1:1/x?user=root&password={wrong}"})
    with pytest.raises(TaskFailed) as err:
        task.run(harness())
    assert wrong not in str(err.value)


def test_missing_url_names_plugin_defaults(harness):
    with pytest.raises(TaskFailed, match="pluginDefaults"):
        Query.model_validate({"id": "q", "type": PG + "Query", "sql": "SELECT 1"}).run(harness())


# --- CopyIn / CopyOut -----------------------------------------------------------------------------

YELLOW_DDL = """CREATE TABLE public.yellow_staging (
    VendorID text, tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp, passenger_count integer,
    trip_distance double precision, RatecodeID text, store_and_fwd_flag text, PULocationID text,
    DOLocationID text, payment_type integer, fare_amount double precision, extra double precision,
    mta_tax double precision, tip_amount double precision, tolls_amount double precision,
    improvement_surcharge double precision, total_amount double precision,
    congestion_surcharge double precision)"""
YELLOW_COLUMNS = [
    "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", "passenger_count", "trip_distance",
    "RatecodeID", "store_and_fwd_flag", "PULocationID", "DOLocationID", "payment_type", "fare_amount",
    "extra", "mta_tax", "tip_amount", "tolls_amount", "improvement_surcharge", "total_amount",
    "congestion_surcharge",
]


def _yellow_csv(tmp_path: Path, rows: int, seed: int = 1) -> Path:
    from fixtures import taxi_data

    gz = taxi_data.write_month(tmp_path / "gen", "yellow", 2019, 1, rows, seed)
    out = tmp_path / "yellow.csv"
    out.write_bytes(gzip.decompress(gz.read_bytes()))
    return out


def test_copy_in_csv_with_header_and_columns(pg_db, harness, tmp_path):
    pg_db.execute(YELLOW_DDL)
    ctx = harness("yellow_copy_in")
    uri = ctx.put_file(_yellow_csv(tmp_path, 5000), "extract")
    out = copy_in(pg_db, format="CSV", header=True, columns=YELLOW_COLUMNS, table="public.yellow_staging",
                  **{"from": uri}).run(ctx)
    assert out == {"rowCount": 5000}
    assert pg_db.scalar("SELECT count(*) FROM yellow_staging") == 5000
    # unquoted names are case-folded, as in the zoomcamp DDL
    assert "COPY public.yellow_staging (VendorID, tpep_pickup_datetime," in ctx.log_text()
    assert pg_db.scalar("SELECT count(*) FROM yellow_staging WHERE vendorid IS NULL") > 0  # empty fields


def test_copy_in_properties_can_be_templates(pg_db, harness, tmp_path):
    pg_db.execute("CREATE TABLE t (a int, b text)")
    src = tmp_path / "t.csv"
    src.write_text("a;b\n1;x\n2;y\n")
    ctx = harness(hdr="true", cols=["a", "b"], tbl="public.t")
    uri = ctx.put_file(src)
    ctx.variables["src"] = uri
    out = copy_in(pg_db, format="{{ 'CSV' }}", header="{{ hdr }}", columns="{{ cols }}", table="{{ tbl }}",
                  delimiter=";", **{"from": "{{ src }}"}).run(ctx)
    assert out == {"rowCount": 2}


def test_copy_in_text_format_options(pg_db, harness, tmp_path):
    pg_db.execute("CREATE TABLE t (a int, b text, c text)")
    src = tmp_path / "t.txt"
    src.write_text("1|hello|NULL\n2|NULL|x\n")
    ctx = harness()
    out = copy_in(pg_db, table="t", delimiter="|", nullString="NULL", **{"from": ctx.put_file(src)}).run(ctx)
    assert out == {"rowCount": 2}
    assert pg_db.rows("SELECT a, b, c FROM t ORDER BY a") == [(1, "hello", None), (2, None, "x")]
    src.write_text("3\tit's\t\\N\n")
    copy_in(pg_db, table="t", delimiter="\\t", **{"from": ctx.put_file(src)}).run(ctx)  # `\t` = tab
    assert pg_db.rows("SELECT b, c FROM t WHERE a = 3") == [("it's", None)]


def test_copy_in_csv_quote_escape_force_null(pg_db, harness, tmp_path):
    pg_db.execute("CREATE TABLE t (a text, b text, c text)")
    src = tmp_path / "q.csv"
    src.write_text("'x\\'y','',\n'','z',''\n")
    ctx = harness()
    copy_in(pg_db, table="t", format="CSV", quote="'", escape="\\", forceNull=["b"], forceNotNull=["c"],
            **{"from": ctx.put_file(src)}).run(ctx)
    assert pg_db.rows("SELECT a, b, c FROM t ORDER BY a NULLS FIRST") == [("", "z", ""), ("x'y", None, "")]


def test_copy_out_then_binary_round_trip(pg_db, harness):
    pg_db.execute("CREATE TABLE src (id int, name text, at timestamp); INSERT INTO src "
                 "SELECT g, 'n' || g, timestamp '2020-01-01' + g * interval '1 hour' "
                 "FROM generate_series(1, 100) g; CREATE TABLE dst (LIKE src)")
    ctx = harness("export")
    csv_out = copy_out(pg_db, format="CSV", header=True,
                       sql="SELECT id, name FROM src WHERE id <= 3 ORDER BY id").run(ctx)
    assert csv_out["rowCount"] == 3
    assert ctx.storage.resolve(csv_out["uri"]).read_text() == "id,name\n1,n1\n2,n2\n3,n3\n"
    binary = copy_out(pg_db, format="BINARY", table="public.src").run(ctx)
    assert binary["rowCount"] == 100
    loaded = copy_in(pg_db, format="BINARY", table="dst", **{"from": binary["uri"]}).run(ctx)
    assert loaded == {"rowCount": 100}
    assert pg_db.scalar("SELECT count(*) FROM (SELECT * FROM src EXCEPT SELECT * FROM dst) d") == 0


def test_copy_in_malformed_row_fails_and_loads_nothing(pg_db, harness, tmp_path):
    pg_db.execute(YELLOW_DDL + "; INSERT INTO yellow_staging (VendorID) VALUES ('keep')")
    csv = _yellow_csv(tmp_path, 2000)
    lines = csv.read_text().splitlines(keepends=True)
    lines[1500] = "2,2019-01-05 10:00:00,not-a-timestamp,1,1.0,1,N,1,2,1,5,0,0.5,0,0,0.3,5.8,\n"
    csv.write_text("".join(lines))
    ctx = harness()
    with pytest.raises(TaskFailed) as err:
        copy_in(pg_db, format="CSV", header=True, columns=YELLOW_COLUMNS, table="public.yellow_staging",
                **{"from": ctx.put_file(csv)}).run(ctx)
    msg = str(err.value)
    assert "rolled back" in msg and "not-a-timestamp" in msg and "line 1501" in msg
    assert pg_db.rows("SELECT vendorid FROM yellow_staging") == [("keep",)]


def test_copy_in_wrong_column_list_fails(pg_db, harness, tmp_path):
    pg_db.execute(YELLOW_DDL)
    ctx = harness()
    uri = ctx.put_file(_yellow_csv(tmp_path, 10))
    cols = [c.replace("tpep", "lpep") for c in YELLOW_COLUMNS]  # green names on the yellow table
    with pytest.raises(TaskFailed, match='column "lpep_pickup_datetime" of relation "yellow_staging"'):
        copy_in(pg_db, format="CSV", header=True, columns=cols, table="yellow_staging",
                **{"from": uri}).run(ctx)
    with pytest.raises(TaskFailed, match="extra data after last expected column"):
        copy_in(pg_db, format="CSV", header=True, columns=YELLOW_COLUMNS[:5], table="yellow_staging",
                **{"from": uri}).run(ctx)
    assert pg_db.scalar("SELECT count(*) FROM yellow_staging") == 0


@pytest.mark.parametrize("props", [
    {"table": "t; DROP TABLE t"},
    {"table": "public.t", "columns": ["a); DROP TABLE t; --"]},
    {"table": "t", "forceNull": ["a b"]},
    {"table": "t", "format": "CSV", "delimiter": ",,"},
    {"table": "t", "encoding": "UTF8'); DROP"},
])
def test_copy_rejects_injection(pg_db, harness, tmp_path, props):
    pg_db.execute("CREATE TABLE t (a int)")
    src = tmp_path / "a.csv"
    src.write_text("1\n")
    ctx = harness()
    with pytest.raises(TaskFailed, match=r"property '(table|columns|forceNull|delimiter|encoding)'"):
        copy_in(pg_db, **props, **{"from": ctx.put_file(src)}).run(ctx)
    assert pg_db.scalar("SELECT count(*) FROM t") == 0


def test_copy_accepts_quoted_identifiers(pg_db, harness, tmp_path):
    pg_db.execute('CREATE SCHEMA "My Schema"; CREATE TABLE "My Schema"."T" ("Mixed" int)')
    src = tmp_path / "a.csv"
    src.write_text("5\n")
    ctx = harness()
    out = copy_in(pg_db, table='"My Schema"."T"', columns=['"Mixed"'], format="CSV",
                  **{"from": ctx.put_file(src)}).run(ctx)
    assert out == {"rowCount": 1}


def test_copy_in_streams_in_large_blocks(pg_db, harness, tmp_path, monkeypatch):
    """The file goes through COPY in 1 MiB writes without being loaded in memory."""
    pg_db.execute(YELLOW_DDL)
    csv = _yellow_csv(tmp_path, 60_000)
    size = csv.stat().st_size
    assert size > 5 * copy_tasks.CHUNK
    writes: list[int] = []
    real = copy_tasks.copy_file_in

    def spy(conn, statement, path, chunk=copy_tasks.CHUNK):
        import psycopg

        original = psycopg.Copy.write

        def write(self, block):
            writes.append(len(block))
            return original(self, block)

        monkeypatch.setattr(psycopg.Copy, "write", write)
        return real(conn, statement, path, chunk)

    monkeypatch.setattr(copy_tasks, "copy_file_in", spy)
    ctx = harness()
    uri = ctx.put_file(csv)
    tracemalloc.start()
    try:
        out = copy_in(pg_db, format="CSV", header=True, columns=YELLOW_COLUMNS, table="yellow_staging",
                      **{"from": uri}).run(ctx)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out == {"rowCount": 60_000}
    assert sum(writes) == size and max(writes) == copy_tasks.CHUNK
    assert len(writes) == -(-size // copy_tasks.CHUNK)
    assert peak < 4 * copy_tasks.CHUNK, f"peak Python memory {peak} bytes for a {size}-byte file"


def test_copy_in_from_must_be_internal_storage(pg_db, harness):
    with pytest.raises(TaskFailed, match="'from'"):
        copy_in(pg_db, table="t", **{"from": "/etc/passwd"}).run(harness())
