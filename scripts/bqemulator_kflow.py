"""bqemulator (PyPI, 1.4.0) with the two BigQuery behaviours kflow's GCP flows need and it lacks.

Run with the emulator's own virtualenv (scripts/gcp-emulators.sh does): `python bqemulator_kflow.py start ...`
takes bqemulator's CLI arguments.

1. `CREATE [OR REPLACE] EXTERNAL TABLE t (columns) OPTIONS (format = 'CSV', uris = [...], ...)`:
   bqemulator parses it as a plain empty table. Here it becomes a native table with those columns,
   filled by a load job from the objects, fetched from the GCS emulator ($KFLOW_GCS_ENDPOINT). A
   snapshot taken at creation instead of a live view of the files: the same for a flow that reads the
   table right after creating it (the zoomcamp flows do). A missing object fails the job with
   BigQuery's `Not found: URI gs://...`. Load jobs from gs:// URIs read the objects the same way
   (bqemulator itself only reads a local folder).
2. Query jobs with `destinationTable`: bqemulator returns the rows but writes nothing. Here the
   result is written per `writeDisposition` (WRITE_EMPTY default, WRITE_TRUNCATE, WRITE_APPEND) and
   `createDisposition` (CREATE_IF_NEEDED default, CREATE_NEVER), with BigQuery's messages.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bqemulator.api.routes import jobs as routes
from bqemulator.cli import main
from bqemulator.domain.errors import AlreadyExistsError, InvalidQueryError, NotFoundError
from bqemulator.jobs import executor

_EXTERNAL = re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?EXTERNAL\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?", re.I)
_NAME = re.compile(r"`[^`]+`(?:\.`[^`]+`)*|[\w.-]+")
_original_query = executor.execute_query_job
_original_load = executor.execute_load_job
_original_envelope = routes._execute_query_or_failed_meta


def _balanced(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at text[start], quotes respected."""
    depth, i, quote = 0, start, None
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise InvalidQueryError("Syntax error: unbalanced parentheses in CREATE EXTERNAL TABLE")


def _options(text: str) -> dict[str, Any]:
    """`key = value, ...` of an OPTIONS (...) list: strings, numbers, booleans, string arrays."""
    out: dict[str, Any] = {}
    value = r"\[[^\]]*\]|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^,\s]+"
    for key, raw in re.findall(rf"(\w+)\s*=\s*({value})", text, re.S):
        raw = raw.strip()
        if raw.startswith("["):
            out[key.lower()] = [s[1:-1] for s in re.findall(r"'[^']*'|\"[^\"]*\"", raw)]
        elif raw[0] in "'\"":
            out[key.lower()] = raw[1:-1]
        elif raw.upper() in ("TRUE", "FALSE"):
            out[key.lower()] = raw.upper() == "TRUE"
        else:
            out[key.lower()] = int(raw) if raw.isdigit() else raw
    return out


def _table_ref(name: str, project_id: str) -> dict[str, str]:
    parts = [p for p in re.split(r"[.`]", name) if p]
    if len(parts) == 2:
        parts.insert(0, project_id)
    if len(parts) != 3:
        raise InvalidQueryError(f"Table name \"{name}\" missing dataset while no default dataset is set")
    return {"projectId": parts[0], "datasetId": parts[1], "tableId": parts[2]}


def _stage(uri: str, root: Path) -> None:
    """Copy gs://bucket/object from the GCS emulator to root/bucket/object (where loads read)."""
    endpoint = os.environ.get("KFLOW_GCS_ENDPOINT", "").rstrip("/")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not endpoint or "*" in name:
        return  # wildcards: objects are expected under the local root already
    quote = urllib.parse.quote
    url = f"{endpoint}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise NotFoundError(f"Not found: URI {uri}") from None
        raise
    target = root / bucket / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


