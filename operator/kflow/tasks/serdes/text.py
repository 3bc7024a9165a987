"""io.kestra.plugin.serdes.{csv,json}: CSV and JSON / JSON Lines to and from Ion (Kestra's row files)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, field_validator

from kflow.errors import TaskFailed
from kflow.tasks import ion
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register
from kflow.tasks.rows import to_json
from kflow.tasks.storage.common import new_file, output_name, source, store


def _one_char(value: str) -> str:
    if len(value) != 1:
        raise ValueError(f"expected a single character, got {value!r}")
    return value


class _Convert(RunnableTask):
    from_: str = Field(alias="from")
    charset: str = "UTF-8"

    def out_path(self, ctx: Any, src: Any, ext: str) -> Any:
        stem = output_name(src).rsplit(".", 1)[0]
        return new_file(ctx, stem + ext)


def _read_error(exc: Exception, what: str) -> TaskFailed:
    return TaskFailed(f"from: not valid {what}: {exc}")


@register("io.kestra.plugin.serdes.csv.CsvReader")
class CsvToIon(_Convert):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.csv.CsvToIon"
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    header: bool = True
    skipRows: int = Field(default=0, ge=0)
    skipEmptyRows: bool = False
    errorOnDifferentFieldCount: bool = False
    maxRowsPerFile: int | None = None

    _chars = field_validator("fieldSeparator", "textDelimiter")(lambda cls, v: _one_char(v))

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        dest = self.out_path(ctx, src, ".ion")
        count = 0
        with open(src, encoding=self.charset, newline="") as f, open(dest, "w", encoding="utf-8") as out:
            reader = csv.reader(f, delimiter=self.fieldSeparator, quotechar=self.textDelimiter)
            columns: list[str] | None = None
            try:
                for i, row in enumerate(reader):
                    if i < self.skipRows:
                        continue
                    if self.skipEmptyRows and not any(row):
                        continue
                    if self.header and columns is None:
                        columns = row
                        continue
                    if columns is not None and len(row) != len(columns) and self.errorOnDifferentFieldCount:
                        raise TaskFailed(f"from: line {reader.line_num} has {len(row)} fields, the header "
                                         f"{len(columns)}")
                    value: Any = dict(zip(columns, row, strict=False)) if columns is not None else row
                    out.write(ion.dumps(value) + "\n")
                    count += 1
            except csv.Error as exc:
                raise _read_error(exc, "CSV") from None
        ctx.log("DEBUG", f"{count} row(s) converted")
        return {"uri": store(ctx, dest), "size": count}


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(to_json(value))
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


@register("io.kestra.plugin.serdes.csv.CsvWriter")
class IonToCsv(_Convert):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.csv.IonToCsv"
    fieldSeparator: str = ","
    textDelimiter: str = '"'
    header: bool = True
    lineDelimiter: str = "\n"
    alwaysDelimitText: bool = False
    dateFormat: str | None = None
    timeFormat: str | None = None
    dateTimeFormat: str | None = None
    timeZoneId: str | None = None

    _chars = field_validator("fieldSeparator", "textDelimiter")(lambda cls, v: _one_char(v))

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        dest = self.out_path(ctx, src, ".csv")
        rows = list(ion.read_rows(src, exact=True))
        columns = list(dict.fromkeys(k for r in rows if isinstance(r, dict) for k in r))
        quoting = csv.QUOTE_ALL if self.alwaysDelimitText else csv.QUOTE_MINIMAL
        with open(dest, "w", encoding=self.charset, newline="") as out:
            writer = csv.writer(out, delimiter=self.fieldSeparator, quotechar=self.textDelimiter,
                                lineterminator=self.lineDelimiter, quoting=quoting)
            if self.header and columns:
                writer.writerow(columns)
            for r in rows:
                cells = [r.get(c) for c in columns] if isinstance(r, dict) else (r if isinstance(r, list) else [r])
                writer.writerow([_csv_cell(v) for v in cells])
        return {"uri": store(ctx, dest), "size": len(rows)}


@register("io.kestra.plugin.serdes.json.JsonReader")
class JsonToIon(_Convert):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.json.JsonToIon"
    newLine: bool = True  # true: JSON Lines (one document per line); false: one document (an array: its items)

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        dest = self.out_path(ctx, src, ".ion")
        count = line_no = 0
        with open(src, encoding=self.charset) as f, open(dest, "w", encoding="utf-8") as out:
            try:
                if self.newLine:
                    for line in f:
                        line_no += 1
                        if line.strip():
                            out.write(ion.dumps(json.loads(line, parse_float=Decimal)) + "\n")
                            count += 1
                else:
                    doc = json.load(f, parse_float=Decimal)
                    for item in doc if isinstance(doc, list) else [doc]:
                        out.write(ion.dumps(item) + "\n")
                        count += 1
            except ValueError as exc:
                where = f" (line {line_no})" if self.newLine else ""
                raise _read_error(exc, "JSON" + where) from None
        return {"uri": store(ctx, dest), "size": count}


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 \
            else float(value)
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return to_json(value)


@register("io.kestra.plugin.serdes.json.JsonWriter")
class IonToJson(_Convert):
    TYPE: ClassVar[str] = "io.kestra.plugin.serdes.json.IonToJson"
    newLine: bool = True  # true: JSON Lines; false: one JSON array
    timeZoneId: str | None = None

    def run(self, ctx: Any) -> dict[str, Any]:
        src = source(ctx, self.from_)
        dest = self.out_path(ctx, src, ".jsonl" if self.newLine else ".json")
        rows = (_json_value(r) for r in ion.read_rows(src, exact=True))
        count = 0
        with open(dest, "w", encoding=self.charset) as out:
            if self.newLine:
                for r in rows:
                    out.write(json.dumps(r, ensure_ascii=False) + "\n")
                    count += 1
            else:
                items = list(rows)
                json.dump(items, out, ensure_ascii=False)
                count = len(items)
        return {"uri": store(ctx, dest), "size": count}
