"""The Renderer: Pebble templates rendered through a locked-down jinja2 sandbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from types import TracebackType
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, pass_context
from jinja2.runtime import Macro
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from markupsafe import Markup

from kflow import redact

from . import dates
from .filters import FILTERS
from .functions import FUNCTIONS, int_range
from .pebble import Names, PebbleSyntaxError, Translation, translate
from .state import MAX_ITERATIONS, STATE
from .undefined import KfUndefined, MissingVariable, check_defined, missing
from .values import (
    TESTS,
    ExprError,
    as_bool,
    get_path,
    op_add,
    op_cat,
    op_contains,
    op_div,
    op_eq,
    op_ge,
    op_gt,
    op_le,
    op_lt,
    op_mod,
    op_mul,
    op_ne,
    op_neg,
    op_pos,
    op_sub,
    to_str,
)

MAX_RENDER_PASSES = 100
MAX_OUTPUT = 20_000_000


class RenderError(Exception):
    """A template could not be rendered; the message uses Kestra's wording."""

    def __init__(self, message: str, expression: str | None = None, line: int | None = None):
        self.expression = expression
        self.line = line
        super().__init__(message)


# ---- internal filters (operators) ------------------------------------------------------------------------

def _get(obj: Any, keys: tuple, path: str) -> Any:
    if isinstance(obj, KfUndefined):
        return missing(path)
    return get_path(obj, keys, path)


@pass_context
def _not_null(_ctx: Any, value: Any) -> bool:
    if value is None or isinstance(value, KfUndefined):
        return False
    STATE.slot = value
    return True


@pass_context
def _not_undefined(_ctx: Any, value: Any) -> bool:
    if isinstance(value, KfUndefined):
        return False
    STATE.slot = value
    return True


@pass_context
def _slot(_ctx: Any, _value: Any) -> Any:
    value, STATE.slot = STATE.slot, None
    return value


@pass_context
def _range(_ctx: Any, start: Any, end: Any) -> Any:
    for v in (start, end):
        if isinstance(v, KfUndefined):
            return v
    return int_range(start, end)


@pass_context
def _iter(_ctx: Any, value: Any) -> list[Any]:
    if isinstance(value, KfUndefined):
        raise MissingVariable(value.path)
    if value is None:
        items: list[Any] = []
    elif isinstance(value, Mapping):
        items = [{"key": k, "value": v} for k, v in value.items()]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    STATE.budget -= len(items)
    if STATE.budget < 0:
        raise ExprError(f"Too many loop iterations (more than {MAX_ITERATIONS} in one rendering)")
    return items


_INTERNAL: dict[str, Callable[..., Any]] = {
    "_kf_get": _get, "_kf_nn": _not_null, "_kf_nu": _not_undefined, "_kf_slot": _slot, "_kf_bool": as_bool,
    "_kf_range": _range, "_kf_iter": _iter, "_kf_cat": op_cat, "_kf_add": op_add, "_kf_sub": op_sub,
    "_kf_mul": op_mul, "_kf_div": op_div, "_kf_mod": op_mod, "_kf_neg": op_neg, "_kf_pos": op_pos,
    "_kf_eq": op_eq, "_kf_ne": op_ne, "_kf_lt": op_lt, "_kf_le": op_le, "_kf_gt": op_gt, "_kf_ge": op_ge,
    "_kf_contains": op_contains,
    **{f"_kf_t_{name}": fn for name, fn in TESTS.items()},
}


class _Environment(SandboxedEnvironment):
    """Nothing but dict keys / list items is reachable; only registered functions and macros are callable."""

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        return False

    def getattr(self, obj: Any, attribute: str) -> Any:
        return _get(obj, (attribute,), str(attribute))

    def getitem(self, obj: Any, argument: Any) -> Any:
        return _get(obj, (argument,), str(argument))

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, KfUndefined):
            raise ExprError(f"Function or Macro [{__obj.path}] does not exist.")
        if not (id(__obj) in _CALLABLE_IDS or isinstance(__obj, Macro)):
            raise SecurityError("Calling this value is not allowed")
        return __context.call(__obj, *args, **kwargs)


