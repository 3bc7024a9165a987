"""Query results in Kestra's fetchType shapes: FETCH_ONE → row, FETCH → rows, STORE → an Ion file."""

from __future__ import annotations

import base64
import datetime as dt
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

FetchType = Literal["NONE", "FETCH", "FETCH_ONE", "STORE"]


def fetch_type(declared: str | None, fetch: bool, fetch_one: bool, store: bool) -> str:
    """The deprecated booleans `fetch`, `fetchOne`, `store` map to fetchType."""
    if declared and declared != "NONE":
        return declared
    return "STORE" if store else "FETCH_ONE" if fetch_one else "FETCH" if fetch else "NONE"


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


jsonable = to_json


def shape(kind: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], store: Any = None) \
        -> dict[str, Any]:
    """Outputs for one result set. `store(write)` receives a writer for STORE and returns the URI."""
    if kind == "FETCH_ONE":
        first = next(iter(rows), None)
        row = None if first is None else {c: jsonable(v) for c, v in zip(columns, first, strict=False)}
        return {"row": row, "size": 0 if row is None else 1}
    if kind == "FETCH":
        out = [{c: jsonable(v) for c, v in zip(columns, r, strict=False)} for r in rows]
        return {"rows": out, "size": len(out)}
    if kind == "STORE":
        from kflow.tasks import ion

        def write(f: Any) -> int:
            return ion.write_rows(f, (dict(zip(columns, r, strict=False)) for r in rows))

        uri, size = store(write)
        return {"uri": uri, "size": size}
    return {}
