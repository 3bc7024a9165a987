"""`io.kestra.plugin.jdbc.postgresql.Query` and `Queries`.

Query: one SQL text (several statements are allowed when there are no parameters, as with pgjdbc),
autocommit unless `afterSQL` is set (then sql + afterSQL commit together). Queries: the SQL is split
into statements (quotes, dollar quotes and comments respected), run in one transaction by default
(`transaction: false` commits each), and every statement that returns rows adds an element to
`outputs`. `parameters` bind `:name` placeholders as real query parameters (never spliced into SQL).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from psycopg.types.json import Jsonb
from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.base import RunContext
from kflow.tasks.ion import IonRowWriter
from kflow.tasks.postgresql.connection import PostgresConnection, close_quietly, error_text
from kflow.tasks.postgresql.props import as_bool, as_enum, as_int, as_map, as_str
from kflow.tasks.registry import register
from kflow.tasks.rows import row_to_json

FETCH_TYPES = ("NONE", "FETCH", "FETCH_ONE", "STORE")

# --- lexical scan ----------------------------------------------------------------------------------

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def scan(sql: str) -> Iterator[tuple[str, str]]:
    """Split SQL into ("code" | "literal" | "comment", text) pieces; `;` only matters in code."""
    i, n, start = 0, len(sql), 0
    while i < n:
        ch = sql[i]
        if ch == "'" or (ch in "eE" and i + 1 < n and sql[i + 1] == "'" and
                         (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_"))):
            backslash = ch in "eE"
            j = i + (2 if backslash else 1)
            while j < n:
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == "'":
                    if j + 1 < n and sql[j + 1] == "'":
                        j += 2
                        continue
                    break
                j += 1
            if start < i:
                yield "code", sql[start:i]
            yield "literal", sql[i:j + 1]
            i = start = j + 1
        elif ch == '"':
            j = i + 1
            while j < n:
                if sql[j] == '"':
                    if j + 1 < n and sql[j + 1] == '"':
                        j += 2
                        continue
                    break
                j += 1
            if start < i:
                yield "code", sql[start:i]
            yield "literal", sql[i:j + 1]
            i = start = j + 1
        elif ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            if start < i:
                yield "code", sql[start:i]
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "/" and sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if start < i:
                yield "code", sql[start:i]
            yield "comment", sql[i:j]
            i = start = j
        elif ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            m = _DOLLAR.match(sql, i)
            if not m:
                i += 1
                continue
            tag = m.group(0)
            j = sql.find(tag, m.end())
            j = n if j < 0 else j + len(tag)
            if start < i:
                yield "code", sql[start:i]
            yield "literal", sql[i:j]
            i = start = j
        else:
            i += 1
    if start < n:
        yield "code", sql[start:]


def split_statements(sql: str) -> list[str]:
    """Top-level `;`-separated statements, blank and comment-only ones dropped."""
    statements: list[str] = []
    current: list[str] = []
    meaningful = False

    def flush() -> None:
        nonlocal meaningful
        text = "".join(current).strip()
        if text and meaningful:
            statements.append(text)
        current.clear()
        meaningful = False

    for kind, text in scan(sql):
        if kind != "code":
            current.append(text)
            meaningful = meaningful or kind == "literal"
            continue
        parts = text.split(";")
        for k, part in enumerate(parts):
            if k:
                flush()
            current.append(part)
            meaningful = meaningful or bool(part.strip())
    flush()
    return statements


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def bind_named(sql: str, parameters: dict[str, Any]) -> tuple[str, list[Any]]:
    """`:name` placeholders (outside quotes/comments, not `::casts`) → psycopg `%s` + values in order."""
    out: list[str] = []
    values: list[Any] = []
    for kind, text in scan(sql):
        text = text.replace("%", "%%")
        if kind != "code":
            out.append(text)
            continue

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in parameters:
                raise TaskFailed(f"the SQL uses the parameter :{name} but 'parameters' has no '{name}' "
                                 f"(known: {', '.join(sorted(parameters)) or 'none'})")
            values.append(adapt_parameter(parameters[name]))
            return "%s"

        out.append(_PARAM.sub(repl, text))
    return "".join(out), values


def adapt_parameter(value: Any) -> Any:
    if isinstance(value, dict):
        return Jsonb(value)
    if isinstance(value, list):
        return [adapt_parameter(v) for v in value]
    return value


# --- tasks -----------------------------------------------------------------------------------------


class _JdbcQuery(PostgresConnection):
    sql: str
    afterSQL: str | None = None
    timeZoneId: str | None = None
    fetchType: str = "NONE"
    fetchSize: int | str = 10000
    parameters: dict[str, Any] | str | None = None
    # Deprecated booleans (Kestra < 0.19): they win over fetchType, in this order.
    fetch_: bool | str = Field(default=False, alias="fetch")
    fetchOne: bool | str = False
    store: bool | str = False

    def fetch_type(self, ctx: RunContext) -> str:
        if as_bool(ctx, self.fetch_, "fetch", False):
            return "FETCH"
        if as_bool(ctx, self.fetchOne, "fetchOne", False):
            return "FETCH_ONE"
        if as_bool(ctx, self.store, "store", False):
            return "STORE"
        return as_enum(ctx, self.fetchType, "fetchType", FETCH_TYPES, "NONE") or "NONE"

    def execute(self, ctx: RunContext, cur: psycopg.Cursor, statement: str, params: dict[str, Any]) -> None:
        if params:
            query, values = bind_named(statement, params)
            cur.execute(query, values)
        else:
            cur.execute(statement)

    def collect(self, ctx: RunContext, cur: psycopg.Cursor, fetch_type: str, fetch_size: int,
                more_sets: bool) -> dict[str, Any]:
        """Read the current result set (and, for FETCH/STORE, the following ones when `more_sets`)."""
        columns = [c.name for c in cur.description or []]
        if fetch_type == "NONE":
            return {}
        if fetch_type == "FETCH_ONE":
            row = cur.fetchone()
            return {"row": row_to_json(columns, row) if row is not None else None,
                    "size": 0 if row is None else 1}
        if fetch_type == "FETCH":
            rows: list[dict[str, Any]] = []
            while True:
                rows.extend(row_to_json(columns, r) for r in cur.fetchall())
                if not (more_sets and _next_result_set(cur)):
                    break
                columns = [c.name for c in cur.description or []]
            return {"rows": rows, "size": len(rows)}
        # STORE: Ion text, one struct per line, into the execution's internal storage.
        fd, tmp = tempfile.mkstemp(prefix=f"{ctx.task_id}-", suffix=".ion", dir=_tmp_dir(ctx))
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            writer = IonRowWriter(f, columns)
            while True:
                while batch := cur.fetchmany(fetch_size):
                    for row in batch:
                        writer.write(row)
                if not (more_sets and _next_result_set(cur)):
                    break
                writer = _rekey(writer, cur)
        uri = ctx.storage.put(ctx.task_id, ctx.task_run_id, Path(tmp), name=f"{ctx.task_id}.ion", move=True)
        return {"uri": uri, "size": writer.count}


def _rekey(writer: IonRowWriter, cur: psycopg.Cursor) -> IonRowWriter:
    nxt = IonRowWriter(writer.out, [c.name for c in cur.description or []])
    nxt.count = writer.count
    return nxt


def _next_result_set(cur: psycopg.Cursor) -> bool:
    while cur.nextset():
        if cur.description is not None:
            return True
    return False


def _tmp_dir(ctx: RunContext) -> str | None:
    wd = Path(ctx.workdir) if ctx.workdir else None
    if wd is not None:
        wd.mkdir(parents=True, exist_ok=True)
        return str(wd)
    return None


def _sql_failed(connector: Any, e: BaseException, where: str = "") -> TaskFailed:
    prefix = f"{where}: " if where else ""
    return TaskFailed(prefix + connector.scrub(error_text(e)))


@register()
class Query(_JdbcQuery):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.Query"

    def run(self, ctx: RunContext) -> dict[str, Any]:
        tz = as_str(ctx, self.timeZoneId, "timeZoneId")
        connector = self.connector(ctx, time_zone=tz)
        sql = as_str(ctx, self.sql, "sql", required=True) or ""
        after = as_str(ctx, self.afterSQL, "afterSQL")
        after = after if after and after.strip() else None
        fetch_type = self.fetch_type(ctx)
        fetch_size = as_int(ctx, self.fetchSize, "fetchSize", 10000, minimum=1) or 10000
        params = as_map(ctx, self.parameters, "parameters")
        if after is not None and len(split_statements(after)) > 1:
            raise TaskFailed("Query task afterSQL supports only a single SQL statement; "
                             "use the Queries task to run multiple statements")
        ctx.log("DEBUG", f"connecting to {connector.describe()}")
        conn = connector.connect(autocommit=after is None)
        try:
            cur = conn.cursor()
            try:
                self.execute(ctx, cur, sql, params)
                # First statement that returned rows (pgjdbc reports the first result set).
                has_rows = cur.description is not None or _next_result_set(cur)
                output = (self.collect(ctx, cur, fetch_type, fetch_size, more_sets=True)
                          if has_rows else {})
                if after is not None:
                    self.execute(ctx, cur, after, params)
                    conn.commit()
            except TaskFailed:
                raise
            except psycopg.Error as e:
                raise _sql_failed(connector, e) from None
            if "size" in output:
                ctx.log("INFO", f"fetched {output['size']} row(s) ({fetch_type})")
            elif fetch_type == "NONE" and has_rows:
                ctx.log("INFO", "fetchType is set to NONE, no output will be returned")
            return output
        finally:
            close_quietly(conn)


@register()
class Queries(_JdbcQuery):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.Queries"

    transaction: bool | str = True

    def run(self, ctx: RunContext) -> dict[str, Any]:
        tz = as_str(ctx, self.timeZoneId, "timeZoneId")
        connector = self.connector(ctx, time_zone=tz)
        sql = as_str(ctx, self.sql, "sql", required=True) or ""
        after = as_str(ctx, self.afterSQL, "afterSQL")
        transactional = as_bool(ctx, self.transaction, "transaction", True)
        fetch_type = self.fetch_type(ctx)
        fetch_size = as_int(ctx, self.fetchSize, "fetchSize", 10000, minimum=1) or 10000
        params = as_map(ctx, self.parameters, "parameters")
        statements = split_statements(sql)
        if after and after.strip():
            statements += split_statements(after)
        ctx.log("DEBUG", f"connecting to {connector.describe()}")
        conn = connector.connect(autocommit=not transactional)
        outputs: list[dict[str, Any]] = []
        done: list[str] = []
        total = 0
        try:
            cur = conn.cursor()
            for n, statement in enumerate(statements, 1):
                try:
                    self.execute(ctx, cur, statement, params)
                    done.append(cur.statusmessage or "?")
                    if cur.description is not None or _next_result_set(cur):
                        out = self.collect(ctx, cur, fetch_type, fetch_size, more_sets=False)
                        total += int(out.get("size", 0))
                        outputs.append(out)
                except TaskFailed:
                    raise
                except psycopg.Error as e:
                    where = f"statement {n} of {len(statements)}" if len(statements) > 1 else ""
                    if transactional:
                        where += (" (rolled back, no statement applied)" if where
                                  else "rolled back, no statement applied")
                    raise _sql_failed(connector, e, where) from None
            if transactional:
                try:
                    conn.commit()
                except psycopg.Error as e:
                    raise _sql_failed(connector, e, "commit") from None
            ctx.log("INFO", f"ran {len(statements)} statement(s): {'; '.join(done)}"
                    + (f"; fetched {total} row(s)" if fetch_type != "NONE" else ""))
            return {"outputs": outputs}
        finally:
            close_quietly(conn)
