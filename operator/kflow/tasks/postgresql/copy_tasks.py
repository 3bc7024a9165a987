"""`io.kestra.plugin.jdbc.postgresql.CopyIn` and `CopyOut` (COPY ... FROM STDIN / TO STDOUT).

The statement is generated like Kestra's plugin: `COPY <table> [(c1, c2)] FROM STDIN [WITH (...)]`,
with names written as given (unquoted names are case-folded by the server, exactly as the zoomcamp
DDL expects) but only after checking each is a plain identifier (or a well-formed double-quoted
one), so no property can inject SQL. Option values are emitted as quoted literals.

CopyIn streams the file to the server in 1 MiB blocks (no per-row Python work, nothing loaded in
memory) inside one transaction: a bad row rolls the whole COPY back. CopyOut streams the server's
blocks to a file in internal storage.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from pydantic import Field

from kflow.errors import TaskFailed
from kflow.runner.storage import StorageError
from kflow.tasks.base import RunContext
from kflow.tasks.postgresql.connection import PostgresConnection, close_quietly, error_text, socket_timeout_of
from kflow.tasks.postgresql.props import as_bool, as_enum, as_str, as_str_list
from kflow.tasks.registry import register

FORMATS = ("TEXT", "CSV", "BINARY")
CHUNK = 1 << 20  # 1 MiB per write: few Python calls, the server's parsing stays the bottleneck

_IDENT_PART = r'(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*|"(?:[^"\x00]|"")+")'
_IDENT = re.compile(_IDENT_PART)
_QUALIFIED = re.compile(rf"{_IDENT_PART}(?:\.{_IDENT_PART}){{0,2}}")
_ENCODING = re.compile(r"[A-Za-z0-9_\-]+")


def check_table(name: str) -> str:
    name = name.strip()
    if not _QUALIFIED.fullmatch(name):
        raise TaskFailed(f"property 'table': {name!r} is not a valid table name (expected a plain or "
                         f"double-quoted identifier, optionally schema-qualified like public.my_table)")
    return name


def check_column(name: str, prop: str) -> str:
    name = name.strip()
    if not _IDENT.fullmatch(name):
        raise TaskFailed(f"property '{prop}': {name!r} is not a valid column name (expected a plain or "
                         f"double-quoted identifier)")
    return name


def sql_literal(text: str) -> str:
    if "\x00" in text:
        raise TaskFailed("COPY option values cannot contain a NUL character")
    body = text.replace("'", "''")
    if "\\" in body:
        return "E'" + body.replace("\\", "\\\\") + "'"
    return "'" + body + "'"


_CHAR_ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\\\": "\\", "\\'": "'", '\\"': '"'}


def single_char(ctx: RunContext, value: Any, prop: str) -> str | None:
    text = as_str(ctx, value, prop)
    if text is None:
        return None
    text = _CHAR_ESCAPES.get(text, text)  # `delimiter: "\\t"` (Kestra's docs) means a tab
    if len(text) != 1 or len(text.encode("utf-8")) != 1:
        raise TaskFailed(f"property '{prop}' must be a single one-byte character, got {text!r}")
    return text


class _Copy(PostgresConnection):
    table: str | None = None
    columns: list[str] | str | None = None
    format: str = "TEXT"
    oids: bool | str | None = None
    freeze: bool | str | None = None
    delimiter: str | None = None
    nullString: str | None = None
    header: bool | str | None = None
    quote: str | None = None
    escape: str | None = None
    forceQuote: list[str] | str | None = None
    forceNotNull: list[str] | str | None = None
    forceNull: list[str] | str | None = None
    encoding: str | None = None
    socketTimeout: int | str | None = None

    def copy_statement(self, ctx: RunContext, direction: str, query: str | None = None) -> tuple[str, str]:
        """(statement, format) for `COPY <target> <direction> [WITH (...)]`."""
        parts = ["COPY"]
        if query is None:
            table = as_str(ctx, self.table, "table")
            if not table:
                raise TaskFailed("property 'table' is required" +
                                 (" (or 'sql' for CopyOut)" if direction == "TO STDOUT" else ""))
            parts.append(check_table(table))
            cols = [check_column(c, "columns") for c in as_str_list(ctx, self.columns, "columns")]
            if cols:
                parts.append("(" + ", ".join(cols) + ")")
        else:
            parts.append("(" + query.strip().rstrip(";").strip() + ")")
        parts.append(direction)

        fmt = as_enum(ctx, self.format, "format", FORMATS, "TEXT") or "TEXT"
        options: list[str] = []
        if fmt != "TEXT":
            options.append(f"FORMAT {fmt}")
        if as_bool(ctx, self.oids, "oids", False):
            options.append("OIDS")
        if as_bool(ctx, self.freeze, "freeze", False):
            options.append("FREEZE")
        delimiter = single_char(ctx, self.delimiter, "delimiter")
        if delimiter is not None:
            options.append(f"DELIMITER {sql_literal(delimiter)}")
        null_string = as_str(ctx, self.nullString, "nullString") if self.nullString is not None else None
        if null_string is not None:
            options.append(f"NULL {sql_literal(null_string)}")
        header = as_bool(ctx, self.header, "header")
        if header is not None:
            options.append("HEADER " + ("TRUE" if header else "FALSE"))
        quote = single_char(ctx, self.quote, "quote")
        if quote is not None:
            options.append(f"QUOTE {sql_literal(quote)}")
        escape = single_char(ctx, self.escape, "escape")
        if escape is not None:
            options.append(f"ESCAPE {sql_literal(escape)}")
        force_quote = as_str_list(ctx, self.forceQuote, "forceQuote")
        if force_quote:
            if force_quote == ["*"]:
                options.append("FORCE_QUOTE *")
            else:
                cols = [check_column(c, "forceQuote") for c in force_quote]
                options.append("FORCE_QUOTE (" + ", ".join(cols) + ")")
        for prop, keyword in (("forceNotNull", "FORCE_NOT_NULL"), ("forceNull", "FORCE_NULL")):
            names = as_str_list(ctx, getattr(self, prop), prop)
            if names:
                cols = [check_column(c, prop) for c in names]
                options.append(f"{keyword} (" + ", ".join(cols) + ")")
        encoding = as_str(ctx, self.encoding, "encoding")
        if encoding:
            if not _ENCODING.fullmatch(encoding):
                raise TaskFailed(f"property 'encoding' is not a valid encoding name: {encoding!r}")
            options.append(f"ENCODING {sql_literal(encoding)}")
        if options:
            parts.append("WITH (" + ", ".join(options) + ")")
        return " ".join(parts), fmt


@register()
class CopyIn(_Copy):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.CopyIn"

    from_: str = Field(alias="from")

    def run(self, ctx: RunContext) -> dict[str, Any]:
        source = as_str(ctx, self.from_, "from", required=True) or ""
        try:
            path = ctx.storage.resolve(source.strip())
        except StorageError as e:
            raise TaskFailed(f"property 'from': {e}") from None
        statement, _fmt = self.copy_statement(ctx, "FROM STDIN")
        connector = self.connector(ctx, socket_timeout=socket_timeout_of(ctx, self.socketTimeout))
        ctx.log("DEBUG", f"connecting to {connector.describe()}")
        ctx.log("INFO", f"Starting query: {statement}")
        size = path.stat().st_size
        started = time.monotonic()
        conn = connector.connect()
        try:
            try:
                rows = copy_file_in(conn, statement, path)
                conn.commit()
            except psycopg.Error as e:
                raise TaskFailed(f"COPY into {self.table_name(ctx)} failed (rolled back, no row loaded): "
                                 f"{connector.scrub(error_text(e))}") from None
        finally:
            close_quietly(conn)
        elapsed = max(time.monotonic() - started, 1e-9)
        ctx.log("INFO", f"copied {rows} row(s) ({size / 1e6:.1f} MB) in {elapsed:.2f}s "
                        f"({rows / elapsed:,.0f} rows/s)")
        return {"rowCount": rows}

    def table_name(self, ctx: RunContext) -> str:
        return as_str(ctx, self.table, "table") or "?"


def copy_file_in(conn: psycopg.Connection, statement: str, path: Path, chunk: int = CHUNK) -> int:
    """Stream a file through COPY FROM STDIN in `chunk`-sized blocks; return the server's row count."""
    with conn.cursor() as cur:
        with open(path, "rb", buffering=0) as f, cur.copy(statement) as copy:
            read = f.read
            write = copy.write
            while block := read(chunk):
                write(block)
        return max(cur.rowcount, 0)