_ENV = _Environment(
    autoescape=False,
    keep_trailing_newline=True,
    undefined=KfUndefined,
    finalize=to_str,
    cache_size=0,
    auto_reload=False,
)
_ENV.filters.clear()
_ENV.filters.update(FILTERS)
_ENV.filters.update(_INTERNAL)
_ENV.tests.clear()
_ENV.globals.clear()
_ENV.globals.update(FUNCTIONS)
_CALLABLE_IDS = frozenset(id(f) for f in FUNCTIONS.values())
NAMES = Names(filters=frozenset(FILTERS), functions=frozenset(FUNCTIONS), tests=frozenset(TESTS))


@dataclass
class _Compiled:
    translation: Translation
    template: Any
    _expr: Any = field(default=None)

    @property
    def expr(self) -> Any:
        if self._expr is None:
            assert self.translation.single is not None
            self._expr = _ENV.compile_expression(self.translation.single, undefined_to_none=False)
        return self._expr


@lru_cache(maxsize=4096)
def translate_cached(source: str) -> Translation:
    return translate(source, NAMES)


@lru_cache(maxsize=4096)
def _compile(source: str) -> _Compiled:
    try:
        tr = translate_cached(source)
    except PebbleSyntaxError as e:
        raise RenderError(f"{e} (expression `{e.expression}` at line {e.line or 1})", e.expression,
                          e.line) from None
    try:
        template = _ENV.from_string(tr.source)
    except TemplateSyntaxError as e:
        raise RenderError(f"Syntax error: {e.message} at line {e.lineno}", None, e.lineno) from None
    return _Compiled(tr, template)


def cache_info() -> Any:
    return _compile.cache_info()


# ---- error reporting -----------------------------------------------------------------------------------

def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        tpl = tb.tb_frame.f_globals.get("__jinja_template__")
        if tpl is not None:
            line = tpl.get_corresponding_lineno(tb.tb_lineno)
        tb = tb.tb_next
    return line


def _describe(e: BaseException) -> str:
    if isinstance(e, ExprError | ValueError | ArithmeticError):
        return str(e)
    if isinstance(e, SecurityError):
        return f"Access denied: {e}"
    if isinstance(e, RecursionError):
        return "Maximum recursion depth exceeded"
    if isinstance(e, MemoryError):
        return "Out of memory"
    if isinstance(e, TypeError):
        return f"Invalid arguments: {e}"
    if isinstance(e, TemplateError):
        return e.message or type(e).__name__
    return f"{type(e).__name__}: {e}"


def _convert(e: BaseException, compiled: _Compiled, source: str, single: bool = False) -> RenderError:
    line = 1 if single else (_template_line(e.__traceback__) or 1)
    tr = compiled.translation
    candidates = [tr.single_text] if single else tr.exprs.get(line, [])
    root = e.path.split(".")[0].split("[")[0] if isinstance(e, MissingVariable) else ""
    path = e.path if isinstance(e, MissingVariable) else ""
    expr = next((c for c in candidates if path and path in c), None) or next(
        (c for c in candidates if root and root in c), candidates[0] if candidates else source)
    if isinstance(e, MissingVariable):
        message = f"Unable to find `{e.path}` used in the expression `{expr}` at line {line}"
        return RenderError(message, expr, line)
    return RenderError(f"{_describe(e)} (expression `{expr}` at line {line})", expr, line)


# ---- the renderer ----------------------------------------------------------------------------------------

def _render_text(source: str, context: Mapping[str, Any]) -> str:
    compiled = _compile(source)
    template = compiled.template
    try:
        parts: list[str] = []
        size = 0
        for chunk in template.root_render_func(template.new_context(context)):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise ExprError(f"Rendered output too large (more than {MAX_OUTPUT} characters)")
            parts.append(chunk)
        return "".join(parts)
    except RenderError:
        raise
    except Exception as e:  # every failure becomes a RenderError naming the expression
        raise _convert(e, compiled, source) from e