async def _external_table(project_id: str, job_id: str, bq_sql: str, ctx: Any, **kw: Any):
    head = _EXTERNAL.match(bq_sql)
    assert head is not None
    rest = bq_sql[head.end():]
    name = _NAME.match(rest.lstrip())
    if name is None:
        raise InvalidQueryError("Syntax error: expected a table name after CREATE EXTERNAL TABLE")
    after = rest.lstrip()[name.end():]
    columns = ""
    if after.lstrip().startswith("("):
        start = after.index("(")
        end = _balanced(after, start)
        columns, after = after[start:end], after[end:]
    opt = re.search(r"OPTIONS\s*\(", after, re.I)
    if opt is None:
        raise InvalidQueryError("CREATE EXTERNAL TABLE needs OPTIONS (format = ..., uris = [...])")
    options = _options(after[opt.end() - 1:_balanced(after, opt.end() - 1)])
    fmt = str(options.get("format", "CSV")).upper()
    uris = options.get("uris") or []
    if not uris:
        raise InvalidQueryError("CREATE EXTERNAL TABLE needs OPTIONS uris = ['gs://...']")
    if not columns and fmt == "CSV":
        raise InvalidQueryError("kflow's emulator needs the column list of a CSV external table")
    replace = "OR REPLACE " if head.group(1) else ""
    exists = "IF NOT EXISTS " if head.group(2) else ""
    ddl = f"CREATE {replace}TABLE {exists}{name.group(0)} {columns}"
    meta = await _original_query(project_id, job_id, ddl, None, ctx, **kw)
    load: dict[str, Any] = {
        "sourceUris": uris, "destinationTable": _table_ref(name.group(0), project_id),
        "sourceFormat": {"CSV": "CSV", "JSON": "NEWLINE_DELIMITED_JSON", "NEWLINE_DELIMITED_JSON":
                         "NEWLINE_DELIMITED_JSON", "PARQUET": "PARQUET", "AVRO": "AVRO"}.get(fmt, fmt),
        "writeDisposition": "WRITE_TRUNCATE", "createDisposition": "CREATE_NEVER",
    }
    for src, dst in (("skip_leading_rows", "skipLeadingRows"), ("field_delimiter", "fieldDelimiter"),
                     ("ignore_unknown_values", "ignoreUnknownValues"), ("quote", "quote"),
                     ("allow_quoted_newlines", "allowQuotedNewlines"), ("null_marker", "nullMarker")):
        if src in options:
            load[dst] = options[src]
    try:
        await execute_load_job(project_id, f"{job_id}_external_{uuid.uuid4().hex[:8]}", {"load": load}, ctx)
    except (NotFoundError, InvalidQueryError):
        raise
    except Exception as exc:  # DuckDB conversion errors: BigQuery reports them as invalid data
        raise InvalidQueryError(f"Error while reading table: {name.group(0)}, error message: {exc}") from None
    return meta


async def execute_load_job(project_id: str, job_id: str, config: dict[str, Any], ctx: Any):
    """Load jobs read gs:// URIs under the local root: fetch the objects from the GCS emulator first."""
    root = Path(ctx.settings.gcs_local_root or "/tmp/kflow-gcs-staging")
    for uri in (config.get("load") or {}).get("sourceUris") or []:
        if uri.startswith("gs://"):
            _stage(uri, root)
    return await _original_load(project_id, job_id, config, ctx)


async def execute_query_job(project_id: str, job_id: str, bq_sql: str, query_params: Any, ctx: Any, **kw: Any):
    if _EXTERNAL.match(bq_sql):
        return await _external_table(project_id, job_id, bq_sql, ctx, **kw)
    return await _original_query(project_id, job_id, bq_sql, query_params, ctx, **kw)


def _is_select(bq_sql: str) -> bool:
    return re.match(r"^\s*(\(\s*)*(SELECT|WITH)\b", bq_sql, re.I) is not None


async def _execute_query_or_failed_meta(**kw: Any):
    config = kw.get("query_config") or {}
    dest = config.get("destinationTable")
    if not dest or not _is_select(kw["bq_sql"]):
        return await _original_envelope(**kw)
    ctx, project = kw["ctx"], dest.get("projectId") or kw["project_id"]
    table = f"`{project}`.`{dest['datasetId']}`.`{dest['tableId']}`"
    shown = f"{project}:{dest['datasetId']}.{dest['tableId']}"
    current = ctx.catalog.get_table(project, dest["datasetId"], dest["tableId"])
    write = config.get("writeDisposition") or "WRITE_EMPTY"
    try:
        if current is None and config.get("createDisposition") == "CREATE_NEVER":
            raise NotFoundError(f"Not found: Table {shown}")
        if current is not None and write == "WRITE_EMPTY" and (current.num_rows or 0) > 0:
            raise AlreadyExistsError(f"Already Exists: Table {shown}")
    except (NotFoundError, AlreadyExistsError) as exc:
        return routes._failed_job_meta(project_id=kw["project_id"], job_id=kw["job_id"], job_type="QUERY",
                                       config=kw["config"], error_result=routes._domain_error_to_error_result(exc),
                                       now=ctx.clock.now())
    meta = await _original_envelope(**kw)
    if meta.error_result:
        return meta
    sql = kw["bq_sql"].strip().rstrip(";")
    write_sql = (f"INSERT INTO {table} {sql}" if current is not None and write == "WRITE_APPEND"
                 else f"CREATE OR REPLACE TABLE {table} AS {sql}")
    await _original_query(kw["project_id"], f"{kw['job_id']}_destination", write_sql, kw.get("query_params"),
                          ctx, caller=kw.get("caller"))
    return meta


executor.execute_query_job = execute_query_job
executor.execute_load_job = execute_load_job
routes.execute_query_job = execute_query_job
routes.execute_load_job = execute_load_job
routes._execute_query_or_failed_meta = _execute_query_or_failed_meta

if __name__ == "__main__":
    main()
