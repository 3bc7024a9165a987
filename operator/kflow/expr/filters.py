"""Pebble built-in and Kestra filters (Java-compatible results)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import yaml
from jinja2 import pass_context

from . import dates
from .jq import jq
from .state import STATE
from .undefined import KfUndefined
from .values import MAX_ITEMS, MAX_STRING, ExprError, is_empty, java_str, to_json, to_str

FILTERS: dict[str, Callable[..., Any]] = {}


def _register(name: str, fn: Callable[..., Any], undefined_ok: bool = False) -> None:
    # pass_context keeps jinja from constant-folding filters at compile time (results may depend on the
    # Renderer: clock, default time zone); undefined inputs propagate so `??` can still catch them.
    def wrapper(_ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        if not undefined_ok:
            if isinstance(value, KfUndefined):
                return value
            for a in args:
                if isinstance(a, KfUndefined):
                    return a
            for a in kwargs.values():
                if isinstance(a, KfUndefined):
                    return a
        return fn(value, *args, **kwargs)

    wrapper.__name__ = name
    FILTERS[name] = pass_context(wrapper)


def filt(*names: str, undefined_ok: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for n in names:
            _register(n, fn, undefined_ok)
        return fn

    return deco


def _s(value: Any, name: str) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        raise ExprError(f"Filter [{name}] cannot be applied to null")
    return to_str(value)


def _zone(time_zone: Any) -> Any:
    if time_zone:
        return dates.zone(str(time_zone))
    r = STATE.renderer
    return dates.zone(r.default_timezone if r is not None else "UTC")


# ---- dates ---------------------------------------------------------------------------------------------

@filt("date")
def date(value: Any, format: Any = None, existingFormat: Any = None, timeZone: Any = None,
         locale: Any = None) -> Any:
    if value is None:
        return None
    tz = _zone(timeZone)
    return dates.format_date(dates.to_datetime(value, tz, existingFormat), format, locale)


@filt("dateAdd")
def date_add(value: Any, amount: Any, unit: Any, format: Any = None, existingFormat: Any = None,
             timeZone: Any = None, locale: Any = None) -> Any:
    if value is None:
        return None
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ExprError("dateAdd: 'amount' must be a number")
    tz = _zone(timeZone)
    dt = dates.add(dates.to_datetime(value, tz, existingFormat), int(amount), str(unit))
    return dates.format_date(dt, format, locale)


def _timestamp(scale: int) -> Callable[..., Any]:
    def fn(value: Any, existingFormat: Any = None, timeZone: Any = None) -> Any:
        if value is None:
            return None
        return dates.epoch(dates.to_datetime(value, _zone(timeZone), existingFormat), scale)

    return fn


for _n, _scale in (("timestamp", 1), ("timestampMilli", 1000), ("timestampMicro", 1_000_000),
                   ("timestampNano", 1_000_000_000)):
    _register(_n, _timestamp(_scale))


# ---- JSON / YAML -----------------------------------------------------------------------------------------

@filt("toJson", "json")
def to_json_filter(value: Any) -> str:
    return to_json(value)


@filt("fromJson")
def from_json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return json.loads(_s(value, "fromJson"))
    except ValueError as e:
        raise ExprError(f"Invalid JSON: {e}") from None


@filt("yaml", "toYaml")
def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True)


@filt("jq")
def jq_filter(value: Any, expression: Any) -> list[Any]:
    return jq(value, str(expression))


# ---- strings ------------------------------------------------------------------------------------------

@filt("default", undefined_ok=True)
def default(value: Any, default_value: Any = None) -> Any:
    if isinstance(value, KfUndefined) or is_empty(value):
        return default_value
    return value


@filt("upper")
def upper(value: Any) -> Any:
    return None if value is None else _s(value, "upper").upper()


@filt("lower")
def lower(value: Any) -> Any:
    return None if value is None else _s(value, "lower").lower()


@filt("title")
def title(value: Any) -> Any:
    if value is None:
        return None
    out, cap = [], True
    for ch in _s(value, "title"):
        if ch.isspace():
            cap = True
            out.append(ch)
        else:
            out.append(ch.upper() if cap else ch.lower())
            cap = False
    return "".join(out)


@filt("capitalize")
def capitalize(value: Any) -> Any:
    if value is None:
        return None
    s = _s(value, "capitalize")
    return s[:1].upper() + s[1:]


_JAVA_WS = "".join(chr(i) for i in range(33))


@filt("trim")
def trim(value: Any) -> Any:
    return None if value is None else _s(value, "trim").strip(_JAVA_WS)


def _java_replacement(rep: str) -> Callable[[re.Match[str]], str]:
    def fn(m: re.Match[str]) -> str:
        out, i = [], 0
        while i < len(rep):
            c = rep[i]
            if c == "\\" and i + 1 < len(rep):
                out.append(rep[i + 1])
                i += 2
            elif c == "$" and i + 1 < len(rep) and rep[i + 1].isdigit():
                out.append(m.group(int(rep[i + 1])) or "")
                i += 2
            else:
                out.append(c)
                i += 1
        return "".join(out)

    return fn


@filt("replace")
def replace(value: Any, pairs: Any, regexp: Any = False) -> Any:
    if value is None:
        return None
    s = _s(value, "replace")
    if not isinstance(pairs, Mapping):
        raise ExprError("Filter [replace] expects a map of replacements, e.g. replace({'a': 'b'})")
    for k, v in pairs.items():
        if regexp:
            try:
                s = re.sub(str(k), _java_replacement(to_str(v)), s)
            except re.error as e:
                raise ExprError(f"Invalid regular expression '{k}': {e}") from None
        else:
            s = s.replace(str(k), to_str(v))
    return s


@filt("split")
def split(value: Any, delimiter: Any, limit: Any = None) -> Any:
    if value is None:
        return None
    s, d = _s(value, "split"), str(delimiter)
    if not d:
        return list(s)
    if limit is not None and int(limit) > 0:
        return s.split(d, int(limit) - 1)
    parts = s.split(d)
    if limit is None or int(limit) == 0:
        while parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()  # Java String.split drops trailing empty strings
    return parts


@filt("join")
def join(value: Any, separator: Any = "") -> Any:
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = list(value.keys())
    if not isinstance(value, list | tuple):
        return value
    return to_str(separator).join(java_str(x) for x in value)


@filt("abbreviate")
def abbreviate(value: Any, length: Any) -> Any:
    if value is None:
        return None
    s, n = _s(value, "abbreviate"), int(length)
    if len(s) <= n:
        return s
    return s[:n] if n <= 3 else s[: n - 3] + "..."


@filt("startsWith")
def starts_with(value: Any, prefix: Any) -> bool:
    return value is not None and _s(value, "startsWith").startswith(to_str(prefix))


@filt("endsWith")
def ends_with(value: Any, suffix: Any) -> bool:
    return value is not None and _s(value, "endsWith").endswith(to_str(suffix))


@filt("substringBefore")
def substring_before(value: Any, sep: Any) -> Any:
    if value is None:
        return None
    s, d = _s(value, "substringBefore"), to_str(sep)
    if not d:
        return ""
    i = s.find(d)
    return s if i < 0 else s[:i]


@filt("substringAfter")
def substring_after(value: Any, sep: Any) -> Any:
    if value is None:
        return None
    s, d = _s(value, "substringAfter"), to_str(sep)
    if not d:
        return s
    i = s.find(d)
    return "" if i < 0 else s[i + len(d):]


@filt("substringBeforeLast")
def substring_before_last(value: Any, sep: Any) -> Any:
    if value is None:
        return None
    s, d = _s(value, "substringBeforeLast"), to_str(sep)
    if not d:
        return s
    i = s.rfind(d)
    return s if i < 0 else s[:i]


@filt("substringAfterLast")
def substring_after_last(value: Any, sep: Any) -> Any:
    if value is None:
        return None
    s, d = _s(value, "substringAfterLast"), to_str(sep)
    if not d:
        return ""
    i = s.rfind(d)
    return "" if i < 0 or i == len(s) - len(d) else s[i + len(d):]


_NON_WORD = re.compile(r"[^A-Za-z0-9_-]")


@filt("slugify")
def slugify(value: Any) -> Any:
    if value is None:
        return None
    s = re.sub(r"\s+", "-", _s(value, "slugify").strip())
    s = unicodedata.normalize("NFD", s)
    s = _NON_WORD.sub("", s).lower()
    s = re.sub(r"-{2,}", "-", s)
    return s.strip("-")


@filt("escapeChar")
def escape_char(value: Any, type: Any = "single") -> Any:
    if value is None:
        return None
    s, t = _s(value, "escapeChar"), str(type).lower()
    if t == "single":
        return s.replace("'", "\\'")
    if t == "double":
        return s.replace('"', '\\"')
    if t == "shell":
        return s.replace("'", "'\\''")
    raise ExprError(f"Filter [escapeChar]: unknown type '{type}' (single, double or shell)")


def _pad(prefix: Any, amount: Any) -> str:
    unit, count = to_str(prefix), int(amount)
    if len(unit) * count > MAX_STRING:  # `indent(1000000000)`: a 1 GB pad
        raise ExprError(f"indent too large (more than {MAX_STRING} characters)")
    return unit * count


@filt("indent")
def indent(value: Any, amount: Any, prefix: Any = " ") -> Any:
    if value is None:
        return None
    pad = _pad(prefix, amount)
    lines = _s(value, "indent").split("\n")
    return "\n".join([lines[0]] + [pad + ln if ln else ln for ln in lines[1:]])


@filt("nindent")
def nindent(value: Any, amount: Any, prefix: Any = " ") -> Any:
    if value is None:
        return None
    pad = _pad(prefix, amount)
    return "\n" + "\n".join(pad + ln if ln else ln for ln in _s(value, "nindent").split("\n"))


@filt("base64encode")
def b64encode(value: Any) -> Any:
    return None if value is None else base64.b64encode(_s(value, "base64encode").encode()).decode()


@filt("base64decode")
def b64decode(value: Any) -> Any:
    if value is None:
        return None
    try:
        return base64.b64decode(_s(value, "base64decode").encode(), validate=False).decode()
    except (ValueError, UnicodeDecodeError) as e:
        raise ExprError(f"Invalid base64 value: {e}") from None


def _hash(algo: str) -> Callable[[Any], Any]:
    def fn(value: Any) -> Any:
        return None if value is None else hashlib.new(algo, _s(value, algo).encode()).hexdigest()

    return fn


for _algo in ("md5", "sha1", "sha256", "sha512"):
    _register(_algo, _hash(_algo))


@filt("urlencode")
def urlencode(value: Any) -> Any:
    return None if value is None else quote_plus(_s(value, "urlencode"), safe="*").replace("~", "%7E")


@filt("urldecode")
def urldecode(value: Any) -> Any:
    return None if value is None else unquote_plus(_s(value, "urldecode"))


@filt("escape", "e")
def escape(value: Any, strategy: Any = "html") -> Any:
    return None if value is None else html.escape(_s(value, "escape"))


@filt("raw")
def raw(value: Any) -> Any:
    return value


# ---- collections ---------------------------------------------------------------------------------------

@filt("length")
def length(value: Any) -> int:
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    return 0


@filt("first")
def first(value: Any) -> Any:
    if isinstance(value, str | list | tuple):
        return value[0] if value else None
    if isinstance(value, Mapping):
        return next(iter(value.values()), None)
    return value


@filt("last")
def last(value: Any) -> Any:
    if isinstance(value, str | list | tuple):
        return value[-1] if value else None
    if isinstance(value, Mapping):
        return list(value.values())[-1] if value else None
    return value


@filt("keys")
def keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return list(value.keys())
    if isinstance(value, list | tuple):
        return list(range(len(value)))
    if value is None:
        return None
    raise ExprError("Filter [keys] expects a map")


@filt("values")
def values(value: Any) -> Any:
    if isinstance(value, Mapping):
        return list(value.values())
    if value is None:
        return None
    raise ExprError("Filter [values] expects a map")


def _list(value: Any, name: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    raise ExprError(f"Filter [{name}] expects a list")


def _sorted(value: Any, name: str, reverse: bool) -> Any:
    if value is None:
        return None
    try:
        return sorted(_list(value, name), reverse=reverse)
    except TypeError:
        raise ExprError(f"Filter [{name}]: items are not comparable") from None


@filt("sort")
def sort(value: Any) -> Any:
    return _sorted(value, "sort", False)


@filt("rsort")
def rsort(value: Any) -> Any:
    return _sorted(value, "rsort", True)


@filt("reverse")
def reverse(value: Any) -> Any:
    if isinstance(value, str | list | tuple):
        return list(reversed(value)) if not isinstance(value, str) else value[::-1]
    return value


@filt("slice")
def slice_(value: Any, fromIndex: Any = 0, toIndex: Any = None) -> Any:
    if value is None:
        return None
    if not isinstance(value, str | list | tuple):
        raise ExprError("Filter [slice] expects a string or a list")
    a = int(fromIndex)
    b = len(value) if toIndex is None else int(toIndex)
    if a < 0 or b > len(value) or a > b:
        raise ExprError(f"Filter [slice]: invalid range [{a}, {b}) for length {len(value)}")
    return value[a:b] if isinstance(value, str) else list(value[a:b])


@filt("merge")
def merge(value: Any, other: Any) -> Any:
    if isinstance(value, Mapping) and isinstance(other, Mapping):
        return {**value, **other}
    if isinstance(value, list | tuple):
        out = list(value) + (list(other) if isinstance(other, list | tuple) else [other])
        if len(out) > MAX_ITEMS:
            raise ExprError(f"List too large (more than {MAX_ITEMS} items)")
        return out
    raise ExprError("Filter [merge] expects two maps or two lists")


@filt("flatten")
def flatten(value: Any) -> Any:
    out: list[Any] = []
    for x in _list(value, "flatten"):
        if isinstance(x, list | tuple):
            out.extend(x)
        else:
            out.append(x)
    return out


@filt("chunk")
def chunk(value: Any, size: Any) -> Any:
    n = int(size)
    if n <= 0:
        raise ExprError("Filter [chunk]: size must be positive")
    items = _list(value, "chunk")
    return [items[i:i + n] for i in range(0, len(items), n)]


# ---- numbers -------------------------------------------------------------------------------------------

@filt("abs")
def abs_(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError("Filter [abs] expects a number")
    return abs(value)


def _parse_number(s: str) -> int | float:
    t = s.strip()
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        raise ExprError(f"Unable to convert '{s}' to a number") from None


@filt("number")
def number(value: Any, type: Any = None) -> Any:
    if value is None:
        return None
    n = value if isinstance(value, int | float) and not isinstance(value, bool) else _parse_number(
        _s(value, "number"))
    t = str(type).upper() if type else None
    if t is None:
        return n
    if t in ("INT", "INTEGER", "LONG", "BIGINTEGER", "SHORT", "BYTE"):
        return int(n)
    if t in ("FLOAT", "DOUBLE", "BIGDECIMAL"):
        return float(n)
    raise ExprError(f"Unknown number type '{type}'")


@filt("numberFormat", "numberformat")
def number_format(value: Any, pattern: Any = None) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExprError("Filter [numberformat] expects a number")
    if not pattern:
        return f"{value:,}"
    pat = str(pattern)
    int_part, _, frac_part = pat.partition(".")
    max_frac = sum(1 for c in frac_part if c in "0#")
    min_frac = frac_part.count("0")
    try:
        d = Decimal(repr(value)).quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise ExprError(f"Cannot format {value}") from None
    txt = f"{d:,.{max_frac}f}" if "," in int_part else f"{d:.{max_frac}f}"
    if max_frac > min_frac and "." in txt:
        head, _, tail = txt.partition(".")
        tail = tail[:min_frac] + tail[min_frac:].rstrip("0")
        txt = head + ("." + tail if tail else "")
    return txt


_JAVA_CLASSES = {str: "java.lang.String", bool: "java.lang.Boolean", float: "java.lang.Double",
                 list: "java.util.ArrayList", dict: "java.util.LinkedHashMap"}


@filt("className")
def class_name(value: Any) -> Any:
    if value is None:
        return None
    if type(value) is int:
        return "java.lang.Integer" if -(2**31) <= value < 2**31 else "java.lang.Long"
    return _JAVA_CLASSES.get(type(value), type(value).__name__)
