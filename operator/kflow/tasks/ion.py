"""Amazon Ion text, the row format of Kestra's `fetchType: STORE` files (one value per line).

Structs with quoted field names, strings, ints, decimals (`1.50`, `12.`), floats (`1.5e0`), timestamps
(naive ones with Ion's unknown offset `-00:00`), blobs for bytes, lists.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from kflow.tasks.rows import iso_duration

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0",
            "\a": "\\a", "\b": "\\b", "\f": "\\f", "\v": "\\v"}


def ion_string(text: str) -> str:
    out = []
    for ch in text:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _ion_decimal(value: Decimal) -> str:
    if value.is_nan():
        return "nan"
    if value.is_infinite():
        return "-inf" if value < 0 else "+inf"
    sign, digits, exponent = value.as_tuple()
    text = "".join(map(str, digits)) or "0"
    prefix = "-" if sign else ""
    if exponent >= 0:
        return f"{prefix}{text}d{exponent}" if exponent else f"{prefix}{text}."
    # Plain notation keeps the precision (1.50 stays 1.50).
    point = len(text) + exponent
    if point > 0:
        return f"{prefix}{text[:point]}.{text[point:]}"
    return f"{prefix}0.{'0' * -point}{text}"


def _ion_float(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        return f"{mantissa}e{int(exp)}"
    return f"{text}e0"


def _ion_timestamp(value: dt.datetime) -> str:
    base = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.year < 1000:
        base = f"{value.year:04d}" + base[base.index("-"):]
    if value.microsecond:
        base += f".{value.microsecond:06d}"
    offset = value.utcoffset()
    if offset is None:
        return base + "-00:00"
    if offset == dt.timedelta(0):
        return base + "Z"
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{base}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def ion_value(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _ion_float(value)
    if isinstance(value, Decimal):
        return _ion_decimal(value)
    if isinstance(value, str):
        return ion_string(value)
    if isinstance(value, dt.datetime):
        return _ion_timestamp(value)
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
    if isinstance(value, dt.time):
        return ion_string(value.isoformat())
    if isinstance(value, dt.timedelta):
        return ion_string(iso_duration(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "{{" + base64.b64encode(bytes(value)).decode("ascii") + "}}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{ion_string(str(k))}:{ion_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(ion_value(v) for v in value) + "]"
    return ion_string(str(value))


class IonRowWriter:
    """Writes each row as one Ion struct per line."""

    def __init__(self, out: TextIO, columns: list[str]):
        self.out = out
        self.keys = [ion_string(c) + ":" for c in columns]
        self.count = 0

    def write(self, row: tuple) -> None:
        self.out.write("{" + ",".join(k + ion_value(v) for k, v in zip(self.keys, row, strict=False))
                       + "}\n")
        self.count += 1


def dumps(value: Any) -> str:
    return ion_value(value)


def write_rows(out: TextIO, rows: Iterable[Any]) -> int:
    n = 0
    for row in rows:
        out.write(ion_value(row))
        out.write("\n")
        n += 1
    return n


def read_rows(path: Path, exact: bool = False) -> Iterator[Any]:
    """Read back Ion values (structs, lists and scalars). Plain JSON-like values for previews and tests;
    `exact` keeps decimals and timestamps as Decimal / datetime so that writing them back loses nothing."""
    from amazon.ion import simpleion  # optional dependency, installed with the `kestra` package

    with open(path, "rb") as f:
        for value in simpleion.load(f, single_value=False):
            yield _plain(value, exact)


def _plain(value: Any, exact: bool = False) -> Any:
    if getattr(value, "ion_type", None) is not None and type(value).__name__ == "IonPyNull":
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v, exact) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, exact) for v in value]
    if isinstance(value, decimal.Decimal):
        return decimal.Decimal(value) if exact else float(value)
    if isinstance(value, dt.datetime):
        if exact and getattr(getattr(value, "precision", None), "name", "") in ("YEAR", "MONTH", "DAY"):
            return dt.date(value.year, value.month, value.day)
        if exact:
            return dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                               value.microsecond, value.tzinfo)
        return value.isoformat()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
