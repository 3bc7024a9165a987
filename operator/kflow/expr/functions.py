"""Kestra/Pebble functions. Execution-bound services (`read`, `kv`, files) are callables the engine puts in
the context (`__read`, `__kv`, `__fileExists`, `__fileSize`, `__fileEmpty`); error logs come from
`__errorLogs`."""

from __future__ import annotations

import base64
import binascii
import json
import random
import secrets as _secrets
import string
import uuid as _uuid
from collections.abc import Callable, Mapping
from datetime import UTC
from typing import Any

import yaml
from jinja2 import pass_context
from jinja2.runtime import Context

from . import dates
from .state import STATE
from .undefined import KfUndefined
from .values import MAX_ITEMS, ExprError, op_eq, to_json

FUNCTIONS: dict[str, Callable[..., Any]] = {}


class SecretNotFound(ExprError):
    pass


def func(name: str, *, context: bool = False, undefined_ok: bool = False):  # type: ignore[no-untyped-def]
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not undefined_ok:
                start = 1 if context else 0
                for a in (*args[start:], *kwargs.values()):
                    if isinstance(a, KfUndefined):
                        return a
            return fn(*args, **kwargs)

        wrapper.__name__ = name
        FUNCTIONS[name] = pass_context(wrapper) if context else wrapper
        return fn

    return deco


def _renderer() -> Any:
    r = STATE.renderer
    if r is None:
        raise ExprError("No active renderer")
    return r


@func("now")
def now(format: Any = None, timeZone: Any = None, existingFormat: Any = None, locale: Any = None) -> str:
    r = _renderer()
    tz = dates.zone(str(timeZone) if timeZone else r.default_timezone)
    current = r.now()
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    return dates.format_date(current.astimezone(tz), format, locale)


@func("secret")
def secret(key: Any, *_: Any, **__: Any) -> str:
    r = _renderer()
    k = str(key)
    env = r.secrets
    raw = env.get(f"SECRET_{k}") if f"SECRET_{k}" in env else env.get(f"SECRET_{k.upper()}")
    if raw is None:
        raise SecretNotFound(f"Cannot find secret for key '{k}'.")
    try:
        value = base64.b64decode("".join(str(raw).split()), validate=False).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as e:
        raise ExprError(f"Secret '{k}' is not valid base64: {e}") from None
    r.secret_values.add(value)
    return value


def _scope(ctx: Context, local: Any) -> dict[str, Any]:
    variables = ctx.get_all()
    if local:
        variables = {**variables, **local}
    return variables


@func("render", context=True)
def render(ctx: Context, value: Any, recursive: Any = True, _kf_locals: Any = None) -> Any:
    if not isinstance(value, str):
        return value
    return _renderer()._render_nested(value, _scope(ctx, _kf_locals), bool(recursive))


@func("renderOnce", context=True)
def render_once(ctx: Context, value: Any, _kf_locals: Any = None) -> Any:
    if not isinstance(value, str):
        return value
    return _renderer()._render_nested(value, _scope(ctx, _kf_locals), False)


