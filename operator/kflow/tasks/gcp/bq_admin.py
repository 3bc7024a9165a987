"""io.kestra.plugin.gcp.bigquery.CreateDataset, DeleteDataset, CreateTable, DeleteTable."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.model.common import Duration
from kflow.tasks.gcp.bigquery import BigQueryTask
from kflow.tasks.gcp.common import DynBool, DynInt, enum_of, google_errors
from kflow.tasks.postgresql.props import as_bool, as_int, as_map, as_str
from kflow.tasks.registry import register


class DatasetTask(BigQueryTask):
    """Kestra's AbstractDataset."""

    name: str
    acl: list[dict[str, Any]] | None = None
    defaultTableLifetime: DynInt | None = None
    description: str | None = None
    friendlyName: str | None = None
    labels: dict[str, Any] | str | None = None
    defaultEncryptionConfiguration: dict[str, Any] | None = None
    defaultPartitionExpirationMs: DynInt | None = None

    def dataset(self, ctx: Any, client: Any) -> Any:
        from google.cloud import bigquery

        name = as_str(ctx, self.name, "name", required=True) or ""
        ds = bigquery.Dataset(f"{client.project}.{name}" if "." not in name else name)
        location = as_str(ctx, self.location, "location")
        if location:
            ds.location = location
        for attr, prop in (("description", self.description), ("friendly_name", self.friendlyName)):
            if prop is not None:
                setattr(ds, attr, as_str(ctx, prop, attr))
        if self.labels is not None:
            ds.labels = {k: str(v) for k, v in as_map(ctx, self.labels, "labels").items()}
        if self.defaultTableLifetime is not None:
            ds.default_table_expiration_ms = 1000 * (as_int(ctx, self.defaultTableLifetime,
                                                            "defaultTableLifetime", minimum=0) or 0)
        if self.defaultPartitionExpirationMs is not None:
            ds.default_partition_expiration_ms = as_int(ctx, self.defaultPartitionExpirationMs,
                                                        "defaultPartitionExpirationMs", minimum=0)
        return ds


def _dataset_output(ds: Any) -> dict[str, Any]:
    return {"dataset": ds.dataset_id, "project": ds.project, "friendlyName": ds.friendly_name,
            "description": ds.description, "location": ds.location}


