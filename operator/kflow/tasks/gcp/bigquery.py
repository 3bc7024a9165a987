"""io.kestra.plugin.gcp.bigquery.Query on google-cloud-bigquery, and what the other BigQuery tasks share."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.model.common import Duration
from kflow.tasks.gcp.common import BIGQUERY_ENDPOINT_ENV, DynBool, DynInt, GcpTask, enum_of, google_errors
from kflow.tasks.postgresql.props import as_bool, as_enum, as_int, as_map, as_str, as_str_list
from kflow.tasks.registry import register
from kflow.tasks.rows import fetch_type, shape

WRITE_DISPOSITIONS = ("WRITE_TRUNCATE", "WRITE_APPEND", "WRITE_EMPTY", "WRITE_TRUNCATE_DATA")
CREATE_DISPOSITIONS = ("CREATE_IF_NEEDED", "CREATE_NEVER")
PARTITION_TYPES = ("DAY", "HOUR", "MONTH", "YEAR")


class BigQueryTask(GcpTask):
    """Kestra's AbstractBigquery: `location` and the automatic retry of transient job errors."""

    ENDPOINT_ENV: ClassVar[str] = BIGQUERY_ENDPOINT_ENV
    location: str | None = None
    retryAuto: dict[str, Any] | None = None
    retryReasons: list[str] | str | None = None
    retryMessages: list[str] | str | None = None

    def client(self, ctx: Any) -> Any:
        from google.cloud import bigquery

        creds, found = self.credentials(ctx)
        project = self.project(ctx, found)
        endpoint = self.endpoint(ctx)
        options = {"api_endpoint": endpoint} if endpoint else None
        with google_errors("BigQuery"):
            return bigquery.Client(project=project, credentials=creds, client_options=options,
                                   location=as_str(ctx, self.location, "location") or None)

    def table_ref(self, ctx: Any, client: Any, text: str, name: str) -> Any:
        """`project.dataset.table` or `dataset.table` (the client's project), backticks allowed."""
        from google.cloud import bigquery

        parts = [p for p in re.split(r"[.:]", text.replace("`", "").strip()) if p]
        if len(parts) == 2:
            parts.insert(0, client.project)
        if len(parts) != 3:
            raise TaskFailed(f"{name}: expected project.dataset.table or dataset.table, got {text!r}")
        return bigquery.TableReference(bigquery.DatasetReference(parts[0], parts[1]), parts[2])

    def wait(self, ctx: Any, job: Any, what: str) -> Any:
        """Wait for the job; a failed job fails the task with BigQuery's message."""
        with google_errors(what):
            return job.result()


def _job_prefix(ctx: Any) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", f"kflow_{ctx.task_id}_")[:200]


def destination_output(ref: Any) -> dict[str, str] | None:
    if ref is None:
        return None
    return {"project": ref.project, "dataset": ref.dataset_id, "table": ref.table_id}


