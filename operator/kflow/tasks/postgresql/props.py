"""Render and coerce dynamic task properties, failing with a message that names the property."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from kflow.errors import TaskFailed
from kflow.tasks.base import RunContext


def rendered(ctx: RunContext, value: Any) -> Any:
    """Typed rendering, walking lists and maps: a lone `{{ expr }}` keeps its type (list, number, ...)."""
    if isinstance(value, str):
        return ctx.render_value(value)
    if isinstance(value, list):
        return [rendered(ctx, v) for v in value]
    if isinstance(value, dict):
        return {k: rendered(ctx, v) for k, v in value.items()}
    return value


def as_str(ctx: RunContext, value: Any, name: str, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise TaskFailed(f"property '{name}' is required")
        return None
    out = ctx.render(value) if isinstance(value, str) else value
    if out is None:
        if required:
            raise TaskFailed(f"property '{name}' is required (it rendered to nothing)")
        return None
    if isinstance(out, bool) or not isinstance(out, (str, int, float)):
        raise TaskFailed(f"property '{name}' must be a string, got {type(out).__name__}")
    out = str(out)
    if required and out == "":
        raise TaskFailed(f"property '{name}' is required (it rendered to an empty string)")
    return out


def as_bool(ctx: RunContext, value: Any, name: str, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    out = rendered(ctx, value)
    if isinstance(out, bool):
        return out
    if isinstance(out, str):
        low = out.strip().lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "" and default is not None:
            return default
    raise TaskFailed(f"property '{name}' must be true or false, got {out!r}")


def as_int(ctx: RunContext, value: Any, name: str, default: int | None = None,
           minimum: int | None = None) -> int | None:
    if value is None:
        return default
    out = rendered(ctx, value)
    if isinstance(out, bool):
        raise TaskFailed(f"property '{name}' must be an integer, got {out!r}")
    try:
        num = int(str(out).strip()) if not isinstance(out, int) else out
    except ValueError:
        raise TaskFailed(f"property '{name}' must be an integer, got {out!r}") from None
    if minimum is not None and num < minimum:
        raise TaskFailed(f"property '{name}' must be >= {minimum}, got {num}")
    return num


def as_enum(ctx: RunContext, value: Any, name: str, allowed: Iterable[str], default: str | None = None
            ) -> str | None:
    if value is None:
        return default
    out = as_str(ctx, value, name)
    if out is None or out == "":
        return default
    choice = out.strip().upper()
    allowed = list(allowed)
    if choice not in allowed:
        raise TaskFailed(f"property '{name}' must be one of {', '.join(allowed)}, got {out!r}")
    return choice


def as_str_list(ctx: RunContext, value: Any, name: str) -> list[str]:
    """A list of strings: a YAML list (items rendered) or an expression rendering to a list/JSON list."""
    if value is None:
        return []
    out = rendered(ctx, value)
    if isinstance(out, str):
        text = out.strip()
        if text == "":
            return []
        if text.startswith("["):
            try:
                out = json.loads(text)
            except ValueError:
                raise TaskFailed(f"property '{name}' must be a list of strings, got {out!r}") from None
        else:
            out = [part.strip() for part in text.split(",")]
    if not isinstance(out, list):
        raise TaskFailed(f"property '{name}' must be a list of strings, got {type(out).__name__}")
    items: list[str] = []
    for item in out:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise TaskFailed(f"property '{name}' must be a list of strings, got item {item!r}")
        items.append(str(item))
    return items


def as_map(ctx: RunContext, value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    out = rendered(ctx, value)
    if isinstance(out, str):
        text = out.strip()
        if text == "":
            return {}
        try:
            out = json.loads(text)
        except ValueError:
            raise TaskFailed(f"property '{name}' must be a map, got {out!r}") from None
    if not isinstance(out, dict):
        raise TaskFailed(f"property '{name}' must be a map, got {type(out).__name__}")
    return {str(k): v for k, v in out.items()}
