"""io.kestra.plugin.jdbc.duckdb.Queries: several `;`-separated statements, one output per result set.

Since Kestra 1.1 `duckdb.Query` runs a single statement and multi-statement SQL moved here (the 2026
zoomcamp flows use it). Outputs: `outputs` = one `{row|rows|uri, size}` per statement that returned rows,
in order; with `transaction: true` (the default) the statements commit together or not at all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.tasks.duckdb_query import DuckDBQuery, _batched, _store, placeholders, run_statement, statements
from kflow.tasks.registry import register
from kflow.tasks.rows import shape

ROW_KINDS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "CALL", "RELATION", "EXECUTE"})


def t_returns_rows(text: Any) -> bool:
    return getattr(text, "kind", "SELECT") in ROW_KINDS


@register()
class DuckDBQueries(DuckDBQuery):
    TYPE: ClassVar[str] = "io.kestra.plugin.jdbc.duckdb.Queries"
    transaction: bool = True

    def _query(self, con: Any, ctx: Any, sql: str, kind: str) -> dict[str, Any]:
        params = ctx.render(self.parameters) if self.parameters else None
        texts = statements(con, placeholders(sql, params))
        # INSTALL/LOAD cannot run inside a transaction in every DuckDB build: they go first, outside it.
        setup = [t for t in texts if t.kind == "LOAD"]
        body = [t for t in texts if t.kind != "LOAD"]
        for text in setup:
            con.execute(text)
        results: list[dict[str, Any]] = []
        if self.transaction:
            con.execute("BEGIN TRANSACTION")
        try:
            for text in body:
                result = run_statement(con, text, params)
                # As over JDBC: DDL and DML give an update count, not a result set (DuckDB's CREATE
                # TABLE AS and INSERT answer a `Count` row, which Kestra users never see).
                if t_returns_rows(text) and result is not None and result.description is not None:
                    columns = [d[0] for d in result.description]
                    results.append(shape(kind, columns, _batched(result, self.fetchSize),
                                         _store(ctx, f"result-{len(results)}.ion")))
            if self.transaction:
                con.execute("COMMIT")
        except BaseException:
            if self.transaction:
                try:
                    con.execute("ROLLBACK")
                except Exception:  # the failed statement may have aborted the transaction already
                    pass
            raise
        return {"outputs": [r for r in results if r]} if kind != "NONE" else {}
