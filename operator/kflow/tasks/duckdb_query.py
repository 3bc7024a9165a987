"""io.kestra.plugin.jdbc.duckdb.Query (and Queries): SQL over files in the working directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.files import stage_input_files
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
        sql = str(ctx.render(self.sql, extra))
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
            result = _execute(con, sql, ctx.render(self.parameters) if self.parameters else None)
            outputs = {}
            if result is not None and result.description is not None:
                columns = [d[0] for d in result.description]
                outputs = shape(kind, columns, _batched(result, self.fetchSize), _store(ctx, "result.ion"))
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


def _batched(result: Any, size: int):
    while True:
        batch = result.fetchmany(size)
        if not batch:
            return
        yield from batch


def _execute(con: Any, sql: str, parameters: dict[str, Any] | None) -> Any:
    """Run each statement; the last one's result is the task's. `INSTALL x` of an extension built into
    this DuckDB is skipped, so flows written for Kestra (`INSTALL json; LOAD json;`) run offline."""
    builtin = {name for (name,) in con.execute(
        "SELECT extension_name FROM duckdb_extensions() WHERE install_mode = 'STATICALLY_LINKED'"
    ).fetchall()}
    statements = con.extract_statements(sql)
    result = None
    for i, stmt in enumerate(statements):
        text = stmt.query.strip()
        words = text.rstrip(";").split()
        if len(words) == 2 and words[0].upper() in ("INSTALL", "FORCE") and words[1].strip("'\"") in builtin:
            continue
        last = i == len(statements) - 1
        if parameters and last:
            # Kestra's `:name` placeholders are DuckDB's `$name`.
            text = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"$\1", text)
            result = con.execute(text, parameters)
        else:
            result = con.execute(text)
    return result
