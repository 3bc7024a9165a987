"""KV entries, typing, TTL and namespace inheritance: pure, over any `KVStore` adapter."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from kflow.model.durations import format_duration, parse_duration

KV_TYPES = ("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON")
KEY_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$")
NAMESPACE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$", re.IGNORECASE)


class KVError(Exception):
    """A KV operation was refused (bad key, bad value for its type, key exists without overwrite...)."""


class KVMissing(KVError):
    pass


class KVExpired(KVMissing):
    pass


@dataclass
class KVEntry:
    namespace: str
    key: str
    type: str
    value: Any              # JSON-compatible: typed values kept in their Kestra text form (dates, durations)
    expirationDate: str | None = None
    secret: bool = False
    updateDate: str | None = None

    def expired(self, now: datetime) -> bool:
        return self.expirationDate is not None and _parse_instant(self.expirationDate) <= now

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> KVEntry:
        data = json.loads(text)
        return cls(**{k: data.get(k) for k in ("namespace", "key", "type", "value", "expirationDate",
                                              "updateDate")}, secret=bool(data.get("secret")))


class KVStore(Protocol):
    def get(self, namespace: str, key: str) -> KVEntry | None: ...
    def put(self, entry: KVEntry) -> None: ...
    def delete(self, namespace: str, key: str) -> bool: ...
    def keys(self, namespace: str) -> list[str]: ...


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_instant(text: str) -> datetime:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not KEY_PATTERN.match(key) or len(key) > 255:
        raise KVError(f"invalid KV key {key!r}: expected letters, digits, '.', '_' or '-' "
                      "(starting with a letter or digit, at most 255 characters)")
    return key


def check_namespace(namespace: Any) -> str:
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.match(namespace):
        raise KVError(f"invalid namespace {namespace!r}: expected something like company.team")
    return namespace


def infer_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int | float):
        return "NUMBER"
    if isinstance(value, dict | list) or value is None:
        return "JSON"
    if isinstance(value, datetime):
        return "DATETIME"
    if isinstance(value, date):
        return "DATE"
    if isinstance(value, timedelta):
        return "DURATION"
    return "STRING"


def coerce(value: Any, kv_type: str | None) -> tuple[str, Any]:
    """(type, stored value) for `value` declared as `kv_type` (None: inferred from the value)."""
    t = (kv_type or infer_type(value)).upper()
    if t not in KV_TYPES:
        raise KVError(f"kvType must be one of {', '.join(KV_TYPES)}, got {kv_type!r}")
    try:
        if t == "STRING":
            return t, value if isinstance(value, str) else json.dumps(value, default=str)
        if t == "NUMBER":
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, int | float):
                return t, value
            text = str(value).strip()
            return t, int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        if t == "BOOLEAN":
            if isinstance(value, bool):
                return t, value
            text = str(value).strip().lower()
            if text not in ("true", "false"):
                raise ValueError
            return t, text == "true"
        if t == "DATETIME":
            dt = value if isinstance(value, datetime) else _parse_instant(str(value).strip())
            return t, _iso(dt if dt.tzinfo else dt.replace(tzinfo=UTC))
        if t == "DATE":
            d = value if isinstance(value, date) else date.fromisoformat(str(value).strip()[:10])
            return t, d.isoformat()
        if t == "DURATION":
            td = value if isinstance(value, timedelta) else parse_duration(str(value).strip())
            return t, format_duration(td)
        # JSON
        return t, json.loads(value) if isinstance(value, str) else value
    except (ValueError, TypeError):
        shown = value if len(repr(value)) < 80 else repr(value)[:77] + "..."
        raise KVError(f"value {shown!r} is not a valid {t}") from None


def kv_set(store: KVStore, namespace: str, key: str, value: Any, now: datetime, *,
           kv_type: str | None = None, ttl: str | timedelta | None = None, overwrite: bool = True,
           secret: bool = False) -> KVEntry:
    check_namespace(namespace)
    check_key(key)
    t, stored = coerce(value, kv_type)
    expires = None
    if ttl is not None:
        try:
            delta = ttl if isinstance(ttl, timedelta) else parse_duration(ttl)
        except ValueError as exc:
            raise KVError(f"ttl: {exc}") from None
        expires = _iso(now + delta)
    if not overwrite:
        old = store.get(namespace, key)
        if old is not None and not old.expired(now):
            raise KVError(f"Cannot set value for key '{key}'. Key already exists and `overwrite` is set "
                          "to `false`.")
    entry = KVEntry(namespace=namespace, key=key, type=t, value=stored, expirationDate=expires, secret=secret,
                    updateDate=_iso(now))
    store.put(entry)
    return entry


def parents(namespace: str) -> list[str]:
    """`a.b.c` -> [`a.b.c`, `a.b`, `a`]: where an inherited lookup looks, in order."""
    parts = namespace.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def kv_entry(store: KVStore, namespace: str, key: str, now: datetime, *, inherit: bool = False) -> KVEntry:
    """The live entry (raises KVMissing / KVExpired)."""
    check_key(key)
    expired = None
    for ns in parents(namespace) if inherit else [namespace]:
        entry = store.get(ns, key)
        if entry is None:
            continue
        if entry.expired(now):
            expired = expired or entry
            continue
        return entry
    if expired is not None:
        raise KVExpired(f"The key '{key}' has expired in the namespace '{expired.namespace}'.")
    raise KVMissing(f"The key '{key}' does not exist in the namespace '{namespace}'.")


def kv_get(store: KVStore, namespace: str, key: str, now: datetime, *, inherit: bool = False) -> Any:
    return kv_entry(store, namespace, key, now, inherit=inherit).value


def kv_delete(store: KVStore, namespace: str, key: str) -> bool:
    check_key(key)
    return store.delete(namespace, key)


def kv_keys(store: KVStore, namespace: str, now: datetime, prefix: str | None = None) -> list[str]:
    out = []
    for key in store.keys(namespace):
        if prefix and not key.startswith(prefix):
            continue
        entry = store.get(namespace, key)
        if entry is not None and not entry.expired(now):
            out.append(key)
    return sorted(out)
