"""A small jq subset for the `jq` filter: paths (`.a.b`, `.["k"]`, `.[0]`, `.[]`, `.[1:3]`), pipes and a
few builtins (`length`, `keys`, `first`, `last`, `tostring`, `tonumber`).
Like Kestra, results are always a list."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from .values import ExprError, to_json

_TOKEN = re.compile(
    r"\s*(?:(?P<dot>\.)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<str>\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<num>-?\d+)|(?P<punct>[\[\]:|?]))"
)
_BUILTINS = {"length", "keys", "first", "last", "tostring", "tonumber"}

Step = tuple[Any, ...]


@lru_cache(maxsize=256)
def _compile(expr: str) -> tuple[tuple[Step, ...], ...]:
    toks: list[tuple[str, str]] = []
    pos = 0
    s = expr.strip()
    while pos < len(s):
        m = _TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise ExprError(f"Unsupported jq expression: {expr}")
        kind = m.lastgroup or ""
        toks.append((kind, m.group(kind)))
        pos = m.end()
    pipeline: list[tuple[Step, ...]] = []
    steps: list[Step] = []
    i = 0

    def err() -> ExprError:
        return ExprError(f"Unsupported jq expression: {expr}")

    while i < len(toks):
        kind, val = toks[i]
        if kind == "punct" and val == "|":
            pipeline.append(tuple(steps))
            steps = []
            i += 1
        elif kind == "name" and not steps and val in _BUILTINS:
            steps.append(("fn", val))
            i += 1
        elif kind == "dot":
            i += 1
            if i < len(toks) and toks[i][0] in ("name", "str"):
                k = toks[i][1] if toks[i][0] == "name" else json.loads(toks[i][1])
                steps.append(("key", k))
                i += 1
            elif not (i < len(toks) and toks[i] == ("punct", "[")):
                steps.append(("id",))
        elif kind == "punct" and val == "[":
            inner = []
            i += 1
            while i < len(toks) and toks[i] != ("punct", "]"):
                inner.append(toks[i])
                i += 1
            i += 1
            if not inner:
                steps.append(("iter",))
            elif len(inner) == 1 and inner[0][0] == "num":
                steps.append(("index", int(inner[0][1])))
            elif len(inner) == 1 and inner[0][0] == "str":
                steps.append(("key", json.loads(inner[0][1])))
            elif [k for k, _ in inner].count("punct") == 1 and (":" in [v for _, v in inner]):
                a = b = None
                seen = False
                for k, v in inner:
                    if v == ":":
                        seen = True
                    elif k == "num":
                        a, b = (a, int(v)) if seen else (int(v), b)
                steps.append(("slice", a, b))
            else:
                raise err()
        elif kind == "punct" and val == "?":
            i += 1
        else:
            raise err()
    pipeline.append(tuple(steps))
    return tuple(pipeline)


def _step(values: list[Any], step: Step) -> list[Any]:
    out: list[Any] = []
    op = step[0]
    for v in values:
        if op == "id":
            out.append(v)
        elif op == "key":
            if v is None:
                out.append(None)
            elif isinstance(v, dict):
                out.append(v.get(step[1]))
            else:
                raise ExprError(f"jq: cannot index {type(v).__name__} with \"{step[1]}\"")
        elif op == "index":
            if isinstance(v, list):
                idx = step[1]
                out.append(v[idx] if -len(v) <= idx < len(v) else None)
            elif v is None:
                out.append(None)
            else:
                raise ExprError(f"jq: cannot index {type(v).__name__} with number")
        elif op == "slice":
            out.append(v[step[1]:step[2]] if isinstance(v, list | str) else None)
        elif op == "iter":
            if isinstance(v, list):
                out.extend(v)
            elif isinstance(v, dict):
                out.extend(v.values())
            else:
                raise ExprError(f"jq: cannot iterate over {type(v).__name__}")
        else:
            out.append(_builtin(step[1], v))
    return out


def _builtin(name: str, v: Any) -> Any:
    if name == "length":
        return len(v) if isinstance(v, list | dict | str) else (0 if v is None else abs(v))
    if name == "keys":
        return sorted(v.keys()) if isinstance(v, dict) else list(range(len(v)))
    if name == "first":
        return v[0] if v else None
    if name == "last":
        return v[-1] if v else None
    if name == "tostring":
        return v if isinstance(v, str) else to_json(v)
    return float(v) if "." in str(v) else int(v)


def jq(value: Any, expr: str) -> list[Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    stream = [value]
    for steps in _compile(expr):
        for st in steps:
            stream = _step(stream, st)
    return stream