def _render_typed(source: str, context: Mapping[str, Any]) -> Any:
    compiled = _compile(source)
    if compiled.translation.single is None:
        return _render_text(source, context)
    try:
        value = compiled.expr(context)
        if isinstance(value, KfUndefined):
            raise MissingVariable(value.path)
        if isinstance(value, list | dict):
            check_defined(value)
        if isinstance(value, Markup):
            value = str(value)
        if callable(value) or isinstance(value, Macro):
            raise ExprError("A function cannot be used as a value")
        return value
    except RenderError:
        raise
    except Exception as e:
        raise _convert(e, compiled, source, single=True) from e


class Renderer:
    def __init__(self, secrets: Mapping[str, str] | None = None, now: Callable[[], datetime] | None = None,
                 default_timezone: str = "UTC"):
        self.secrets: Mapping[str, str] = secrets if secrets is not None else {}
        self._now = now or (lambda: datetime.now(UTC))
        dates.zone(default_timezone)  # fail fast on an unknown zone
        self.default_timezone = default_timezone
        # What mask() redacts: the values secret() returned and, at once, every SECRET_* it could return
        # (a task's own process may render one this renderer never sees).
        self.secret_values: set[str] = redact.values_from_env(self.secrets)
        # The KV store `kv()` and the kv.* tasks use (a kflow.kv.KVStore; None: no store here).
        self.kv: Any = None
        # What read()/fileExists()/fileSize()/fileEmpty() read (kflow.runner.file_reader.LocalFiles).
        self.files: Any = None

    def now(self) -> datetime:
        return self._now()

    def _run(self, fn: Callable[[str, Mapping[str, Any]], Any], template: str,
             context: Mapping[str, Any]) -> Any:
        prev = STATE.renderer
        STATE.renderer = self
        if prev is None:
            STATE.budget = MAX_ITERATIONS
        try:
            return fn(template, context if isinstance(context, dict) else dict(context))
        except RecursionError:
            raise RenderError("Maximum recursion depth exceeded while rendering") from None
        finally:
            STATE.renderer = prev

    def render(self, template: Any, context: Mapping[str, Any]) -> Any:
        if not isinstance(template, str) or "{" not in template:
            return template
        return self._run(_render_text, template, context)

    def render_value(self, template: Any, context: Mapping[str, Any]) -> Any:
        if isinstance(template, str):
            if "{" not in template:
                return template
            return self._run(_render_typed, template, context)
        if isinstance(template, Mapping):
            return {self.render(k, context): self.render_value(v, context) for k, v in template.items()}
        if isinstance(template, list | tuple):
            return [self.render_value(v, context) for v in template]
        return template

    def render_deep(self, value: Any, context: Mapping[str, Any]) -> Any:
        if isinstance(value, str):
            return self.render(value, context)
        if isinstance(value, Mapping):
            return {self.render(k, context): self.render_deep(v, context) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.render_deep(v, context) for v in value]
        return value

    def mask(self, text: str) -> str:
        """`text` with every secret this renderer knows redacted (kflow/redact.py)."""
        if not self.secret_values or not isinstance(text, str):
            return text
        return redact.text(text, self.secret_values)

    def add_secrets(self, env: Mapping[str, str]) -> None:
        """More `SECRET_*` entries (the operator's, read from its secretsFrom Secret), masked at once."""
        self.secrets = {**self.secrets, **env}
        self.secret_values |= redact.values_from_env(env)

    def mask_deep(self, value: Any) -> Any:
        """Outputs and other JSON-like values, every string redacted."""
        return redact.deep(value, self.secret_values) if self.secret_values else value

    # used by the render()/renderOnce() functions while a rendering is in progress
    def _render_nested(self, value: str, context: dict[str, Any], recursive: bool) -> str:
        if not recursive:
            return _render_text(value, context) if "{" in value else value
        current = value
        for _ in range(MAX_RENDER_PASSES):
            if "{" not in current:
                return current
            rendered = _render_text(current, context)
            if rendered == current:
                return rendered
            current = rendered
        raise ExprError("Too many rendering attempts")
