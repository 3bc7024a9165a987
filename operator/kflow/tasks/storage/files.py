"""io.kestra.plugin.core.storage.{Write, Size, Delete, Concat, Split, Reverse, LocalFiles}."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kflow.errors import TaskFailed
from kflow.runner.storage import StorageError
from kflow.tasks.base import RunnableTask
from kflow.tasks.files import collect_output_files, stage_input_files
from kflow.tasks.registry import register
from kflow.tasks.storage.common import new_file, output_name, parse_size, source, store, uri_list


class _FileTask(RunnableTask):
    isolate: ClassVar[bool] = False  # file copies in the runner's thread; pods run them all the same


@register("io.kestra.core.tasks.storages.Write")
class Write(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Write"
    content: str
    extension: str = ".ion"

    def run(self, ctx: Any) -> dict[str, Any]:
        ext = str(ctx.render(self.extension))
        path = new_file(ctx, "content" + (ext if ext.startswith(".") or not ext else "." + ext))
        path.write_text(str(ctx.render(self.content)), encoding="utf-8")
        return {"uri": store(ctx, path)}


@register("io.kestra.core.tasks.storages.Size")
class Size(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Size"
    uri: str

    def run(self, ctx: Any) -> dict[str, Any]:
        return {"size": source(ctx, self.uri, "uri").stat().st_size}


@register("io.kestra.core.tasks.storages.Delete")
class Delete(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Delete"
    uri: str
    errorOnMissing: bool = False

    def run(self, ctx: Any) -> dict[str, Any]:
        uri = str(ctx.render(self.uri)).strip()
        try:
            path = ctx.storage.resolve(uri)
        except StorageError as exc:
            if self.errorOnMissing or "not found" not in str(exc):
                raise TaskFailed(f"uri: {exc}") from None
            return {"uri": uri, "deleted": False}
        path.unlink()
        return {"uri": uri, "deleted": True}


@register("io.kestra.core.tasks.storages.Concat")
class Concat(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Concat"
    files: list[str] | str
    separator: str | None = None
    extension: str = ".tmp"

    def run(self, ctx: Any) -> dict[str, Any]:
        sep = str(ctx.render(self.separator)).encode() if self.separator is not None else b""
        path = new_file(ctx, "concat" + str(ctx.render(self.extension)))
        uris = uri_list(ctx, self.files, "files")
        with open(path, "wb") as out:
            for i, uri in enumerate(uris):
                if i and sep:
                    out.write(sep)
                with open(source(ctx, uri, f"files[{i}]"), "rb") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
        return {"uri": store(ctx, path)}


@register("io.kestra.core.tasks.storages.Split")
class Split(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Split"
    from_: str = Field(alias="from")
    bytes_: str | None = Field(default=None, alias="bytes")
    partitions: int | None = Field(default=None, ge=1)
    rows: int | None = Field(default=None, ge=1)
    separator: str = "\n"

    @field_validator("bytes_")
    @classmethod
    def _size(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value:
            parse_size(value)
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Split:
        given = [n for n, v in (("bytes", self.bytes_), ("partitions", self.partitions), ("rows", self.rows))
                 if v is not None]
        if len(given) != 1:
            raise ValueError("exactly one of bytes, partitions or rows is required"
                             + (f", got {', '.join(given)}" if given else ""))
        return self

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        sep = self.separator.encode()
        with open(src, "rb") as f:
            records = [r + sep for r in f.read().split(sep)]
        if records and records[-1] == sep:  # the file ended with a separator
            records.pop()
        chunks: list[list[bytes]] = []
        if self.rows:
            chunks = [records[i:i + self.rows] for i in range(0, len(records), self.rows)]
        elif self.partitions:
            n = self.partitions
            chunks = [records[i * len(records) // n:(i + 1) * len(records) // n] for i in range(n)]
        else:
            limit, size = parse_size(str(ctx.render(self.bytes_))), 0
            for rec in records:
                if not chunks or (size + len(rec) > limit and chunks[-1]):
                    chunks.append([])
                    size = 0
                chunks[-1].append(rec)
                size += len(rec)
        stem, dot, ext = output_name(src).rpartition(".")
        uris = []
        for i, chunk in enumerate(chunks):
            path = new_file(ctx, f"{stem or ext}-{i}{dot}{ext if stem else ''}")
            path.write_bytes(b"".join(chunk))
            uris.append(store(ctx, path))
        return {"uris": uris}


@register("io.kestra.core.tasks.storages.Reverse")
class Reverse(_FileTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.Reverse"
    from_: str = Field(alias="from")
    separator: str = "\n"
    charset: str = "UTF-8"

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        text = src.read_text(encoding=self.charset)
        lines = text.split(self.separator)
        trailing = lines and lines[-1] == ""
        if trailing:
            lines.pop()
        path = new_file(ctx, output_name(src))
        path.write_text(self.separator.join(reversed(lines)) + (self.separator if trailing else ""),
                        encoding=self.charset)
        return {"uri": store(ctx, path)}


@register("io.kestra.core.tasks.storages.LocalFiles")
class LocalFiles(_FileTask):
    """Deprecated in Kestra for WorkingDirectory's inputFiles/outputFiles; alone it writes `inputs` into
    its working directory and stores the files matching `outputs`."""

    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.LocalFiles"
    inputs: dict[str, Any] | str | None = None
    outputs: list[str] | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        stage_input_files(ctx, self.inputs)
        return {"uris": collect_output_files(ctx, self.outputs)}
