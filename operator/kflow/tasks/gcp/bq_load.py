"""io.kestra.plugin.gcp.bigquery.Load (a file of internal storage) and LoadFromGcs (gs:// URIs)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.gcp.bigquery import (
    CREATE_DISPOSITIONS,
    PARTITION_TYPES,
    WRITE_DISPOSITIONS,
    BigQueryTask,
    destination_output,
)
from kflow.tasks.gcp.bq_admin import schema_fields
from kflow.tasks.gcp.common import DynBool, DynInt, enum_of, google_errors
from kflow.tasks.gcp.gcs import _local_file
from kflow.tasks.postgresql.props import as_bool, as_enum, as_int, as_str, as_str_list
from kflow.tasks.registry import register

FORMATS = {"CSV": "CSV", "JSON": "NEWLINE_DELIMITED_JSON", "AVRO": "AVRO", "PARQUET": "PARQUET", "ORC": "ORC"}


class AbstractLoad(BigQueryTask):
    """Kestra's AbstractLoad: destination, dispositions, schema and the format options."""

    destinationTable: str
    clusteringFields: list[str] | str | None = None
    schemaUpdateOptions: list[enum_of("ALLOW_FIELD_ADDITION", "ALLOW_FIELD_RELAXATION")] | None = None
    timePartitioningField: str | None = None
    timePartitioningType: enum_of(*PARTITION_TYPES) = "DAY"
    writeDisposition: enum_of(*WRITE_DISPOSITIONS) | None = None
    createDisposition: enum_of(*CREATE_DISPOSITIONS) | None = None
    autodetect: DynBool | None = None
    ignoreUnknownValues: DynBool | None = None
    maxBadRecords: DynInt | None = None
    schema_: dict[str, Any] | list[Any] | None = Field(default=None, alias="schema")
    format: enum_of(*FORMATS) | None = None
    csvOptions: dict[str, Any] | None = None
    avroOptions: dict[str, Any] | None = None

    def config(self, ctx: Any) -> Any:
        from google.cloud import bigquery

        cfg = bigquery.LoadJobConfig()
        fmt = as_enum(ctx, self.format, "format", FORMATS) if self.format else None
        if fmt:
            cfg.source_format = FORMATS[fmt]
        if self.writeDisposition:
            cfg.write_disposition = as_enum(ctx, self.writeDisposition, "writeDisposition", WRITE_DISPOSITIONS)
        if self.createDisposition:
            cfg.create_disposition = as_enum(ctx, self.createDisposition, "createDisposition",
                                             CREATE_DISPOSITIONS)
        if self.autodetect is not None:
            cfg.autodetect = as_bool(ctx, self.autodetect, "autodetect")
        if self.ignoreUnknownValues is not None:
            cfg.ignore_unknown_values = as_bool(ctx, self.ignoreUnknownValues, "ignoreUnknownValues")
        if self.maxBadRecords is not None:
            cfg.max_bad_records = as_int(ctx, self.maxBadRecords, "maxBadRecords", minimum=0)
        if self.schema_ is not None:
            cfg.schema = schema_fields(ctx.render(self.schema_), "schema")
        if self.clusteringFields is not None:
            cfg.clustering_fields = as_str_list(ctx, self.clusteringFields, "clusteringFields")
        if self.schemaUpdateOptions:
            cfg.schema_update_options = list(self.schemaUpdateOptions)
        if self.timePartitioningField:
            cfg.time_partitioning = bigquery.TimePartitioning(
                type_=as_enum(ctx, self.timePartitioningType, "timePartitioningType", PARTITION_TYPES),
                field=as_str(ctx, self.timePartitioningField, "timePartitioningField"))
        csv = ctx.render(self.csvOptions) or {}
        for key, attr in (("fieldDelimiter", "field_delimiter"), ("quote", "quote_character"),
                          ("encoding", "encoding"), ("skipLeadingRows", "skip_leading_rows"),
                          ("allowJaggedRows", "allow_jagged_rows"), ("allowQuotedNewLines", "allow_quoted_newlines")):
            if csv.get(key) is not None:
                value = csv[key]
                if key == "skipLeadingRows":
                    value = as_int(ctx, value, "csvOptions.skipLeadingRows", minimum=0)
                elif key.startswith("allow"):
                    value = as_bool(ctx, value, f"csvOptions.{key}")
                setattr(cfg, attr, value)
        if (ctx.render(self.avroOptions) or {}).get("useAvroLogicalTypes") is not None:
            cfg.use_avro_logical_types = bool(self.avroOptions["useAvroLogicalTypes"])  # type: ignore[index]
        return cfg

    def outputs(self, ctx: Any, job: Any) -> dict[str, Any]:
        self.wait(ctx, job, "BigQuery load")
        rows = job.output_rows
        ctx.log("INFO", f"job {job.job_id}: loaded {rows} rows into {job.destination.dataset_id}."
                        f"{job.destination.table_id}")
        return {"jobId": job.job_id, "rows": rows, "destinationTable": destination_output(job.destination)}


@register()
class Load(AbstractLoad):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.Load"
    from_: str = Field(alias="from")

    def run(self, ctx: Any) -> dict[str, Any]:
        path = _local_file(ctx, as_str(ctx, self.from_, "from", required=True) or "")
        client = self.client(ctx)
        dest = self.table_ref(ctx, client, as_str(ctx, self.destinationTable, "destinationTable",
                                                  required=True) or "", "destinationTable")
        cfg = self.config(ctx)
        with google_errors("BigQuery load"), open(path, "rb") as data:
            job = client.load_table_from_file(data, dest, job_config=cfg)
        return self.outputs(ctx, job)


@register()
class LoadFromGcs(AbstractLoad):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.LoadFromGcs"
    from_: list[str] | str = Field(alias="from")

    def run(self, ctx: Any) -> dict[str, Any]:
        uris = as_str_list(ctx, self.from_, "from")
        if not uris:
            raise TaskFailed("from: at least one gs:// URI is required")
        bad = [u for u in uris if not u.startswith("gs://")]
        if bad:
            raise TaskFailed(f"from: expected gs:// URIs, got {bad[0]!r}")
        client = self.client(ctx)
        dest = self.table_ref(ctx, client, as_str(ctx, self.destinationTable, "destinationTable",
                                                  required=True) or "", "destinationTable")
        with google_errors("BigQuery load"):
            job = client.load_table_from_uri(uris, dest, job_config=self.config(ctx))
        return self.outputs(ctx, job)
