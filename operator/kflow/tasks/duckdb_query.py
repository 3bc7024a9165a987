"""io.kestra.plugin.jdbc.duckdb.Query (and Queries): SQL over files in the working directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.files import localize_uris, stage_input_files
from kflow.tasks.registry import register
from kflow.tasks.rows import FetchType, fetch_type, shape


def _store(ctx: Any, name: str):
    def store(write: Any) -> tuple[str, int]:
        path = ctx.workdir / ".inputs" / name
        path.parent.mkdir(exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            size = write(f)
        return ctx.storage.put(ctx.task_id, ctx.task_run_id, path, move=True), size
    return store


@register()
class DuckDBQuery(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Query"
    sql: str
    url: str | None = None
    username: str | None = None
    password: str | None = None
    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | None = None
    databaseUri: str | None = None
    outputDbFile: bool = False
    fetchType: FetchType | str | None = None
    fetch: bool = False
    fetchOne: bool = False
    store: bool = False
    fetchSize: int = Field(default=10000, ge=1)
    parameters: dict[str, Any] | None = None
    afterSQL: str | None = None
    timeZoneId: str | None = None
    autoCommit: bool = True
    connectionPooling: bool | None = None
    connectionPoolSize: int | None = None
    communityExtensions: list[str] | None = None

    def _database(self, ctx: Any) -> str:
        if self.databaseUri:
            src = ctx.storage.resolve(str(ctx.render(self.databaseUri)))
            target = ctx.workdir / "database.duckdb"
            target.write_bytes(src.read_bytes())
            return str(target)
        url = str(ctx.render(self.url or "jdbc:duckdb:"))
        path = url.removeprefix("jdbc:duckdb:")
        if self.outputDbFile and not path:
            return str(ctx.workdir / "database.duckdb")
        return path or ":memory:"

    def run(self, ctx: Any) -> dict[str, Any]:
        import duckdb

        stage_input_files(ctx, self.inputFiles)
        names = [str(ctx.render(n)) for n in self.outputFiles or []]
        out_paths = {n: ctx.workdir / n for n in names}
        for p in out_paths.values():
            p.touch()
        extra = {"outputFiles": {n: str(p) for n, p in out_paths.items()}, "dbFilePath": None}
        # `read_csv('{{ outputs.x.uri }}')`: DuckDB cannot open kestra:// URIs; it gets a local copy.
        sql = localize_uris(ctx, str(ctx.render(self.sql, extra)))
        kind = fetch_type(str(ctx.render(self.fetchType)) if self.fetchType else None,
                          self.fetch, self.fetchOne, self.store)
        database = self._database(ctx)
        try:
            con = duckdb.connect(database)
        except duckdb.Error as exc:
            raise TaskFailed(f"cannot open DuckDB database: {exc}") from None
        try:
            if self.timeZoneId:
                con.execute(f"SET TimeZone = '{ctx.render(self.timeZoneId)!s}'")
            ctx.log("DEBUG", f"Starting query: {sql}")
            outputs = self._query(con, ctx, sql, kind)
            if "size" in outputs:  # as the PostgreSQL tasks say it (Kestra's fetch.size metric)
                ctx.log("INFO", f"fetched {outputs['size']} row(s) ({kind})")
            if self.afterSQL:
                _execute(con, str(ctx.render(self.afterSQL, extra)), None)
        except duckdb.Error as exc:
            raise TaskFailed(f"DuckDB: {exc}") from None
        finally:
            con.close()
        if names:
            outputs["outputFiles"] = {n: ctx.storage.put(ctx.task_id, ctx.task_run_id, p, move=True)
                                      for n, p in out_paths.items()}
        if self.outputDbFile and database != ":memory:":
            outputs["databaseUri"] = ctx.storage.put(ctx.task_id, ctx.task_run_id, Path(database))
        return outputs


    def _query(self, con: Any, ctx: Any, sql: str, kind: str) -> dict[str, Any]:
        """Run the statements; the last one's result set is the task's (Queries: one per statement)."""
        result = _execute(con, sql, ctx.render(self.parameters) if self.parameters else None)
        if result is None or result.description is None:
            return {}
        columns = [d[0] for d in result.description]
        return shape(kind, columns, _batched(result, self.fetchSize), _store(ctx, "result.ion"))


def _batched(result: Any, size: int):
    while True:
        batch = result.fetchmany(size)
        if not batch:
            return
        yield from batch


def placeholders(sql: str, parameters: dict[str, Any] | None) -> str:
    """Kestra's `:name` placeholders (of the given parameters only) as DuckDB's `$name`."""
    if not parameters:
        return sql
    names = "|".join(re.escape(str(k)) for k in sorted(parameters, key=len, reverse=True))
    return re.sub(rf"(?<![:\w]):({names})(?!\w)", r"$\1", sql)


def statements(con: Any, sql: str) -> list[Statement]:
    """The statements of `sql`, without `INSTALL x` of an extension built into this DuckDB, so flows
    written for Kestra (`INSTALL json; LOAD json;`) run offline. Placeholders must be `$name` already."""
    builtin = {name for (name,) in con.execute(
        "SELECT extension_name FROM duckdb_extensions() WHERE install_mode = 'STATICALLY_LINKED'"
    ).fetchall()}
    out = []
    for stmt in con.extract_statements(sql):
        text = stmt.query.strip()
        words = text.rstrip(";").split()
        if len(words) == 2 and words[0].upper() in ("INSTALL", "FORCE") and words[1].strip("'\"") in builtin:
            continue
        out.append(Statement(text, stmt.type.name))
    return out


class Statement(str):
    """A statement's text, with DuckDB's statement type (`SELECT`, `CREATE`, `LOAD`...)."""

    kind: str

    def __new__(cls, text: str, kind: str) -> Statement:
        self = super().__new__(cls, text)
        self.kind = kind
        return self


def run_statement(con: Any, text: str, parameters: dict[str, Any] | None) -> Any:
    """Run one statement, binding only the parameters it names (DuckDB refuses unused ones)."""
    used = {k: v for k, v in (parameters or {}).items()
            if re.search(rf"\${re.escape(str(k))}(?!\w)", text)}
    return con.execute(text, used) if used else con.execute(text)


def _execute(con: Any, sql: str, parameters: dict[str, Any] | None) -> Any:
    """Run each statement; the last one's result is the task's (parameters bind in the last one)."""
    result = None
    texts = statements(con, placeholders(sql, parameters))
    for i, text in enumerate(texts):
        result = run_statement(con, text, parameters if i == len(texts) - 1 else None)
    return result
