"""Flow inputs: declaration (what a flow may ask for) and resolution (what an execution receives).

Messages follow Kestra's wording: ``Invalid input for `id`, <reason>``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any, Literal

import yaml
from pydantic import Field, model_validator

from kflow.errors import InputsInvalid
from kflow.model.common import Strict, is_template
from kflow.model.durations import parse_duration

InputType = Literal[
    "STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "SELECT", "MULTISELECT", "ENUM", "ARRAY", "JSON",
    "YAML", "DATE", "DATETIME", "TIME", "DURATION", "URI", "EMAIL", "FILE", "SECRET",
]
UNSUPPORTED = {"SECRET"}
# A FILE value once the adapter has stored the file (kflow.runner.file_inputs); defaults may name one.
_FILE_SCHEMES = ("kestra://", "file:", "nsfile://")

# Properties each type accepts beyond the common ones (Kestra has one class per type).
_TYPE_PROPS: dict[str, set[str]] = {
    "STRING": {"validator"}, "SECRET": {"validator"}, "EMAIL": set(), "URI": set(),
    "INT": {"min", "max"}, "FLOAT": {"min", "max"}, "DURATION": {"min", "max"},
    "BOOLEAN": set(), "BOOL": set(), "JSON": set(), "YAML": set(),
    "SELECT": {"values", "expression", "allowCustomValue", "isRadio", "autoSelectFirst"},
    "ENUM": {"values"},
    "MULTISELECT": {"values", "options", "expression", "allowCustomValue", "itemType", "autoSelectFirst"},
    "ARRAY": {"itemType"},
    "DATE": {"after", "before"}, "DATETIME": {"after", "before"}, "TIME": {"after", "before"},
    "FILE": {"extension", "allowedFileExtensions"},
}
_TYPED_PROPS = set().union(*_TYPE_PROPS.values())

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class DependsOn(Strict):
    inputs: list[str] = Field(default_factory=list)
    condition: str | None = None


class Input(Strict):
    id: str = Field(pattern=r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$")
    type: InputType
    description: str | None = None
    displayName: str | None = None
    required: bool = True
    defaults: Any = None
    prefill: Any = None
    dependsOn: DependsOn | None = None
    validator: str | None = None
    min: Any = None
    max: Any = None
    values: list[Any] | None = None
    options: list[Any] | None = None
    expression: str | None = None
    allowCustomValue: bool = False
    isRadio: bool = False
    autoSelectFirst: bool = False
    itemType: InputType | None = None
    after: Any = None
    before: Any = None
    extension: str | None = None
    allowedFileExtensions: list[str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "name" in data and "id" not in data:  # deprecated spelling of id
                data["id"] = data.pop("name")
            if "default" in data and "defaults" not in data:
                # Real flows carry this typo; Kestra rejects it, we read it and say so.
                warnings.warn(f"input `{data.get('id')}`: `default` is not a Kestra property, read as "
                              "`defaults` (Kestra itself would reject this flow)", UserWarning, stacklevel=2)
                data["defaults"] = data.pop("default")
        return data

    @model_validator(mode="after")
    def _per_type(self) -> Input:
        if self.type in UNSUPPORTED:
            raise ValueError(f"input type {self.type} is not supported by kflow yet")
        allowed = _TYPE_PROPS[self.type]
        for prop in sorted(_TYPED_PROPS - allowed):
            if getattr(self, prop) not in (None, False):
                raise ValueError(f'Unrecognized field "{prop}" for an input of type {self.type}')
        if self.type == "ARRAY" and self.itemType is None:
            raise ValueError("an ARRAY input requires itemType")
        if self.itemType in ("SECRET", "FILE", "ARRAY"):
            raise ValueError(f"itemType {self.itemType} is not allowed")
        if self.type in ("SELECT", "ENUM") and not (self.values or self.expression):
            raise ValueError(f"a {self.type} input requires values")
        if self.validator is not None:
            try:
                re.compile(self.validator)
            except re.error as exc:
                raise ValueError(f"validator is not a valid regular expression: {exc}") from None
        for prop in ("min", "max", "after", "before"):
            bound = getattr(self, prop)
            if bound is not None and not is_template(bound):
                try:
                    _bound(self, bound)
                except (TypeError, ValueError, OverflowError):
                    raise ValueError(f"{prop}: {bound!r} is not a valid {self.type} bound") from None
        if self.defaults is not None and not is_template(self.defaults):
            try:
                parse_input(self, self.defaults)
            except InputsInvalid as exc:
                raise ValueError(f"defaults: {exc}") from None
        return self


_BOUNDS: dict[str, Callable[[Any], Any]] = {
    "INT": float, "FLOAT": float, "DURATION": lambda v: parse_duration(str(v)),
    "DATE": lambda v: date.fromisoformat(str(v)), "TIME": lambda v: time.fromisoformat(str(v)),
    "DATETIME": lambda v: datetime.fromisoformat(str(v).replace("Z", "+00:00")),
}


def _bound(inp: Input, value: Any) -> Any:
    """A min/max/after/before in comparable form (raises ValueError, TypeError or OverflowError)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a bound")
    return _BOUNDS[inp.type](value)


