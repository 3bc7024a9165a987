"""pydantic validation errors as Problems whose path is a place in the flow (`tasks[2].retry.interval`)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from kflow.errors import Problem

_MESSAGES = {
    "missing": "required property is missing",
    "extra_forbidden": "Unrecognized field (not a property of this type)",
    "too_short": "must not be empty",
}


def loc_path(prefix: str, loc: tuple[Any, ...], members: frozenset[int] = frozenset()) -> str:
    """`members`: positions in `loc` that name a union's member (`runIf.str`), not a place in the flow."""
    path = prefix
    for i, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "function-wrap") or "[" in str(part) or i in members:
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


_MEMBER_TAGS = {"str", "int", "float", "bool", "none", "bytes", "dict", "list", "date", "datetime", "time"}


def _model_names() -> frozenset[str]:
    classes, names = list(BaseModel.__subclasses__()), set()
    while classes:
        cls = classes.pop()
        names.add(cls.__name__)
        classes += cls.__subclasses__()
    return frozenset(names)


def _union_member(part: Any, models: frozenset[str]) -> bool:
    """A union's member in an error location (`runIf.str`, `message.list[str]`, `retry.Retry`): not a place
    in the flow."""
    if not isinstance(part, str):
        return False
    return part in _MEMBER_TAGS or part in models or ("[" in part and not part.startswith("function-"))


def _members(locs: list[tuple[Any, ...]], models: frozenset[str]) -> list[frozenset[int]]:
    """For each error location, the positions naming a union member: a type-like name (`str`, `list[str]`,
    a model's class name) that another error shares the same prefix with, under another such name (a union
    reports one error per member). A lone `bytes` is a property called bytes."""
    out = []
    for loc in locs:
        found = set()
        for k, part in enumerate(loc):
            if k and _union_member(part, models) and any(
                    len(o) > k and o[:k] == loc[:k] and o[k] != part and _union_member(o[k], models) for o in locs):
                found.add(k)
        out.append(frozenset(found))
    return out


def validation_problems(exc: ValidationError, prefix: str) -> list[Problem]:
    out: list[Problem] = []
    union_at = None  # path of the last union error: its members' messages are joined
    errors = exc.errors()
    members = _members([tuple(e["loc"]) for e in errors], _model_names())
    for err, member in zip(errors, members, strict=True):
        path = loc_path(prefix, err["loc"], member)
        if member:
            if union_at == path and out:
                out[-1] = Problem(path, f"{out[-1].message} or {err['msg'].removeprefix('Input should be ')}")
                continue
            union_at = path
        else:
            union_at = None
        msg = _MESSAGES.get(err["type"], err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = f'Unrecognized field "{err["loc"][-1]}"'
        elif err["type"] == "literal_error":
            msg = f"{err['msg']}, got {err.get('input')!r}"
        out.append(Problem(path, msg))
    return out


def map_form_paths(problems: list[Problem], base: str, raw: Any) -> list[Problem]:
    """pluginDefaults written as a map (`{type: values}`) are checked as a list: name the map's key again
    (`pluginDefaults.io.kestra.plugin.gcp`, not `pluginDefaults[0].values`)."""
    if not isinstance(raw, dict):
        return problems
    keys = [str(k) for k in raw]
    out = []
    for p in problems:
        m = re.match(rf"^{re.escape(base)}\[(\d+)\](?:\.values|\.type|\.forced)?", p.path)
        if m and int(m.group(1)) < len(keys):
            p = Problem(f"{base}.{keys[int(m.group(1))]}{p.path[m.end():]}", p.message)
        out.append(p)
    return out
