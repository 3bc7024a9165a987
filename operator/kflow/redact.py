"""The one place secret values are redacted: every log line, error, output and status kflow writes.

Pure functions. A secret is replaced by `MASK` in its plain form and in the encodings it travels in:
URL-encoded (`urlencode`, a query string) and base64 (an `Authorization: Basic` header, Kestra's
`SECRET_X` values). `values_from_env` decodes the `SECRET_*` entries of an environment, so a runner
masks every secret it can hand out, even one only a task's own process rendered.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "******"
MIN_EAGER = 4  # shorter SECRET_* values are masked only once secret() returned them (too common)


def forms(value: str) -> set[str]:
    """`value` and its URL-encoded and base64 spellings (padding dropped: it depends on the end)."""
    if not value:
        return set()
    raw = value.encode()
    out = {value, quote(value, safe=""), quote(value), quote_plus(value, safe=""),
           quote_plus(value, safe="*").replace("~", "%7E")}
    if len(raw) >= 3:
        out |= {base64.b64encode(raw).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    return out


def needles(values: Iterable[str]) -> list[str]:
    """Every spelling of `values`, longest first (a longer one may contain a shorter)."""
    return list(_needles(frozenset(v for v in values if isinstance(v, str) and v)))


@functools.lru_cache(maxsize=64)
def _needles(values: frozenset[str]) -> tuple[str, ...]:
    found: set[str] = set()
    for v in values:
        found |= forms(v)
    return tuple(sorted(found, key=lambda s: (-len(s), s)))


def text(value: str, values: Iterable[str]) -> str:
    if not isinstance(value, str) or not value:
        return value
    for needle in needles(values):
        if needle in value:
            value = value.replace(needle, MASK)
    return value


def deep(value: Any, values: Iterable[str]) -> Any:
    """`value` (JSON-like: dicts, lists, strings) with every string, keys included, redacted."""
    found = needles(values)
    if not found:
        return value
    return _deep(value, found)


def _deep(value: Any, found: list[str]) -> Any:
    if isinstance(value, str):
        for needle in found:
            if needle in value:
                value = value.replace(needle, MASK)
        return value
    if isinstance(value, Mapping):
        return {_deep(k, found): _deep(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(v, found) for v in value]
    return value


def decode(raw: str) -> str | None:
    """A `SECRET_X` value (base64, whitespace ignored) as text; None when it is not base64 UTF-8."""
    try:
        return base64.b64decode("".join(str(raw).split()), validate=False).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def values_from_env(env: Mapping[str, str]) -> set[str]:
    """The decoded values of an environment's `SECRET_*` entries, long enough to mask on sight."""
    out = set()
    for key, raw in env.items():
        if isinstance(key, str) and key.startswith("SECRET_") and isinstance(raw, str):
            value = decode(raw)
            if value and len(value) >= MIN_EAGER:
                out.add(value)
    return out
