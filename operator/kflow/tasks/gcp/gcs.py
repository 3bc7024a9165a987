"""io.kestra.plugin.gcp.gcs.*: Upload, Download, Delete, List, CreateBucket on google-cloud-storage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.gcp.common import GCS_ENDPOINT_ENV, DynBool, GcpTask, enum_of, google_errors, split_gs
from kflow.tasks.postgresql.props import as_bool, as_int, as_map, as_str
from kflow.tasks.registry import register


class GcsTask(GcpTask):
    ENDPOINT_ENV: ClassVar[str] = GCS_ENDPOINT_ENV

    def client(self, ctx: Any, *, need_project: bool = False) -> Any:
        from google.cloud import storage

        creds, found = self.credentials(ctx)
        project = self.project(ctx, found, required=need_project)
        endpoint = self.endpoint(ctx)
        options = {"api_endpoint": endpoint} if endpoint else None
        with google_errors("GCS"):
            return storage.Client(project=project or "<none>", credentials=creds, client_options=options)


def _blob_output(blob: Any) -> dict[str, Any]:
    return {"uri": f"gs://{blob.bucket.name}/{blob.name}", "bucket": blob.bucket.name, "name": blob.name,
            "size": blob.size, "contentType": blob.content_type, "contentEncoding": blob.content_encoding,
            "etag": blob.etag, "generation": blob.generation,
            "createTime": blob.time_created.isoformat() if blob.time_created else None,
            "updateTime": blob.updated.isoformat() if blob.updated else None,
            "isDirectory": blob.name.endswith("/")}


@register()
class Upload(GcsTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.gcs.Upload"
    # `from` is a Python keyword: the field is `from_` with the YAML name as alias.
    from_: str = Field(alias="from")
    to: str
    contentType: str | None = None
    contentEncoding: str | None = None
    contentDisposition: str | None = None
    cacheControl: str | None = None
    metadata: dict[str, Any] | str | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        source = as_str(ctx, self.from_, "from", required=True) or ""
        target = as_str(ctx, self.to, "to", required=True) or ""
        path = _local_file(ctx, source)
        bucket_name, name = split_gs(target, "to")
        if not name or name.endswith("/"):
            name += path.name
        client = self.client(ctx)
        with google_errors(f"upload to gs://{bucket_name}/{name}"):
            blob = client.bucket(bucket_name).blob(name)
            for attr, prop in (("content_encoding", self.contentEncoding), ("content_disposition",
                               self.contentDisposition), ("cache_control", self.cacheControl)):
                if prop is not None:
                    setattr(blob, attr, as_str(ctx, prop, attr))
            if self.metadata is not None:
                blob.metadata = {k: str(v) for k, v in as_map(ctx, self.metadata, "metadata").items()}
            content_type = as_str(ctx, self.contentType, "contentType") if self.contentType else None
            blob.upload_from_filename(str(path), content_type=content_type)
        ctx.log("INFO", f"uploaded {path.stat().st_size} bytes to gs://{bucket_name}/{name}")
        return {"uri": f"gs://{bucket_name}/{name}"}


def _local_file(ctx: Any, source: str) -> Path:
    if source.startswith("kestra://"):
        try:
            path = ctx.storage.resolve(source)
        except (ValueError, KeyError) as exc:
            raise TaskFailed(f"from: {exc}") from None
    else:
        path = Path(source.removeprefix("file://"))
        if not path.is_absolute():
            path = ctx.workdir / path
    if not path.is_file():
        raise TaskFailed(f"from: no such file: {source}")
    return path



@register()
class Download(GcsTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.gcs.Download"
    from_: str = Field(alias="from")

    def run(self, ctx: Any) -> dict[str, Any]:
        source = as_str(ctx, self.from_, "from", required=True) or ""
        bucket_name, name = split_gs(source, "from")
        if not name:
            raise TaskFailed(f"from: no object name in {source!r}")
        client = self.client(ctx)
        target = ctx.workdir / ".download" / Path(name).name
        target.parent.mkdir(exist_ok=True)
        with google_errors(f"download of {source}"):
            client.bucket(bucket_name).blob(name).download_to_filename(str(target))
        size = target.stat().st_size
        ctx.log("INFO", f"downloaded {size} bytes from {source}")
        uri = ctx.storage.put(ctx.task_id, ctx.task_run_id, target, move=True)
        return {"bucket": bucket_name, "path": name, "uri": uri}



@register()
class Delete(GcsTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.gcs.Delete"
    uri: str
    errorOnMissing: DynBool = False

    def run(self, ctx: Any) -> dict[str, Any]:
        from google.api_core import exceptions as api_errors

        uri = as_str(ctx, self.uri, "uri", required=True) or ""
        bucket_name, name = split_gs(uri, "uri")
        client = self.client(ctx)
        deleted = True
        with google_errors(f"delete of {uri}"):
            try:
                client.bucket(bucket_name).blob(name).delete()
            except api_errors.NotFound:
                if as_bool(ctx, self.errorOnMissing, "errorOnMissing", False):
                    raise
                deleted = False
        return {"uri": uri, "deleted": deleted}


@register()
class List(GcsTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.gcs.List"
    from_: str = Field(alias="from")
    allVersions: DynBool | None = None
    filter: enum_of("FILES", "DIRECTORY", "BOTH") = "BOTH"
    listingType: enum_of("DIRECTORY", "RECURSIVE") = "DIRECTORY"
    regExp: str | None = None
    maxFiles: int | str | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        source = as_str(ctx, self.from_, "from", required=True) or ""
        bucket_name, prefix = split_gs(source, "from")
        regexp = as_str(ctx, self.regExp, "regExp") if self.regExp else None
        pattern = re.compile(regexp) if regexp else None
        limit = as_int(ctx, self.maxFiles, "maxFiles", None, minimum=1)
        kind = as_str(ctx, self.filter, "filter")
        client = self.client(ctx)
        blobs = []
        with google_errors(f"list of {source}"):
            it = client.list_blobs(bucket_name, prefix=prefix or None,
                                   delimiter="/" if as_str(ctx, self.listingType, "listingType") == "DIRECTORY"
                                   else None,
                                   versions=bool(as_bool(ctx, self.allVersions, "allVersions", False)))
            for blob in it:
                out = _blob_output(blob)
                if out["isDirectory"] != (kind == "DIRECTORY") and kind != "BOTH":
                    continue
                if pattern and not pattern.fullmatch(out["uri"]):
                    continue
                blobs.append(out)
                if limit and len(blobs) >= limit:
                    break
        return {"blobs": blobs}



@register()
class CreateBucket(GcsTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.gcp.gcs.CreateBucket"
    name: str
    ifExists: enum_of("ERROR", "UPDATE", "SKIP") = "ERROR"
    location: str | None = None
    storageClass: enum_of("REGIONAL", "MULTI_REGIONAL", "NEARLINE", "COLDLINE", "STANDARD", "ARCHIVE",
                          "DURABLE_REDUCED_AVAILABILITY") | None = None
    labels: dict[str, Any] | str | None = None
    requesterPays: DynBool | None = None
    versioningEnabled: DynBool | None = None
    indexPage: str | None = None
    notFoundPage: str | None = None
    defaultKmsKeyName: str | None = None
    defaultEventBasedHold: DynBool | None = None
    retentionPeriod: int | str | None = None
    lifecycleRules: list[dict[str, Any]] | None = None
    cors: list[dict[str, Any]] | None = None
    acl: list[dict[str, Any]] | None = None
    defaultAcl: list[dict[str, Any]] | None = None
    iamConfiguration: dict[str, Any] | None = None
    logging: dict[str, Any] | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        from google.api_core import exceptions as api_errors

        name = as_str(ctx, self.name, "name", required=True) or ""
        mode = as_str(ctx, self.ifExists, "ifExists")
        client = self.client(ctx, need_project=True)
        with google_errors(f"bucket {name}"):
            existing = client.lookup_bucket(name)
            if existing is not None and mode == "SKIP":
                ctx.log("INFO", f"bucket {name} already exists, skipped")
                return {**_bucket_output(existing), "created": False, "updated": False}
            if existing is not None and mode == "ERROR":
                raise TaskFailed(f"bucket {name}: already exists (ifExists: ERROR)")
            bucket = existing or client.bucket(name)
            self._configure(ctx, bucket)
            if existing is not None:
                bucket.patch()
                return {**_bucket_output(bucket), "created": False, "updated": True}
            try:
                bucket = client.create_bucket(bucket, location=as_str(ctx, self.location, "location"))
            except api_errors.Conflict as exc:
                raise TaskFailed(f"bucket {name}: {exc.message}") from None
        ctx.log("INFO", f"created bucket {name}")
        return {**_bucket_output(bucket), "created": True, "updated": False}

    def _configure(self, ctx: Any, bucket: Any) -> None:
        if self.storageClass:
            bucket.storage_class = as_str(ctx, self.storageClass, "storageClass")
        if self.labels is not None:
            bucket.labels = {k: str(v) for k, v in as_map(ctx, self.labels, "labels").items()}
        for attr, prop, name in (("requester_pays", self.requesterPays, "requesterPays"),
                                 ("versioning_enabled", self.versioningEnabled, "versioningEnabled"),
                                 ("default_event_based_hold", self.defaultEventBasedHold,
                                  "defaultEventBasedHold")):
            if prop is not None:
                setattr(bucket, attr, as_bool(ctx, prop, name))
        if self.indexPage or self.notFoundPage:
            bucket.configure_website(main_page_suffix=as_str(ctx, self.indexPage, "indexPage"),
                                     not_found_page=as_str(ctx, self.notFoundPage, "notFoundPage"))
        if self.defaultKmsKeyName:
            bucket.default_kms_key_name = as_str(ctx, self.defaultKmsKeyName, "defaultKmsKeyName")
        if self.retentionPeriod is not None:
            bucket.retention_period = as_int(ctx, self.retentionPeriod, "retentionPeriod", minimum=0)
        for rule in self.lifecycleRules or []:
            action = (rule.get("action") or {}).get("type")
            age = (rule.get("condition") or {}).get("age")
            if action == "DELETE":
                bucket.add_lifecycle_delete_rule(age=age)
            elif action == "SET_STORAGE_CLASS":
                bucket.add_lifecycle_set_storage_class_rule((rule.get("action") or {}).get("value"), age=age)
        if self.cors is not None:
            bucket.cors = ctx.render(self.cors)


def _bucket_output(bucket: Any) -> dict[str, Any]:
    return {"bucket": bucket.name, "bucketUri": f"gs://{bucket.name}", "location": bucket.location,
            "indexPage": (bucket._properties.get("website") or {}).get("mainPageSuffix"),
            "notFoundPage": (bucket._properties.get("website") or {}).get("notFoundPage")}