@register()
class CreateDataset(DatasetTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.CreateDataset"
    ifExists: enum_of("ERROR", "UPDATE", "SKIP") = "ERROR"

    def run(self, ctx: Any) -> dict[str, Any]:
        from google.api_core import exceptions as api_errors

        client = self.client(ctx)
        ds = self.dataset(ctx, client)
        mode = as_str(ctx, self.ifExists, "ifExists")
        with google_errors(f"dataset {ds.dataset_id}"):
            try:
                created = client.create_dataset(ds)
                ctx.log("INFO", f"created dataset {ds.project}.{ds.dataset_id}")
                return _dataset_output(created)
            except api_errors.Conflict as exc:
                if mode == "ERROR":
                    raise TaskFailed(f"dataset {ds.dataset_id}: {exc.message}") from None
            existing = client.get_dataset(ds.reference)
            if mode == "SKIP":
                ctx.log("INFO", f"dataset {ds.project}.{ds.dataset_id} already exists, skipped")
                return _dataset_output(existing)
            fields = [f for f, v in (("description", self.description), ("friendly_name", self.friendlyName),
                                     ("labels", self.labels)) if v is not None]
            return _dataset_output(client.update_dataset(ds, fields) if fields else existing)


@register()
class DeleteDataset(BigQueryTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.DeleteDataset"
    name: str
    deleteContents: DynBool = False

    def run(self, ctx: Any) -> dict[str, Any]:
        client = self.client(ctx)
        name = as_str(ctx, self.name, "name", required=True) or ""
        ref = f"{client.project}.{name}" if "." not in name else name
        with google_errors(f"dataset {name}"):
            client.delete_dataset(ref, delete_contents=bool(as_bool(ctx, self.deleteContents, "deleteContents")))
        ctx.log("INFO", f"deleted dataset {ref}")
        project, _, dataset = ref.rpartition(".")
        return {"dataset": dataset, "project": project}


class TableTask(BigQueryTask):
    dataset: str
    table: str

    def ref(self, ctx: Any, client: Any) -> Any:
        dataset = as_str(ctx, self.dataset, "dataset", required=True) or ""
        table = as_str(ctx, self.table, "table", required=True) or ""
        return self.table_ref(ctx, client, f"{dataset}.{table}", "table")


@register()
class DeleteTable(TableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.DeleteTable"

    def run(self, ctx: Any) -> dict[str, Any]:
        client = self.client(ctx)
        ref = self.ref(ctx, client)
        with google_errors(f"table {ref.dataset_id}.{ref.table_id}"):
            client.delete_table(ref)
        ctx.log("INFO", f"deleted table {ref.project}.{ref.dataset_id}.{ref.table_id}")
        return {"projectId": ref.project, "datasetId": ref.dataset_id, "table": ref.table_id}


def schema_fields(raw: Any, name: str) -> list[Any]:
    """Kestra's schema `{fields: [{name, type, mode, description, fields}]}` (or a bare field list)."""
    from google.cloud import bigquery

    fields = raw.get("fields") if isinstance(raw, dict) else raw
    if not isinstance(fields, list):
        raise TaskFailed(f"{name}: expected {{fields: [{{name, type}}, ...]}}")
    out = []
    for i, f in enumerate(fields):
        if not isinstance(f, dict) or not f.get("name") or not f.get("type"):
            raise TaskFailed(f"{name}.fields[{i}]: each field needs a name and a type")
        out.append(bigquery.SchemaField(
            f["name"], str(f["type"]).upper(), mode=str(f.get("mode") or "NULLABLE").upper(),
            description=f.get("description"),
            fields=schema_fields(f["fields"], f"{name}.fields[{i}]") if f.get("fields") else ()))
    return out


@register()
class CreateTable(TableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.bigquery.CreateTable"
    tableDefinition: dict[str, Any] | None = None
    friendlyName: str | None = None
    description: str | None = None
    labels: dict[str, Any] | str | None = None
    requirePartitionFilter: DynBool | None = None
    encryptionConfiguration: dict[str, Any] | None = None
    expirationDuration: Duration | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        from google.cloud import bigquery

        client = self.client(ctx)
        ref = self.ref(ctx, client)
        table = bigquery.Table(ref)
        definition = ctx.render(self.tableDefinition) or {}
        if definition.get("schema") is not None:
            table.schema = schema_fields(definition["schema"], "tableDefinition.schema")
        standard = definition.get("standardTableDefinition") or {}
        part = standard.get("timePartitioning") or definition.get("timePartitioning")
        if part:
            table.time_partitioning = bigquery.TimePartitioning(type_=part.get("type", "DAY"),
                                                                field=part.get("field"))
        clustering = standard.get("clustering") or definition.get("clustering")
        if clustering:
            table.clustering_fields = clustering.get("fields") if isinstance(clustering, dict) else clustering
        view = definition.get("viewDefinition") or {}
        if view.get("query"):
            table.view_query = view["query"]
        for attr, prop in (("friendly_name", self.friendlyName), ("description", self.description)):
            if prop is not None:
                setattr(table, attr, as_str(ctx, prop, attr))
        if self.labels is not None:
            table.labels = {k: str(v) for k, v in as_map(ctx, self.labels, "labels").items()}
        if self.requirePartitionFilter is not None:
            table.require_partition_filter = as_bool(ctx, self.requirePartitionFilter, "requirePartitionFilter")
        with google_errors(f"table {ref.dataset_id}.{ref.table_id}"):
            created = client.create_table(table)
        ctx.log("INFO", f"created table {ref.project}.{ref.dataset_id}.{ref.table_id}")
        return table_output(created)


def table_output(t: Any) -> dict[str, Any]:
    return {"projectId": t.project, "datasetId": t.dataset_id, "table": t.table_id, "etag": t.etag,
            "friendlyName": t.friendly_name, "description": t.description, "numRows": t.num_rows,
            "location": t.location, "type": t.table_type}
