"""Which keys of the `secretsFrom` Secret a flow's task pods get: the secrets its expressions name.

Of the Secret's `SECRET_*` keys a pod gets `SECRET_<KEY>` (or `SECRET_<KEY upper-cased>`, which
`secret()` also reads) for each `secret('KEY')` with a literal key anywhere in the flow (tasks, variables,
plugin defaults, inputs), each as a `secretKeyRef`; its other keys (`ENV_*` for `envs.*`, plain settings)
are environment, not secrets, and every pod gets them. A key computed at run time (`secret(vars.name)`)
cannot be known in advance: then the pod gets the whole Secret (`envFrom`), as before. Pure.
"""

from __future__ import annotations

import re
from typing import Any

_CALL = re.compile(r"\bsecret\s*\(")
_LITERAL = re.compile(r"""\bsecret\s*\(\s*(['"])([^'"\\]+)\1\s*[,)]""")


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def referenced_keys(flow_body: Any) -> list[str] | None:
    """The environment variable names (`SECRET_X`) the flow's literal `secret('X')` calls read, sorted;
    None when some call's key is computed (every key is needed then)."""
    names: set[str] = set()
    for text in _strings(flow_body):
        calls = _CALL.findall(text)
        literals = _LITERAL.findall(text)
        if len(calls) != len(literals):
            return None
        for _, key in literals:
            names |= {f"SECRET_{key}", f"SECRET_{key.upper()}"}
    return sorted(names)


def pod_keys(secret_keys: list[str], referenced: list[str]) -> list[str]:
    """What a pod gets of a Secret holding `secret_keys`: its non-secret keys and the referenced secrets."""
    wanted = set(referenced)
    return [k for k in secret_keys if not k.startswith("SECRET_") or k in wanted]


def pod_env(secret_name: str, keys: list[str]) -> list[dict[str, Any]]:
    return [{"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k, "optional": True}}}
            for k in keys]


def for_execution(data: dict[str, str] | None,
                  referenced: list[str] | None) -> tuple[list[str] | None, dict[str, str]]:
    """Of a Secret's entries (`data`; None: no such Secret): the keys an execution's pods get (None: the
    whole Secret), and the entries the operator's own renderer gets, the same ones: inline tasks (Log,
    Return) then render `secret()` as a pod does, and every value is masked (kflow/redact.py)."""
    keys = None if data is None or referenced is None else pod_keys(sorted(data), referenced)
    return keys, {k: v for k, v in (data or {}).items() if keys is None or k in keys}
