"""Amazon Ion text, the row format of Kestra's `fetchType: STORE` files (one value per line)."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

_SYMBOL = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_KEYWORDS = {"null", "true", "false", "nan"}


def _field(name: str) -> str:
    if _SYMBOL.match(name) and name not in _KEYWORDS:
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dumps(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "nan"
        if value in (float("inf"), float("-inf")):
            return "+inf" if value > 0 else "-inf"
        return repr(value) + ("e0" if "e" not in repr(value) else "")
    if isinstance(value, decimal.Decimal):
        text = format(value, "f")
        return text if "." in text else text + "."
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat() + "T"
    if isinstance(value, dt.time):
        return json.dumps(value.isoformat())
    if isinstance(value, bytes | bytearray | memoryview):
        return "{{" + base64.b64encode(bytes(value)).decode() + "}}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_field(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def write_rows(out: IO[str], rows: Iterable[Any]) -> int:
    n = 0
    for row in rows:
        out.write(dumps(row))
        out.write("\n")
        n += 1
    return n


def read_rows(path: Path) -> Iterator[Any]:
    """Read back what `write_rows` wrote (structs, lists and scalars; for previews and tests)."""
    from amazon.ion import simpleion  # optional dependency, installed with the `kestra` package

    with open(path, "rb") as f:
        for value in simpleion.load(f, single_value=False):
            yield _plain(value)


def _plain(value: Any) -> Any:
    if getattr(value, "ion_type", None) is not None and type(value).__name__ == "IonPyNull":
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
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
