"""PostgreSQL tasks: `io.kestra.plugin.jdbc.postgresql.{Query, Queries, CopyIn, CopyOut}` over psycopg 3.

Modules: `props` (rendering/coercing dynamic properties), `connection` (JDBC URL → libpq, connect,
password scrubbing), `values` (JSON-safe values and the Ion text writer for STORE), `query`
(Query/Queries), `copy_tasks` (CopyIn/CopyOut). The package's modules register themselves when
`kflow.tasks` walks its packages.
"""
