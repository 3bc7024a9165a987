"""FILE inputs, core.storage, compress and serdes tasks on `kflow run`'s local runner."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from kflow.engine.state import State
from kflow.errors import InputsInvalid
from kflow.runner.storage import ExecutionStorage
from kflow.tasks import ion

CSV = "id,name,amount,day\n1,ann,10.50,2024-01-02\n2,bob,,2024-01-03\n1,ann,12.00,2024-01-04\n3,,7.25,2024-01-05\n"


def _file(run, uri: str) -> Path:
    ex = run.ex
    root = run.storage / ex.namespace.replace(".", "/") / ex.flowId / "executions" / ex.id
    return ExecutionStorage(root, ex.namespace, ex.flowId, ex.id).resolve(uri)


def _errors(run) -> list:
    return [(tr.taskId, tr.error) for tr in run.ex.taskRuns if tr.error]


def test_file_input_is_stored_and_read_by_duckdb(run_flow, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text(CSV)
    run = run_flow("""
        id: file_input
        namespace: demo.io
        inputs:
          - id: data
            type: FILE
            allowedFileExtensions: [.csv]
        tasks:
          - id: total
            type: io.kestra.plugin.jdbc.duckdb.Query
            inputFiles:
              data.csv: "{{ inputs.data }}"
            sql: SELECT count(*) AS n, sum(amount) AS total FROM read_csv_auto('{{ workingDir }}/data.csv')
            fetchType: FETCH_ONE
    """, inputs={"data": f"@{data}"})
    assert run.state == State.SUCCESS, _errors(run)
    uri = run.ex.inputs["data"]
    assert uri == f"kestra:///demo/io/file_input/executions/{run.ex.id}/inputs/data/sales.csv"
    assert _file(run, uri).read_text() == CSV
    assert run.outputs("total")["row"] == {"n": 4, "total": 29.75}


def test_duckdb_sql_reads_kestra_uris_directly(run_flow, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text(CSV)
    run = run_flow("""
        id: uri_sql
        namespace: demo.io
        inputs:
          - {id: data, type: FILE}
        tasks:
          - id: copy
            type: io.kestra.plugin.core.storage.Write
            content: "{{ read(inputs.data) }}"
            extension: .csv
          - id: total
            type: io.kestra.plugin.jdbc.duckdb.Queries
            sql: |
              CREATE TABLE a AS SELECT * FROM read_csv_auto('{{ inputs.data }}');
              SELECT count(*) AS n, (SELECT count(*) FROM read_csv_auto('{{ outputs.copy.uri }}')) AS m FROM a;
            fetchType: FETCH_ONE
    """, inputs={"data": f"@{data}"})
    assert run.state == State.SUCCESS, _errors(run)
    assert run.outputs("total")["outputs"][-1]["row"] == {"n": 4, "m": 4}


def test_file_input_errors_create_nothing(run_flow, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    flow = """
        id: file_bad
        namespace: demo.io
        inputs:
          - id: data
            type: FILE
            allowedFileExtensions: [.csv]
        tasks:
          - id: log
            type: io.kestra.plugin.core.log.Log
            message: "{{ inputs.data }}"
    """
    with pytest.raises(InputsInvalid, match="file not found"):
        run_flow(flow, inputs={"data": str(tmp_path / "missing.csv")})
    with pytest.raises(InputsInvalid, match=r"extensions `\[\.csv\]`, but received `notes.txt`"):
        run_flow(flow, inputs={"data": f"file://{tmp_path}/notes.txt"})
    assert not list((tmp_path / "storage").rglob("notes.txt"))  # the copy was removed


def test_csv_filter_dedupe_json_parquet_avro_round_trip(run_flow, tmp_path):
    data = tmp_path / "sales.csv"
    data.write_text(CSV)
    schema = json.dumps({"type": "record", "name": "sale", "fields": [
        {"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"]},
        {"name": "amount", "type": ["null", {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}]},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}}]})
    run = run_flow(f"""
        id: serdes
        namespace: demo.io
        inputs:
          - id: data
            type: FILE
        tasks:
          - id: csv
            type: io.kestra.plugin.serdes.csv.CsvToIon
            from: "{{{{ inputs.data }}}}"
          - id: named
            type: io.kestra.plugin.core.storage.FilterItems
            from: "{{{{ outputs.csv.uri }}}}"
            filterCondition: "{{{{ name == '' }}}}"
            filterType: EXCLUDE
          - id: dedupe
            type: io.kestra.plugin.core.storage.DeduplicateItems
            from: "{{{{ outputs.named.uri }}}}"
            expr: "{{{{ id }}}}"
          - id: jsonl
            type: io.kestra.plugin.serdes.json.IonToJson
            from: "{{{{ outputs.dedupe.uri }}}}"
          - id: back
            type: io.kestra.plugin.serdes.json.JsonToIon
            from: "{{{{ outputs.jsonl.uri }}}}"
          - id: parquet
            type: io.kestra.plugin.serdes.parquet.IonToParquet
            from: "{{{{ outputs.back.uri }}}}"
            schema: '{schema}'
          - id: from_parquet
            type: io.kestra.plugin.serdes.parquet.ParquetToIon
            from: "{{{{ outputs.parquet.uri }}}}"
          - id: avro
            type: io.kestra.plugin.serdes.avro.IonToAvro
            from: "{{{{ outputs.from_parquet.uri }}}}"
            schema: '{schema}'
          - id: from_avro
            type: io.kestra.plugin.serdes.avro.AvroToIon
            from: "{{{{ outputs.avro.uri }}}}"
          - id: to_csv
            type: io.kestra.plugin.serdes.csv.IonToCsv
            from: "{{{{ outputs.from_avro.uri }}}}"
          - id: json_array
            type: io.kestra.plugin.serdes.json.IonToJson
            from: "{{{{ outputs.from_avro.uri }}}}"
            newLine: false
    """, inputs={"data": str(data)})
    assert run.state == State.SUCCESS, _errors(run)
    assert run.outputs("named")["droppedItemsTotal"] == 1
    assert run.outputs("dedupe") | {"uri": None} == {"uri": None, "numKeys": 2, "processedItemsTotal": 3,
                                                     "droppedItemsTotal": 1}
    lines = _file(run, run.outputs("jsonl")["uri"]).read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"id": "2", "name": "bob", "amount": "", "day": "2024-01-03"},
                                              {"id": "1", "name": "ann", "amount": "12.00", "day": "2024-01-04"}]
    import pyarrow.parquet as pq

    table = pq.read_table(_file(run, run.outputs("parquet")["uri"]))
    assert str(table.schema.field("amount").type) == "decimal128(9, 2)" and table.num_rows == 2
    rows = list(ion.read_rows(_file(run, run.outputs("from_avro")["uri"]), exact=True))
    assert rows[1]["id"] == 1 and str(rows[1]["amount"]) == "12.00" and rows[0]["amount"] is None
    assert str(rows[1]["day"]) == "2024-01-04"
    assert _file(run, run.outputs("to_csv")["uri"]).read_text() == \
        "id,name,amount,day\n2,bob,,2024-01-03\n1,ann,12.00,2024-01-04\n"
    assert json.loads(_file(run, run.outputs("json_array")["uri"]).read_text())[1]["amount"] == 12.0


def test_avro_schema_mismatch_names_the_row(run_flow, tmp_path):
    run = run_flow("""
        id: avro_bad
        namespace: demo.io
        tasks:
          - id: rows
            type: io.kestra.plugin.core.storage.Write
            content: '{"n":"1"}\n{"n":"x"}\n'
          - id: avro
            type: io.kestra.plugin.serdes.avro.IonToAvro
            from: "{{ outputs.rows.uri }}"
            schema: '{"type": "record", "name": "r", "fields": [{"name": "n", "type": "int"}]}'
    """)
    assert run.state == State.FAILED
    assert run.run("avro").error == "row 1: n: 'x' is not a valid int"


def test_storage_tasks(run_flow):
    run = run_flow("""
        id: storage
        namespace: demo.io
        tasks:
          - id: a
            type: io.kestra.plugin.core.storage.Write
            content: "1\\n2\\n3\\n"
            extension: .txt
          - id: b
            type: io.kestra.plugin.core.storage.Write
            content: "4\\n5\\n"
            extension: txt
          - id: concat
            type: io.kestra.plugin.core.storage.Concat
            files: ["{{ outputs.a.uri }}", "{{ outputs.b.uri }}"]
            extension: .txt
          - id: concat_json
            type: io.kestra.plugin.core.storage.Concat
            files: '["{{ outputs.b.uri }}", "{{ outputs.a.uri }}"]'
            separator: "--\\n"
          - id: size
            type: io.kestra.plugin.core.storage.Size
            uri: "{{ outputs.concat.uri }}"
          - id: split
            type: io.kestra.plugin.core.storage.Split
            from: "{{ outputs.concat.uri }}"
            rows: 2
          - id: split_bytes
            type: io.kestra.plugin.core.storage.Split
            from: "{{ outputs.concat.uri }}"
            bytes: 4B
          - id: partitions
            type: io.kestra.plugin.core.storage.Split
            from: "{{ outputs.concat.uri }}"
            partitions: 2
          - id: reverse
            type: io.kestra.plugin.core.storage.Reverse
            from: "{{ outputs.concat.uri }}"
          - id: local
            type: io.kestra.plugin.core.storage.LocalFiles
            inputs:
              in/a.txt: "{{ outputs.a.uri }}"
              note.md: "hello {{ flow.id }}"
            outputs: ["**.md", "in/*"]
          - id: delete
            type: io.kestra.plugin.core.storage.Delete
            uri: "{{ outputs.b.uri }}"
          - id: delete_again
            type: io.kestra.plugin.core.storage.Delete
            uri: "{{ outputs.b.uri }}"
    """)
    assert run.state == State.SUCCESS, _errors(run)
    text = lambda uri: _file(run, uri).read_text()  # noqa: E731
    assert text(run.outputs("concat")["uri"]) == "1\n2\n3\n4\n5\n"
    assert text(run.outputs("concat_json")["uri"]) == "4\n5\n--\n1\n2\n3\n"
    assert run.outputs("size")["size"] == 10
    assert [text(u) for u in run.outputs("split")["uris"]] == ["1\n2\n", "3\n4\n", "5\n"]
    assert [text(u) for u in run.outputs("split_bytes")["uris"]] == ["1\n2\n", "3\n4\n", "5\n"]
    assert [text(u) for u in run.outputs("partitions")["uris"]] == ["1\n2\n", "3\n4\n5\n"]
    assert text(run.outputs("reverse")["uri"]) == "5\n4\n3\n2\n1\n"
    local = run.outputs("local")["uris"]
    assert sorted(local) == ["in/a.txt", "note.md"] and text(local["note.md"]) == "hello storage"
    assert run.outputs("delete")["deleted"] is True and run.outputs("delete_again")["deleted"] is False


@pytest.mark.parametrize("algorithm,compression", [("ZIP", None), ("TAR", "GZIP"), ("TAR", "BZIP2"),
                                                   ("ZIP", "XZ"), ("JAR", None)])
def test_archive_round_trip(run_flow, algorithm, compression):
    comp = f"compression: {compression}" if compression else ""
    run = run_flow(f"""
        id: archive
        namespace: demo.io
        tasks:
          - id: a
            type: io.kestra.plugin.core.storage.Write
            content: "alpha"
            extension: .txt
          - id: pack
            type: io.kestra.plugin.compress.ArchiveCompress
            algorithm: {algorithm}
            {comp}
            from:
              docs/a.txt: "{{{{ outputs.a.uri }}}}"
              b file.txt: "{{{{ outputs.a.uri }}}}"
          - id: unpack
            type: io.kestra.plugin.compress.ArchiveDecompress
            algorithm: {algorithm}
            {comp}
            from: "{{{{ outputs.pack.uri }}}}"
    """)
    assert run.state == State.SUCCESS, _errors(run)
    packed = _file(run, run.outputs("pack")["uri"]).read_bytes()
    if compression == "GZIP":
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as tar:
            assert tar.getnames() == ["docs/a.txt", "b file.txt"]
    if algorithm == "ZIP" and not compression:
        assert zipfile.ZipFile(io.BytesIO(packed)).namelist() == ["docs/a.txt", "b file.txt"]
    files = run.outputs("unpack")["files"]
    assert sorted(files) == ["b_file.txt", "docs/a.txt"]
    assert _file(run, files["docs/a.txt"]).read_text() == "alpha"


@pytest.mark.parametrize("compression", ["GZIP", "BZIP2", "XZ", "LZMA", "DEFLATE"])
def test_file_compress_round_trip(run_flow, compression):
    run = run_flow(f"""
        id: compress
        namespace: demo.io
        tasks:
          - id: a
            type: io.kestra.plugin.core.storage.Write
            content: "{'x' * 1000}"
            extension: .csv
          - id: pack
            type: io.kestra.plugin.compress.FileCompress
            compression: {compression}
            from: "{{{{ outputs.a.uri }}}}"
          - id: unpack
            type: io.kestra.plugin.compress.FileDecompress
            compression: {compression}
            from: "{{{{ outputs.pack.uri }}}}"
    """)
    assert run.state == State.SUCCESS, _errors(run)
    packed = _file(run, run.outputs("pack")["uri"])
    assert packed.stat().st_size < 200
    if compression == "GZIP":
        assert packed.name.endswith("content.csv.gz") and gzip.decompress(packed.read_bytes()) == b"x" * 1000
    out = _file(run, run.outputs("unpack")["uri"])
    assert out.read_text() == "x" * 1000 and out.name.endswith("content.csv")


def test_decompress_garbage_fails_cleanly(run_flow):
    run = run_flow("""
        id: garbage
        namespace: demo.io
        tasks:
          - id: a
            type: io.kestra.plugin.core.storage.Write
            content: "not gzip"
          - id: unpack
            type: io.kestra.plugin.compress.FileDecompress
            compression: GZIP
            from: "{{ outputs.a.uri }}"
    """)
    assert run.state == State.FAILED
    assert run.run("unpack").error.startswith("from: cannot read the GZIP file: Not a gzipped file")


def test_file_input_from_another_executions_uri_is_copied_in(run_flow):
    first = run_flow("""
        id: producer
        namespace: demo.io
        tasks:
          - id: w
            type: io.kestra.plugin.core.storage.Write
            content: "made upstream"
            extension: .txt
    """)
    uri = first.outputs("w")["uri"]
    second = run_flow("""
        id: consumer
        namespace: demo.io
        inputs:
          - id: data
            type: FILE
        tasks:
          - id: size
            type: io.kestra.plugin.core.storage.Size
            uri: "{{ inputs.data }}"
    """, inputs={"data": uri})
    assert second.state == State.SUCCESS, _errors(second)
    assert second.outputs("size")["size"] == len("made upstream")
    assert f"/executions/{second.ex.id}/inputs/data/" in second.ex.inputs["data"]
    with pytest.raises(InputsInvalid, match="file not found in internal storage"):
        run_flow("""
            id: consumer2
            namespace: demo.io
            inputs:
              - id: data
                type: FILE
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: x
        """, inputs={"data": "kestra:///demo/io/producer/executions/nope/x.txt"})