@register()
class Query(BigQueryTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.Query"
    sql: str
    legacySql: DynBool = False
    fetch: bool = False
    store: bool = False
    fetchOne: bool = False
    fetchType: enum_of("NONE", "FETCH", "FETCH_ONE", "STORE") | None = None
    destinationTable: str | None = None
    writeDisposition: enum_of(*WRITE_DISPOSITIONS) | None = None
    createDisposition: enum_of(*CREATE_DISPOSITIONS) | None = None
    clusteringFields: list[str] | str | None = None
    schemaUpdateOptions: list[enum_of("ALLOW_FIELD_ADDITION", "ALLOW_FIELD_RELAXATION")] | None = None
    timePartitioningField: str | None = None
    timePartitioningType: enum_of(*PARTITION_TYPES) = "DAY"
    rangePartitioningField: str | None = None
    rangePartitioningStart: DynInt | None = None
    rangePartitioningEnd: DynInt | None = None
    rangePartitioningInterval: DynInt | None = None
    jobTimeout: Duration | None = None
    labels: dict[str, Any] | str | None = None
    dryRun: DynBool = False
    defaultDataset: str | None = None
    priority: enum_of("INTERACTIVE", "BATCH") = "INTERACTIVE"
    allowLargeResults: DynBool | None = None
    useQueryCache: DynBool | None = None
    flattenResults: DynBool = True
    useLegacySql: DynBool = False
    maximumBillingTier: DynInt | None = None
    maximumBytesBilled: DynInt | None = None
    maxResults: DynInt | None = None

    def _config(self, ctx: Any, client: Any) -> Any:
        from google.cloud import bigquery

        cfg = bigquery.QueryJobConfig()
        cfg.use_legacy_sql = bool(as_bool(ctx, self.legacySql, "legacySql", False)
                                  or as_bool(ctx, self.useLegacySql, "useLegacySql", False))
        cfg.dry_run = bool(as_bool(ctx, self.dryRun, "dryRun", False))
        cfg.priority = as_enum(ctx, self.priority, "priority", ("INTERACTIVE", "BATCH"))
        if self.destinationTable:
            text = as_str(ctx, self.destinationTable, "destinationTable", required=True) or ""
            cfg.destination = self.table_ref(ctx, client, text, "destinationTable")
        if self.writeDisposition:
            cfg.write_disposition = as_enum(ctx, self.writeDisposition, "writeDisposition", WRITE_DISPOSITIONS)
        if self.createDisposition:
            cfg.create_disposition = as_enum(ctx, self.createDisposition, "createDisposition",
                                             CREATE_DISPOSITIONS)
        if self.clusteringFields is not None:
            cfg.clustering_fields = as_str_list(ctx, self.clusteringFields, "clusteringFields")
        if self.schemaUpdateOptions:
            cfg.schema_update_options = list(self.schemaUpdateOptions)
        if self.timePartitioningField:
            cfg.time_partitioning = bigquery.TimePartitioning(
                type_=as_enum(ctx, self.timePartitioningType, "timePartitioningType", PARTITION_TYPES),
                field=as_str(ctx, self.timePartitioningField, "timePartitioningField"))
        if self.rangePartitioningField:
            cfg.range_partitioning = bigquery.RangePartitioning(
                field=as_str(ctx, self.rangePartitioningField, "rangePartitioningField"),
                range_=bigquery.PartitionRange(
                    start=as_int(ctx, self.rangePartitioningStart, "rangePartitioningStart"),
                    end=as_int(ctx, self.rangePartitioningEnd, "rangePartitioningEnd"),
                    interval=as_int(ctx, self.rangePartitioningInterval, "rangePartitioningInterval")))
        if self.jobTimeout:
            from kflow.model.durations import parse_duration

            timeout = parse_duration(str(ctx.render(self.jobTimeout)))
            cfg.job_timeout_ms = int(timeout.total_seconds() * 1000)
        labels = {k: str(v) for k, v in as_map(ctx, self.labels, "labels").items()}
        if labels:
            cfg.labels = labels
        if self.defaultDataset:
            dataset = as_str(ctx, self.defaultDataset, "defaultDataset") or ""
            cfg.default_dataset = dataset if "." in dataset else f"{client.project}.{dataset}"
        for attr, prop, name in (("allow_large_results", self.allowLargeResults, "allowLargeResults"),
                                 ("use_query_cache", self.useQueryCache, "useQueryCache"),
                                 ("flatten_results", self.flattenResults, "flattenResults")):
            if prop is not None:
                setattr(cfg, attr, as_bool(ctx, prop, name))
        if self.maximumBytesBilled is not None:
            cfg.maximum_bytes_billed = as_int(ctx, self.maximumBytesBilled, "maximumBytesBilled", minimum=0)
        return cfg

    def run(self, ctx: Any) -> dict[str, Any]:
        kinds = [self.fetch, self.fetchOne, self.store]
        if sum(kinds) > 1:
            raise TaskFailed("fetch, fetchOne and store are exclusive: set only one (or use fetchType)")
        kind = fetch_type(as_str(ctx, self.fetchType, "fetchType") if self.fetchType else None,
                          self.fetch, self.fetchOne, self.store)
        if kind not in ("NONE", "FETCH", "FETCH_ONE", "STORE"):
            raise TaskFailed(f"fetchType: must be one of NONE, FETCH, FETCH_ONE, STORE, got {kind!r}")
        sql = as_str(ctx, self.sql, "sql", required=True) or ""
        client = self.client(ctx)
        cfg = self._config(ctx, client)
        with google_errors("BigQuery query"):
            job = client.query(sql, job_config=cfg, job_id_prefix=_job_prefix(ctx))
        result = self.wait(ctx, job, "BigQuery query") if not cfg.dry_run else None
        ctx.log("INFO", _summary(job))
        outputs: dict[str, Any] = {"jobId": job.job_id}
        if result is not None and kind != "NONE":
            columns = [f.name for f in result.schema or []]
            with google_errors("BigQuery query results"):
                rows = (tuple(row.values()) for row in result)
                outputs.update(shape(kind, columns, rows, _store(ctx)))
        dest = destination_output(getattr(job, "destination", None))
        if dest is not None:
            outputs["destinationTable"] = dest
        return outputs


def _summary(job: Any) -> str:
    parts = [f"job {job.job_id}"]
    if getattr(job, "statement_type", None):
        parts.append(f"statement {job.statement_type}")
    if getattr(job, "num_dml_affected_rows", None) is not None:
        parts.append(f"{job.num_dml_affected_rows} rows affected")
    if getattr(job, "total_bytes_processed", None):
        parts.append(f"{job.total_bytes_processed} bytes processed")
    return ", ".join(parts)


def _store(ctx: Any):
    def store(write: Any) -> tuple[str, int]:
        path = ctx.workdir / ".inputs" / "result.ion"
        path.parent.mkdir(exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            size = write(f)
        return ctx.storage.put(ctx.task_id, ctx.task_run_id, path, move=True), size
    return store