def _fail(inp: Input, reason: str) -> InputsInvalid:
    return InputsInvalid(inp.id, f"Invalid input for `{inp.id}`, {reason}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _expected(inp: Input, type_name: str, value: Any) -> InputsInvalid:
    return _fail(inp, f"Expected `{type_name}` but received `{_show(value)}`")


def _as_list(inp: Input, value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    raise _expected(inp, "ARRAY", value)


def _bounded(inp: Input, value: Any, low: Any, high: Any, show: Callable[[Any], str] = _show) -> None:
    if low is not None and value < low:
        raise _fail(inp, f"it must be more than `{show(low)}`, but received `{show(value)}`")
    if high is not None and value > high:
        raise _fail(inp, f"it must be less than `{show(high)}`, but received `{show(value)}`")


def _parse_scalar(inp: Input, kind: str, value: Any) -> Any:
    if kind in ("STRING", "EMAIL", "URI"):
        if isinstance(value, dict | list):
            raise _expected(inp, kind, value)
        text = _show(value)
        if kind == "EMAIL" and not _EMAIL.match(text):
            raise _fail(inp, f"it must be a valid email address, but received `{text}`")
        if kind == "URI" and not _URI.match(text):
            raise _fail(inp, f"Expected `URI` but received `{text}`, the value must be a valid URI")
        return text
    if kind == "INT":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise _expected(inp, "INT", value)
        try:
            return int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise _expected(inp, "INT", value) from None
    if kind == "FLOAT":
        if isinstance(value, bool):
            raise _expected(inp, "FLOAT", value)
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):  # 10**400 has no float
            raise _expected(inp, "FLOAT", value) from None
    if kind in ("BOOLEAN", "BOOL"):
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() == "true"  # Boolean.valueOf: anything else is false
    if kind == "DATE":
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _expected(inp, "DATE", value) from None
    if kind == "DATETIME":
        text = str(value).strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise _expected(inp, "DATETIME", value)
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if kind == "TIME":
        try:
            return time.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise _expected(inp, "TIME", value) from None
    if kind == "DURATION":
        try:
            parse_duration(str(value))
        except ValueError:
            raise _expected(inp, "DURATION", value) from None
        return str(value)
    if kind == "JSON":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _expected(inp, "JSON", value) from None
        return value
    if kind == "FILE":
        text = value if isinstance(value, str) else ""
        if not text.startswith(_FILE_SCHEMES):
            raise _fail(inp, f"Expected `FILE` but received `{_show(value)}`, expected a file (kestra://, "
                             "file: or nsfile:// URI)")
        allowed = [e if e.startswith(".") else "." + e
                   for e in (inp.allowedFileExtensions or ([inp.extension] if inp.extension else []))]
        if allowed and not any(text.lower().endswith(e.lower()) for e in allowed):
            raise _fail(inp, f"it must have one of the extensions `[{', '.join(allowed)}]`, but received "
                             f"`{text.rsplit('/', 1)[-1]}`")
        return text
    if kind == "YAML":
        if isinstance(value, str):
            from kflow.expr.functions import check_aliases
            from kflow.expr.values import ExprError

            try:
                check_aliases(value)  # no "billion laughs" value, no recursive one
                return yaml.safe_load(value)
            except (yaml.YAMLError, ExprError, ValueError, OverflowError):  # also `0000-01-01`, huge ints
                raise _expected(inp, "YAML", value) from None
        return value
    raise _fail(inp, f"unsupported type {kind}")


def parse_input(inp: Input, value: Any) -> Any:
    """Parse and validate one supplied value for `inp` (Kestra's per-type rules)."""
    kind = inp.type
    if kind in ("SELECT", "ENUM"):
        text = _parse_scalar(inp, "STRING", value)
        allowed = [_show(v) for v in (inp.values or [])]
        if inp.values and text not in allowed and not inp.allowCustomValue:
            raise _fail(inp, f"it must match the values `[{', '.join(allowed)}]`, but received `{text}`")
        return text
    if kind == "MULTISELECT":
        items = [_show(v) for v in _as_list(inp, value)]
        allowed = [_show(v) for v in (inp.values or inp.options or [])]
        bad = [v for v in items if allowed and v not in allowed]
        if bad and not inp.allowCustomValue:
            raise _fail(inp, f"it must match the values `[{', '.join(allowed)}]`, but received `{bad[0]}`")
        return items
    if kind == "ARRAY":
        return [_parse_scalar(inp, inp.itemType or "STRING", v) for v in _as_list(inp, value)]
    parsed = _parse_scalar(inp, kind, value)
    if kind == "STRING" and inp.validator and not re.fullmatch(inp.validator, parsed):
        raise _fail(inp, f"it must match the pattern `{inp.validator}`, but received `{parsed}`")
    try:
        _check_bounds(inp, kind, parsed)
    except (TypeError, ValueError, OverflowError) as exc:  # a bound the declaration could not check (a template)
        raise _fail(inp, f"its bounds cannot be checked: {exc}") from None
    return parsed


def _check_bounds(inp: Input, kind: str, parsed: Any) -> None:
    if kind in ("INT", "FLOAT"):
        low = None if inp.min is None else _bound(inp, inp.min)
        high = None if inp.max is None else _bound(inp, inp.max)
        _bounded(inp, parsed, low, high, lambda v: _show(int(v) if float(v).is_integer() and kind == "INT" else v))
    if kind == "DURATION" and (inp.min or inp.max):
        _bounded(inp, parse_duration(parsed), inp.min and _bound(inp, inp.min),
                 inp.max and _bound(inp, inp.max), lambda v: _show(v))
    if kind in ("DATE", "TIME", "DATETIME") and (inp.after or inp.before):
        current = _bound(inp, parsed)
        if inp.after and current <= _bound(inp, inp.after):
            raise _fail(inp, f"it must be after `{inp.after}`, but received `{parsed}`")
        if inp.before and current >= _bound(inp, inp.before):
            raise _fail(inp, f"it must be before `{inp.before}`, but received `{parsed}`")


def resolve_inputs(declared: list[Input], supplied: Mapping[str, Any],
                   render: Callable[[Any, dict], Any] | None = None) -> dict[str, Any]:
    """Typed inputs of a new execution, or InputsInvalid for the first bad one (nothing is created)."""
    resolved: dict[str, Any] = {}
    for inp in declared:
        if inp.dependsOn and not _enabled(inp, resolved, render):
            continue
        value = supplied.get(inp.id)
        if value is None or (value == "" and inp.type not in ("STRING",)):
            value = inp.defaults
            if is_template(value) and render is not None:
                value = _rendered(inp, render, value, resolved)
        if value is None:
            if inp.required:
                raise _fail(inp, "missing required input, but received `null`")
            resolved[inp.id] = None
            continue
        resolved[inp.id] = parse_input(inp, value)
    return _nest(resolved)


def _enabled(inp: Input, resolved: dict[str, Any], render: Callable[[Any, dict], Any] | None) -> bool:
    deps = inp.dependsOn
    assert deps is not None
    if any(resolved.get(d) is None for d in deps.inputs):
        return False
    if deps.condition and render is not None:
        from kflow.expr import truthy

        return truthy(_rendered(inp, render, deps.condition, resolved))
    return True


def _rendered(inp: Input, render: Callable[[Any, dict], Any], template: str, resolved: dict[str, Any]) -> Any:
    """A `defaults` or `dependsOn.condition` expression; its render error is this input's error."""
    from kflow.expr import RenderError

    try:
        return render(template, {"inputs": _nest(resolved)})
    except RenderError as exc:
        raise _fail(inp, f"cannot render `{template}`: {exc}") from None


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """`nested.string` ids become inputs.nested.string (the flat key is kept too)."""
    out: dict[str, Any] = dict(flat)
    for key, value in flat.items():
        if "." in key:
            node = out
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else {}
            node[leaf] = value
    return out
