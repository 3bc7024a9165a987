"""io.kestra.plugin.serdes.{avro,parquet}: Ion to and from Avro (fastavro) and Parquet (pyarrow).

`schema` is an Avro schema (JSON text), as in Kestra; values are converted to its types (CSV rows hold
strings). Without a schema, Parquet columns are inferred from the rows.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from kflow.errors import TaskFailed
from kflow.tasks import ion
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register
from kflow.tasks.storage.common import new_file, output_name, source, store

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


def _parse_schema(text: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
        raise ValueError("expected an Avro record schema ({\"type\": \"record\", \"fields\": [...]})")
    import fastavro

    try:
        fastavro.parse_schema(schema)
    except Exception as exc:
        raise ValueError(f"invalid Avro schema: {exc}") from None
    return schema


def _coerce(value: Any, kind: Any, path: str) -> Any:
    """One Ion value → the Avro type `kind` (strings from CSV parsed; '' is null for nullable types)."""
    if isinstance(kind, list):  # a union: null first when the value is missing
        if "null" in kind and (value is None or (value == "" and kind != ["null", "string"])):
            return None
        errors = []
        for branch in kind:
            if branch == "null":
                continue
            try:
                return _coerce(value, branch, path)
            except ValueError as exc:
                errors.append(str(exc))
        raise ValueError(errors[0] if errors else f"{path}: null is not allowed")
    if isinstance(kind, dict):
        logical, base = kind.get("logicalType"), kind.get("type")
        if logical == "date":
            return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
        if logical in ("timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"):
            if isinstance(value, dt.datetime):
                stamp = value
            else:
                stamp = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            if logical.startswith("timestamp") and stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
            return stamp
        if logical == "decimal":
            try:
                return Decimal(str(value)).quantize(Decimal(1).scaleb(-int(kind.get("scale", 0))))
            except InvalidOperation:
                raise ValueError(f"{path}: {value!r} is not a decimal") from None
        if base == "record":
            return _record(value, kind, path)
        if base == "array":
            return [_coerce(v, kind["items"], f"{path}[{i}]") for i, v in enumerate(value or [])]
        if base == "map":
            return {str(k): _coerce(v, kind["values"], f"{path}.{k}") for k, v in (value or {}).items()}
        if base == "enum":
            return str(value)
        return _coerce(value, base, path)
    if value is None:
        raise ValueError(f"{path}: null is not allowed (make the field a union with null)")
    try:
        if kind in ("int", "long"):
            if isinstance(value, bool):
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        if kind in ("float", "double"):
            return float(value)
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind == "string":
            return value if isinstance(value, str) else json.dumps(value) if isinstance(value, (dict, list)) \
                else str(value)
        if kind == "bytes":
            return value if isinstance(value, bytes) else str(value).encode()
    except (TypeError, ValueError):
        raise ValueError(f"{path}: {value!r} is not a valid {kind}") from None
    return value


def _record(row: Any, schema: dict[str, Any], path: str = "") -> dict[str, Any]:
    if not isinstance(row, dict):
        raise ValueError(f"{path or 'row'}: expected a struct, got {type(row).__name__}")
    out = {}
    for f in schema["fields"]:
        name = f["name"]
        value = row.get(name, f.get("default"))
        out[name] = _coerce(value, f["type"], f"{path}.{name}" if path else name)
    return out


def _rows(ctx: Any, task: Any, schema: dict[str, Any] | None) -> list[Any]:
    rows = list(ion.read_rows(source(ctx, task.from_), exact=True))
    if schema is None:
        return rows
    out = []
    for i, row in enumerate(rows):
        try:
            out.append(_record(row, schema))
        except ValueError as exc:
            raise TaskFailed(f"row {i}: {exc}") from None
    return out


class _Columnar(RunnableTask):
    from_: str = Field(alias="from")

    def out_path(self, ctx: Any, ext: str) -> Any:
        return new_file(ctx, output_name(source(ctx, self.from_)).rsplit(".", 1)[0] + ext)


class _FromIon(_Columnar):
    schema_: str | None = Field(default=None, alias="schema")
    dateFormat: str | None = None
    timeFormat: str | None = None
    datetimeFormat: str | None = None
    timeZoneId: str | None = None
    strictSchema: bool = False
    inferAllFields: bool = False
    trueValues: list[str] | None = None
    falseValues: list[str] | None = None
    nullValues: list[str] | None = None
    decimalSeparator: str | None = None

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value:
            _parse_schema(value)
        return value

    def parsed_schema(self, ctx: Any) -> dict[str, Any] | None:
        if self.schema_ is None:
            return None
        try:
            return _parse_schema(str(ctx.render(self.schema_)))
        except ValueError as exc:
            raise TaskFailed(f"schema: {exc}") from None


@register("io.kestra.plugin.serdes.avro.AvroWriter")
class IonToAvro(_FromIon):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.avro.IonToAvro"
    schema_: str = Field(alias="schema")

    def run(self, ctx: Any) -> dict[str, Any]:
        import fastavro

        schema = self.parsed_schema(ctx)
        rows = _rows(ctx, self, schema)
        dest = self.out_path(ctx, ".avro")
        with open(dest, "wb") as out:
            fastavro.writer(out, fastavro.parse_schema(schema), rows)
        return {"uri": store(ctx, dest), "size": len(rows)}


@register("io.kestra.plugin.serdes.avro.AvroReader")
class AvroToIon(_Columnar):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.avro.AvroToIon"

    def run(self, ctx: Any) -> dict[str, Any]:
        import fastavro

        dest = self.out_path(ctx, ".ion")
        try:
            with open(source(ctx, self.from_), "rb") as f, open(dest, "w", encoding="utf-8") as out:
                count = ion.write_rows(out, fastavro.reader(f))
        except (ValueError, EOFError) as exc:
            raise TaskFailed(f"from: not a valid Avro file: {exc}") from None
        return {"uri": store(ctx, dest), "size": count}


def _arrow_type(kind: Any) -> Any:
    import pyarrow as pa

    if isinstance(kind, list):
        return _arrow_type(next((k for k in kind if k != "null"), "string"))
    if isinstance(kind, dict):
        logical, base = kind.get("logicalType"), kind.get("type")
        if logical == "date":
            return pa.date32()
        if logical and "timestamp" in logical:
            unit = "ms" if logical.endswith("millis") else "us"
            return pa.timestamp(unit, tz=None if logical.startswith("local") else "UTC")
        if logical == "decimal":
            return pa.decimal128(int(kind["precision"]), int(kind.get("scale", 0)))
        if base == "record":
            return pa.struct([pa.field(f["name"], _arrow_type(f["type"])) for f in kind["fields"]])
        if base == "array":
            return pa.list_(_arrow_type(kind["items"]))
        if base == "map":
            return pa.map_(pa.string(), _arrow_type(kind["values"]))
        return _arrow_type(base)
    return {"string": pa.string(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(),
            "double": pa.float64(), "boolean": pa.bool_(), "bytes": pa.binary(), "null": pa.null(),
            "enum": pa.string()}.get(kind, pa.string())


@register("io.kestra.plugin.serdes.parquet.ParquetWriter")
class IonToParquet(_FromIon):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.parquet.IonToParquet"
    compressionCodec: Literal["UNCOMPRESSED", "SNAPPY", "GZIP", "LZ4", "ZSTD", "BROTLI"] = "GZIP"
    version: Literal["V1", "V2"] = "V2"
    rowGroupSize: int | None = Field(default=None, ge=1)
    pageSize: int | None = Field(default=None, ge=1)
    dictionaryPageSize: int | None = None
    maxPaddingSize: int | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self.parsed_schema(ctx)
        rows = _rows(ctx, self, schema)
        try:
            if schema is not None:
                arrow = pa.schema([pa.field(f["name"], _arrow_type(f["type"])) for f in schema["fields"]])
                table = pa.Table.from_pylist(rows, schema=arrow)
            else:
                table = pa.Table.from_pylist([r if isinstance(r, dict) else {"value": r} for r in rows])
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise TaskFailed(f"cannot build Parquet columns: {exc}") from None
        dest = self.out_path(ctx, ".parquet")
        codec = None if self.compressionCodec == "UNCOMPRESSED" else self.compressionCodec.lower()
        pq.write_table(table, dest, compression=codec, version="2.6" if self.version == "V2" else "1.0",
                       row_group_size=self.rowGroupSize, data_page_size=self.pageSize)
        return {"uri": store(ctx, dest), "size": table.num_rows}


@register("io.kestra.plugin.serdes.parquet.ParquetReader")
class ParquetToIon(_Columnar):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.parquet.ParquetToIon"

    def run(self, ctx: Any) -> dict[str, Any]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        dest = self.out_path(ctx, ".ion")
        count = 0
        try:
            pf = pq.ParquetFile(source(ctx, self.from_))
            with open(dest, "w", encoding="utf-8") as out:
                for batch in pf.iter_batches():
                    count += ion.write_rows(out, batch.to_pylist())
        except pa.ArrowException as exc:
            raise TaskFailed(f"from: not a valid Parquet file: {exc}") from None
        return {"uri": store(ctx, dest), "size": count}
