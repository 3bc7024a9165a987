"""Strict undefined values that remember the path the template tried to read.

Accessing deeper into an undefined value yields another undefined (so `a.b.c ?? 'd'` works when `a` is
missing); any *use* of it (output, truth test, iteration, comparison) raises `MissingVariable`.
"""

from __future__ import annotations

from jinja2 import StrictUndefined


class MissingVariable(Exception):
    """Raised when an undefined value is used; `path` is what the template tried to read."""

    def __init__(self, path: str):
        self.path = path
        super().__init__(path)


class KfUndefined(StrictUndefined):
    __slots__ = ()

    def __init__(self, hint=None, obj=None, name=None, exc=None):  # type: ignore[no-untyped-def]
        super().__init__(hint=hint, name=name, exc=MissingVariable)

    @property
    def _undefined_message(self) -> str:  # type: ignore[override]
        return self._undefined_name or "?"

    @property
    def path(self) -> str:
        return self._undefined_name or "?"


def missing(path: str) -> KfUndefined:
    return KfUndefined(name=path)


def is_undefined(value: object) -> bool:
    return isinstance(value, KfUndefined)


def check_defined(value: object) -> None:
    """Raise MissingVariable for an undefined value anywhere inside a list / map a typed rendering returns
    (`{{ [outputs.nope.x] }}`): strict, as Pebble is, and no internal object reaches a task."""
    stack, seen = [value], set()
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list | tuple):
            if id(item) in seen:  # a value containing itself
                continue
            seen.add(id(item))
        if isinstance(item, KfUndefined):
            raise MissingVariable(item.path)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
