"""io.kestra.plugin.compress.{FileCompress, FileDecompress, ArchiveCompress, ArchiveDecompress}.

Archives: ZIP, JAR (a zip), TAR; compressors: GZIP, BZIP2, XZ, LZMA, DEFLATE, on the standard library.
Kestra's other names (AR, CPIO, BROTLI, ZSTD, SNAPPY, ...) are refused at validation with that list.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import shutil
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar

from pydantic import Field, field_validator

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register
from kflow.tasks.storage.common import new_file, output_name, source, store

KESTRA_COMPRESSIONS = {"BROTLI", "BZIP2", "DEFLATE", "DEFLATE64", "GZIP", "LZ4BLOCK", "LZ4FRAME", "LZMA",
                       "SNAPPY", "SNAPPYFRAME", "XZ", "Z", "ZSTD"}
KESTRA_ARCHIVES = {"AR", "ARJ", "CPIO", "DUMP", "JAR", "TAR", "ZIP"}
COMPRESSIONS = {"GZIP": ".gz", "BZIP2": ".bz2", "XZ": ".xz", "LZMA": ".lzma", "DEFLATE": ".deflate"}
ARCHIVES = {"ZIP": ".zip", "JAR": ".jar", "TAR": ".tar"}


def _check(value: str | None, supported: dict[str, str], known: set[str], what: str) -> str | None:
    if value is None or "{{" in value:
        return value
    name = value.upper()
    if name not in supported:
        kind = "not supported by kflow" if name in known else "unknown"
        raise ValueError(f"{what} {value!r} is {kind}; expected one of {', '.join(sorted(supported))}")
    return name


class _Deflate(io.RawIOBase):
    """zlib streams (Kestra's DEFLATE) as a readable file."""

    def __init__(self, raw: IO[bytes]):
        self.raw, self.z, self.buf = raw, zlib.decompressobj(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self.buf:
            chunk = self.raw.read(1 << 16)
            if not chunk:
                self.buf = self.z.flush()
                break
            self.buf = self.z.decompress(chunk)
        n = min(len(b), len(self.buf))
        b[:n], self.buf = self.buf[:n], self.buf[n:]
        return n


def open_decompressed(path: Path, compression: str | None) -> IO[bytes]:
    if compression is None:
        return open(path, "rb")
    if compression == "GZIP":
        return gzip.open(path, "rb")
    if compression == "BZIP2":
        return bz2.open(path, "rb")
    if compression in ("XZ", "LZMA"):
        return lzma.open(path, "rb", format=lzma.FORMAT_XZ if compression == "XZ" else lzma.FORMAT_ALONE)
    return io.BufferedReader(_Deflate(open(path, "rb")))


def compress_file(src: Path, dest: Path, compression: str) -> None:
    if compression == "DEFLATE":
        z = zlib.compressobj()
        with open(src, "rb") as f, open(dest, "wb") as out:
            while chunk := f.read(1 << 20):
                out.write(z.compress(chunk))
            out.write(z.flush())
        return
    with open(src, "rb") as f, _compressed_writer(dest, compression) as out:
        shutil.copyfileobj(f, out, 1 << 20)


def _compressed_writer(dest: Path, compression: str) -> IO[bytes]:
    if compression == "GZIP":
        return gzip.open(dest, "wb")
    if compression == "BZIP2":
        return bz2.open(dest, "wb")
    return lzma.open(dest, "wb", format=lzma.FORMAT_XZ if compression == "XZ" else lzma.FORMAT_ALONE)


def _decompress_error(exc: Exception, what: str) -> TaskFailed:
    return TaskFailed(f"from: cannot read the {what}: {exc}")


class _Compress(RunnableTask):
    isolate: ClassVar[bool] = False  # zlib/bz2/lzma stream in C, in the runner's thread; pods run them alike
    from_: Any = Field(alias="from")
    compression: str | None = None

    @field_validator("compression")
    @classmethod
    def _compression(cls, value: str | None) -> str | None:
        return _check(value, COMPRESSIONS, KESTRA_COMPRESSIONS, "compression")

    def _compression_now(self, ctx: Any) -> str | None:
        if self.compression is None:
            return None
        try:
            return _check(str(ctx.render(self.compression)), COMPRESSIONS, KESTRA_COMPRESSIONS, "compression")
        except ValueError as exc:
            raise TaskFailed(str(exc)) from None


@register()
class FileCompress(_Compress):
    TYPE: ClassVar[str] = "io.kestra.plugin.compress.FileCompress"
    compression: str

    def run(self, ctx: Any) -> dict[str, Any]:
        src, kind = source(ctx, self.from_), self._compression_now(ctx)
        assert kind is not None
        dest = new_file(ctx, output_name(src) + COMPRESSIONS[kind])
        compress_file(src, dest, kind)
        return {"uri": store(ctx, dest)}


@register()
class FileDecompress(_Compress):
    TYPE: ClassVar[str] = "io.kestra.plugin.compress.FileDecompress"
    compression: str

    def run(self, ctx: Any) -> dict[str, Any]:
        src, kind = source(ctx, self.from_), self._compression_now(ctx)
        assert kind is not None
        name = output_name(src)
        ext = COMPRESSIONS[kind]
        dest = new_file(ctx, name[: -len(ext)] if name.endswith(ext) and len(name) > len(ext) else name)
        try:
            with open_decompressed(src, kind) as f, open(dest, "wb") as out:
                shutil.copyfileobj(f, out, 1 << 20)
        except (OSError, EOFError, lzma.LZMAError, zlib.error) as exc:
            raise _decompress_error(exc, f"{kind} file") from None
        return {"uri": store(ctx, dest)}


class _Archive(_Compress):
    algorithm: str

    @field_validator("algorithm")
    @classmethod
    def _algorithm(cls, value: str) -> str:
        return _check(value, ARCHIVES, KESTRA_ARCHIVES, "algorithm") or value

    def _algorithm_now(self, ctx: Any) -> str:
        try:
            return _check(str(ctx.render(self.algorithm)), ARCHIVES, KESTRA_ARCHIVES, "algorithm") or ""
        except ValueError as exc:
            raise TaskFailed(str(exc)) from None


def _entry_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise TaskFailed(f"from: {name!r} is not a relative path inside the archive")
    return path.as_posix()


@register()
class ArchiveCompress(_Archive):
    TYPE: ClassVar[str] = "io.kestra.plugin.compress.ArchiveCompress"

    def run(self, ctx: Any) -> dict[str, Any]:
        import json

        algorithm, kind = self._algorithm_now(ctx), self._compression_now(ctx)
        files = ctx.render_value(self.from_)
        if isinstance(files, str):
            try:
                files = json.loads(files)
            except ValueError:
                files = None
        if not isinstance(files, dict) or not files:
            raise TaskFailed("from: expected a map of path in the archive to kestra:// URI")
        archive = new_file(ctx, "archive" + ARCHIVES[algorithm])
        members = [(_entry_name(str(k)), source(ctx, v, f"from.{k}")) for k, v in files.items()]
        if algorithm == "TAR":
            with tarfile.open(archive, "w") as tar:
                for name, path in members:
                    tar.add(path, arcname=name)
        else:
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, path in members:
                    zf.write(path, name)
        if kind is not None:
            packed = archive.with_name(archive.name + COMPRESSIONS[kind])
            compress_file(archive, packed, kind)
            archive.unlink()
            archive = packed
        return {"uri": store(ctx, archive)}


@register()
class ArchiveDecompress(_Archive):
    TYPE: ClassVar[str] = "io.kestra.plugin.compress.ArchiveDecompress"

    def run(self, ctx: Any) -> dict[str, Any]:
        algorithm, kind = self._algorithm_now(ctx), self._compression_now(ctx)
        src = source(ctx, self.from_)
        out_dir = new_file(ctx, "extracted")
        out_dir.mkdir(exist_ok=True)
        extracted: dict[str, Path] = {}
        try:
            with open_decompressed(src, kind) as stream:
                if algorithm == "TAR":
                    with tarfile.open(fileobj=stream, mode="r|") as tar:
                        for member in tar:
                            if member.isfile():
                                name = _entry_name(member.name)
                                dest = out_dir / name
                                dest.parent.mkdir(parents=True, exist_ok=True)
                                with tar.extractfile(member) as f, open(dest, "wb") as out:  # type: ignore[union-attr]
                                    shutil.copyfileobj(f, out, 1 << 20)
                                extracted[name] = dest
                else:
                    data = stream if kind is None else io.BytesIO(stream.read())  # zip needs seeking
                    with zipfile.ZipFile(data) as zf:
                        for info in zf.infolist():
                            if not info.is_dir():
                                name = _entry_name(info.filename)
                                dest = out_dir / name
                                dest.parent.mkdir(parents=True, exist_ok=True)
                                with zf.open(info) as f, open(dest, "wb") as out:
                                    shutil.copyfileobj(f, out, 1 << 20)
                                extracted[name] = dest
        except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, zlib.error) as exc:
            raise _decompress_error(exc, f"{algorithm} archive") from None
        files = {name.replace(" ", "_"): ctx.storage.put(ctx.task_id, ctx.task_run_id, path,
                                                         name=name.replace("/", "_").replace(" ", "_"), move=True)
                 for name, path in extracted.items()}
        ctx.log("INFO", f"{len(files)} file(s) extracted")
        return {"files": files}
