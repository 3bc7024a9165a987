"""Database values as task outputs: JSON-safe Python values (FETCH/FETCH_ONE) and Amazon Ion text (STORE).

JSON mapping: timestamps/dates/times → ISO-8601 strings, Decimal → int (integral) or float,
intervals → ISO-8601 durations, bytes → base64, UUID/inet/ranges/other → str; lists and JSON
documents are walked.

Ion text (one top-level value per line, like Kestra's `.ion` files): structs with quoted field
names, strings, ints, decimals (`1.50`, `12.`), floats (`1.5e0`), timestamps (naive ones with the
unknown offset `-00:00`), blobs for bytes, lists.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
from decimal import Decimal
from typing import Any, TextIO


def iso_duration(td: dt.timedelta) -> str:
    total = td.total_seconds()
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rem = divmod(total, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, seconds = divmod(rem, 60)
    out = "P"
    if days:
        out += f"{int(days)}D"
    time = ""
    if hours:
        time += f"{int(hours)}H"
    if minutes:
        time += f"{int(minutes)}M"
    if seconds or not (days or hours or minutes):
        sec = f"{seconds:.6f}".rstrip("0").rstrip(".")
        time += f"{sec}S"
    if time:
        out += "T" + time
    return sign + out


def to_json(value: Any) -> Any:
    """A value psycopg returned → something json.dumps accepts, without loss where it can."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value() and value.as_tuple().exponent >= 0:
            return int(value)
        return float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return iso_duration(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return str(value)


def row_to_json(columns: list[str], row: tuple) -> dict[str, Any]:
    return {c: to_json(v) for c, v in zip(columns, row, strict=False)}


# --- Amazon Ion text ------------------------------------------------------------------------------

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