@register()
class CopyOut(_Copy):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.postgresql.CopyOut"

    sql: str | None = None

    def run(self, ctx: RunContext) -> dict[str, Any]:
        query = as_str(ctx, self.sql, "sql")
        query = query if query and query.strip() else None
        statement, fmt = self.copy_statement(ctx, "TO STDOUT", query)
        connector = self.connector(ctx, socket_timeout=socket_timeout_of(ctx, self.socketTimeout))
        ctx.log("DEBUG", f"connecting to {connector.describe()}")
        ctx.log("INFO", f"Starting query: {statement}")
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        suffix = {"CSV": ".csv", "TEXT": ".tsv", "BINARY": ".bin"}[fmt]
        target = workdir / f"{ctx.task_id}{suffix}"
        conn = connector.connect()
        try:
            try:
                with conn.cursor() as cur:
                    with open(target, "wb") as out, cur.copy(statement) as copy:
                        for block in copy:
                            out.write(block)
                    rows = max(cur.rowcount, 0)
                conn.commit()
            except psycopg.Error as e:
                raise TaskFailed(f"COPY out failed: {connector.scrub(error_text(e))}") from None
        finally:
            close_quietly(conn)
        uri = ctx.storage.put(ctx.task_id, ctx.task_run_id, target, move=True)
        ctx.log("INFO", f"copied {rows} row(s) to {uri}")
        return {"uri": uri, "rowCount": rows}