def _parse_json(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError as e:
        raise ExprError(f"Invalid JSON: {e}") from None


FUNCTIONS["fromJson"] = FUNCTIONS["json"] = lambda value: (
    value if isinstance(value, KfUndefined) else _parse_json(value))


@func("yaml")
def yaml_(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        check_aliases(value)
        return yaml.safe_load(value)
    except (yaml.YAMLError, ValueError, OverflowError) as e:  # also a scalar it cannot build (year 0)
        raise ExprError(f"Invalid YAML: {e}") from None


def check_aliases(text: str) -> None:
    """No recursive anchor (`&a [*a]`: a value containing itself), and at most MAX_ITEMS values once aliases
    are expanded (a "billion laughs" document is a few lines that expand to gigabytes)."""
    open_anchors: list[str | None] = []
    counts = [0]  # values inside each open collection, aliases expanded
    sizes: dict[str, int] = {}
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.CollectionStartEvent):
            open_anchors.append(event.anchor)
            counts.append(0)
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, inner = open_anchors.pop(), counts.pop()
            counts[-1] += inner + 1
            if anchor:
                sizes[anchor] = inner + 1
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise ExprError(f"Invalid YAML: alias *{event.anchor} inside its own anchor (a recursive value)")
            counts[-1] += sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            counts[-1] += 1
            if event.anchor:
                sizes[event.anchor] = 1
        if counts[-1] > MAX_ITEMS:
            raise ExprError(f"Invalid YAML: more than {MAX_ITEMS} values once its aliases are expanded")


def int_range(start: Any, end: Any, step: Any = 1) -> list[int]:
    for v in (start, end, step):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ExprError("range() expects numbers")
    a, b, s = int(start), int(end), int(step)
    if s == 0:
        raise ExprError("range() step must not be zero")
    count = max(0, (b - a) // s + 1)
    if count > MAX_ITEMS:
        raise ExprError(f"Range too large ({count} items, at most {MAX_ITEMS})")
    return list(range(a, b + (1 if s > 0 else -1), s))


func("range")(int_range)


def _extreme(args: tuple[Any, ...], pick: Callable[..., Any], name: str) -> Any:
    items = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else list(args)
    if not items:
        raise ExprError(f"{name}() needs at least one argument")
    try:
        return pick(items)
    except TypeError:
        raise ExprError(f"{name}(): arguments are not comparable") from None


@func("max")
def max_(*args: Any) -> Any:
    return _extreme(args, max, "max")


@func("min")
def min_(*args: Any) -> Any:
    return _extreme(args, min, "min")


@func("uuid")
def uuid() -> str:
    return str(_uuid.uuid4())


_B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


@func("id")
def id_() -> str:
    return "".join(_secrets.choice(_B62) for _ in range(22))


@func("randomInt")
def random_int(lower: Any, upper: Any) -> int:
    lo, hi = int(lower), int(upper)
    if hi <= lo:
        raise ExprError("randomInt(): 'upper' must be greater than 'lower'")
    return random.randrange(lo, hi)


@func("randomPort")
def random_port() -> int:
    return random.randrange(10000, 60000)


@func("isIn")
def is_in(value: Any, values: Any) -> bool:
    if not isinstance(values, list | tuple):
        raise ExprError("isIn(): second argument must be a list")
    return any(op_eq(value, v) for v in values)


def _public_context(ctx: Context) -> dict[str, Any]:
    return {k: v for k, v in ctx.get_all().items()
            if not k.startswith("_") and k not in FUNCTIONS and not callable(v)
            and isinstance(v, str | int | float | bool | list | dict | type(None))}


@func("printContext", context=True)
def print_context(ctx: Context) -> str:
    return to_json(_public_context(ctx))


FUNCTIONS["fetchContext"] = FUNCTIONS["printContext"]


@func("currentEachOutput", context=True)
def current_each_output(ctx: Context, outputs: Any) -> Any:
    values: list[Any] = []
    for parent in reversed(ctx.get("parents") or []):
        v = ((parent or {}).get("taskrun") or {}).get("value") if isinstance(parent, Mapping) else None
        if v is not None:
            values.append(v)
    taskrun = ctx.get("taskrun")
    if isinstance(taskrun, Mapping) and taskrun.get("value") is not None:
        values.append(taskrun["value"])
    result = outputs
    for v in values:
        if isinstance(result, Mapping) and str(v) in result:
            result = result[str(v)]
        elif isinstance(result, Mapping) and v in result:
            result = result[v]
    return result


@func("errorLogs", context=True)
def error_logs(ctx: Context) -> Any:
    return ctx.get("__errorLogs") or []


@func("tasksWithState", context=True)
def tasks_with_state(ctx: Context, state: Any) -> list[dict[str, Any]]:
    wanted = str(state).upper()
    out: list[dict[str, Any]] = []

    def walk(task_id: str, node: Any, value: Any) -> None:
        if not isinstance(node, Mapping):
            return
        st = node.get("state")
        if isinstance(st, str):
            if st.upper() == wanted:
                entry = {"taskId": task_id, "state": st}
                if value is not None:
                    entry["value"] = value
                out.append(entry)
            return
        for k, v in node.items():
            walk(task_id, v, k)

    tasks = ctx.get("tasks")
    if isinstance(tasks, Mapping):
        for tid, node in tasks.items():
            walk(str(tid), node, None)
    return out


@func("fileURI", context=True)
def file_uri(ctx: Context, path: Any) -> str:
    flow = ctx.get("flow")
    ns = flow.get("namespace") if isinstance(flow, Mapping) else None
    if not ns:
        raise ExprError("fileURI(): no flow namespace in context")
    return f"kestra:///{str(ns).replace('.', '/')}/_files/{str(path).lstrip('/')}"


_FILE_OPS = {"read": "read", "fileExists": "exists", "fileSize": "size", "fileEmpty": "empty"}


def _service(name: str, hook: str) -> None:
    def call(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        fn = ctx.get(hook)
        if callable(fn):
            return fn(*args, **kwargs)
        # Else the renderer's injected file reader (the runner's LocalFiles), for this flow's files.
        files = getattr(STATE.renderer, "files", None)
        flow = ctx.get("flow")
        if files is None or not isinstance(flow, Mapping) or not args:
            raise ExprError(f"Function [{name}] is not available in this context")
        return getattr(files, _FILE_OPS[name])(str(flow.get("namespace")), str(flow.get("id")), str(args[0]))

    func(name, context=True)(call)


@func("kv", context=True)
def kv(ctx: Context, key: Any = None, namespace: Any = None, errorOnMissing: Any = True) -> Any:
    hook = ctx.get("__kv")
    if callable(hook):
        return hook(key, namespace, errorOnMissing)
    store = getattr(STATE.renderer, "kv", None)
    if store is None:
        raise ExprError("Function [kv] is not available in this context")
    from kflow.kv.function import KVLookup  # the store's adapters live outside expr/

    flow = ctx.get("flow")
    return KVLookup(store, str(flow.get("namespace") if isinstance(flow, Mapping) else ""))(
        key, namespace, errorOnMissing)


for _name, _hook in (("read", "__read"), ("fileExists", "__fileExists"),
                     ("fileSize", "__fileSize"), ("fileEmpty", "__fileEmpty")):
    _service(_name, _hook)
