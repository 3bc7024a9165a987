"""Value semantics shared by the renderer: Java-like stringification, JSON, truthiness and operators."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from jinja2.runtime import LoopContext

from .undefined import KfUndefined, MissingVariable, missing

MAX_STRING = 10_000_000
MAX_ITEMS = 100_000


class ExprError(Exception):
    """A user-facing evaluation error (wrapped into RenderError with the expression and line)."""


def java_float(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    ax = abs(x)
    if 1e-3 <= ax < 1e7:
        return repr(x)
    _, digits, exp = Decimal(repr(ax)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    e = len(digits) + int(exp) - 1
    return ("-" if x < 0 else "") + f"{ds[0]}.{ds[1:] or '0'}E{e}"


def _json_default(o: Any) -> Any:
    if isinstance(o, datetime | date | time):
        return o.isoformat()
    if isinstance(o, KfUndefined):
        raise MissingVariable(o.path)
    if isinstance(o, tuple | set | frozenset):
        return list(o)
    raise ExprError(f"Unable to serialize a value of type {type(o).__name__}")


def to_json(value: Any) -> str:
    if isinstance(value, KfUndefined):
        raise MissingVariable(value.path)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def to_str(value: Any) -> str:
    """How a value prints into a rendered string (Pebble + Kestra's JSON writer)."""
    t = type(value)
    if t is str:
        return value
    if t is bool:
        return "true" if value else "false"
    if value is None:
        return ""
    if t is int:
        return str(value)
    if t is float:
        return java_float(value)
    if t is dict or t is list or t is tuple:
        return to_json(value)
    if isinstance(value, KfUndefined):
        raise MissingVariable(value.path)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        return to_json(value)
    if isinstance(value, int | float):
        return to_str(float(value) if isinstance(value, float) else int(value))
    raise ExprError(f"Unable to render a value of type {type(value).__name__}")


def truthy(value: Any) -> bool:
    """Kestra `TruthUtils`: the rendered string is false iff it is "false", "0", "-0" or ""."""
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0
    s = value if isinstance(value, str) else to_str(value)
    return s.lower() not in ("false", "0", "-0", "")


def as_bool(value: Any) -> bool:
    """Truth for `if`, ternary, `and`/`or`/`not`."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    if isinstance(value, KfUndefined):
        raise MissingVariable(value.path)
    if isinstance(value, str):
        return truthy(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, Mapping | list | tuple):
        return len(value) > 0
    return True


# ---- attribute access -------------------------------------------------------------------------------

_LOOP_ATTRS = {"index": "index0", "revindex": "revindex0", "first": "first", "last": "last",
               "length": "length"}


def get_path(obj: Any, keys: tuple, path: str) -> Any:
    """`a.b[c].d`: dict keys and list indexes only; anything else is undefined."""
    for k in keys:
        if isinstance(obj, dict):
            try:
                obj = obj[k]
                continue
            except (KeyError, TypeError):
                if isinstance(k, int | float) and not isinstance(k, bool):
                    key = str(int(k)) if float(k).is_integer() else str(k)
                    if key in obj:
                        obj = obj[key]
                        continue
                return missing(path)
        if isinstance(obj, list | tuple):
            idx = _index(k)
            if idx is None or not 0 <= idx < len(obj):
                return missing(path)
            obj = obj[idx]
            continue
        if isinstance(obj, LoopContext) and k in _LOOP_ATTRS:
            obj = getattr(obj, _LOOP_ATTRS[k])
            continue
        if isinstance(obj, Mapping) and k in obj:
            obj = obj[k]
            continue
        return missing(path)
    return obj


def _index(k: Any) -> int | None:
    if isinstance(k, bool):
        return None
    if isinstance(k, int):
        return k
    if isinstance(k, float) and k.is_integer():
        return int(k)
    if isinstance(k, str) and k.isdigit():
        return int(k)
    return None


# ---- operators ---------------------------------------------------------------------------------------

_LONG = 1 << 64


def _wrap_long(v: int) -> int:
    if -(1 << 63) <= v < (1 << 63):
        return v
    v &= _LONG - 1
    return v - _LONG if v >= (1 << 63) else v


def _num(v: Any, op: str) -> int | float:
    if isinstance(v, KfUndefined):
        raise MissingVariable(v.path)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ExprError(f"Unsupported operand type for '{op}': {_type_name(v)}")
    return v


def _type_name(v: Any) -> str:
    if v is None:
        return "null"
    return {str: "String", bool: "Boolean", int: "Long", float: "Double", list: "List", dict: "Map"}.get(
        type(v), type(v).__name__
    )


def _undef(*vals: Any) -> KfUndefined | None:
    for v in vals:
        if isinstance(v, KfUndefined):
            return v
    return None


def op_add(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    if isinstance(a, str) or isinstance(b, str):
        return _cap(java_str(a) + java_str(b))
    x, y = _num(a, "+"), _num(b, "+")
    r = x + y
    return _wrap_long(r) if isinstance(r, int) else r


def op_sub(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    r = _num(a, "-") - _num(b, "-")
    return _wrap_long(r) if isinstance(r, int) else r


def op_mul(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    r = _num(a, "*") * _num(b, "*")
    return _wrap_long(r) if isinstance(r, int) else r


def op_div(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    x, y = _num(a, "/"), _num(b, "/")
    if isinstance(x, int) and isinstance(y, int):
        if y == 0:
            raise ExprError("/ by zero")
        q = abs(x) // abs(y)
        return _wrap_long(q if (x >= 0) == (y >= 0) else -q)
    if y == 0:
        return math.nan if x == 0 or math.isnan(x) else math.copysign(math.inf, x) * math.copysign(1, y)
    return x / y


def op_mod(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    x, y = _num(a, "%"), _num(b, "%")
    if isinstance(x, int) and isinstance(y, int):
        if y == 0:
            raise ExprError("/ by zero")
        r = abs(x) % abs(y)
        return r if x >= 0 else -r
    if y == 0:
        return math.nan
    return math.fmod(x, y)


def op_neg(a: Any) -> Any:
    if isinstance(a, KfUndefined):
        return a
    r = -_num(a, "-")
    return _wrap_long(r) if isinstance(r, int) else r


def op_pos(a: Any) -> Any:
    if isinstance(a, KfUndefined):
        return a
    return _num(a, "+")


def java_str(v: Any) -> str:
    """Java `String.valueOf` (null ⇒ "null")."""
    return "null" if v is None else to_str(v)


def _cap(s: str) -> str:
    if len(s) > MAX_STRING:
        raise ExprError(f"String too long (more than {MAX_STRING} characters)")
    return s


def op_cat(a: Any, b: Any) -> Any:
    u = _undef(a, b)
    if u is not None:
        return u
    return _cap(to_str(a) + to_str(b))


def op_eq(a: Any, b: Any) -> bool:
    u = _undef(a, b)
    if u is not None:
        raise MissingVariable(u.path)
    if (type(a) is bool) != (type(b) is bool):
        return False
    return bool(a == b)


def op_ne(a: Any, b: Any) -> bool:
    return not op_eq(a, b)


def _cmp_operands(a: Any, b: Any, op: str) -> tuple[Any, Any]:
    u = _undef(a, b)
    if u is not None:
        raise MissingVariable(u.path)
    num_a = isinstance(a, int | float) and not isinstance(a, bool)
    num_b = isinstance(b, int | float) and not isinstance(b, bool)
    if (num_a and num_b) or (isinstance(a, str) and isinstance(b, str)):
        return a, b
    raise ExprError(f"Unable to compare {_type_name(a)} and {_type_name(b)} with '{op}'")


def op_lt(a: Any, b: Any) -> bool:
    x, y = _cmp_operands(a, b, "<")
    return x < y


def op_le(a: Any, b: Any) -> bool:
    x, y = _cmp_operands(a, b, "<=")
    return x <= y


def op_gt(a: Any, b: Any) -> bool:
    x, y = _cmp_operands(a, b, ">")
    return x > y


def op_ge(a: Any, b: Any) -> bool:
    x, y = _cmp_operands(a, b, ">=")
    return x >= y


def _in(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return to_str(item) in container
    if isinstance(container, Mapping):
        return item in container
    if isinstance(container, list | tuple):
        return any(op_eq(x, item) for x in container)
    return False


def op_contains(a: Any, b: Any) -> bool:
    u = _undef(a, b)
    if u is not None:
        raise MissingVariable(u.path)
    if a is None:
        return False
    if isinstance(b, list | tuple) and not (isinstance(a, list | tuple) and b in a):
        return all(_in(a, x) for x in b)
    return _in(a, b)


# ---- tests -------------------------------------------------------------------------------------------

def _need(v: Any) -> Any:
    if isinstance(v, KfUndefined):
        raise MissingVariable(v.path)
    return v


def is_empty(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    if isinstance(v, Mapping | list | tuple):
        return len(v) == 0
    return False


def _parity(v: Any, test: str) -> int:
    v = _need(v)
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ExprError(f"Test [{test}] requires a number, got {_type_name(v)}")
    return int(v) % 2


def _is_json(v: Any) -> bool:
    v = _need(v)
    if isinstance(v, Mapping | list):
        return True
    if not isinstance(v, str):
        return False
    try:
        json.loads(v)
    except ValueError:
        return False
    return True


TESTS = {
    "defined": lambda v: not isinstance(v, KfUndefined),
    "null": lambda v: _need(v) is None,
    "empty": lambda v: is_empty(_need(v)),
    "even": lambda v: _parity(v, "even") == 0,
    "odd": lambda v: _parity(v, "odd") == 1,
    "iterable": lambda v: isinstance(_need(v), list | tuple),
    "map": lambda v: isinstance(_need(v), Mapping),
    "json": _is_json,
}
