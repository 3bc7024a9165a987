"""Query results in Kestra's fetchType shapes: FETCH_ONE → row, FETCH → rows, STORE → an Ion file."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from kflow.tasks import ion

FetchType = Literal["NONE", "FETCH", "FETCH_ONE", "STORE"]


def fetch_type(declared: str | None, fetch: bool, fetch_one: bool, store: bool) -> str:
    """The deprecated booleans `fetch`, `fetchOne`, `store` map to fetchType."""
    if declared and declared != "NONE":
        return declared
    return "STORE" if store else "FETCH_ONE" if fetch_one else "FETCH" if fetch else "NONE"


def jsonable(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


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
        def write(f: Any) -> int:
            return ion.write_rows(f, (dict(zip(columns, r, strict=False)) for r in rows))

        uri, size = store(write)
        return {"uri": uri, "size": size}
    return {}
