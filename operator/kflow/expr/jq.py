"""The `jq` filter, on the real jq (the `jq` package binds libjq): the whole language, not a subset.
Like Kestra's jackson-jq, results are always a list."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jq as libjq

from .values import ExprError, to_json


@lru_cache(maxsize=256)
def _program(expr: str) -> Any:
    try:
        return libjq.compile(expr)
    except ValueError as exc:
        raise ExprError(f"jq: invalid expression `{expr}`: {str(exc).splitlines()[0]}") from None


def jq(value: Any, expr: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    try:
        return list(_program(expr).input_text(to_json(value)).all())
    except ValueError as exc:
        raise ExprError(f"jq: `{expr}` failed: {str(exc).splitlines()[0]}") from None
