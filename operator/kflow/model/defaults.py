"""pluginDefaults: applied to the raw flow map before typed parsing, as Kestra does.

Every map with a `type` key (tasks at any depth, triggers, taskRunner, ...) whose type equals or starts
with a default's `type` gets the default's values deep-merged; the task's own values win unless the
default is forced (then the default wins; the first forced default listed wins).
"""

from __future__ import annotations

import copy
from typing import Any


def deep_merge(base: Any, override: Any) -> Any:
    """`override` wins; maps are merged recursively, everything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def normalize_plugin_defaults(raw: Any) -> list[dict[str, Any]]:
    """Accept Kestra's list form and the map form `{type: values}` seen in real flows."""
    if raw is None:
        return []
    if isinstance(raw, dict):
        return [{"type": t, "values": v or {}, "forced": False} for t, v in raw.items()]
    return [dict(d) for d in raw]


def apply_plugin_defaults(node: Any, defaults: list[dict[str, Any]], aliases: dict[str, str]) -> Any:
    if not defaults:
        return node
    if isinstance(node, list):
        return [apply_plugin_defaults(item, defaults, aliases) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: apply_plugin_defaults(v, defaults, aliases) for k, v in node.items()}
    plugin_type = node.get("type")
    if not isinstance(plugin_type, str):
        return node
    names = {plugin_type, aliases.get(plugin_type, plugin_type)}

    def matches(d: dict[str, Any]) -> bool:
        t = d.get("type")
        return isinstance(t, str) and any(n == t or n.startswith(t) for n in names)

    declared = _declared(plugin_type)

    def values(d: dict[str, Any]) -> dict[str, Any]:
        # Kestra injects defaults leniently: a default naming a property this type lacks is dropped
        # (`bucket` for every io.kestra.plugin.gcp task in the zoomcamp flows), not an error.
        vals = d.get("values") or {}
        if declared is None or not isinstance(vals, dict):
            return vals
        return {k: v for k, v in vals.items() if k in declared}

    for d in defaults:
        if not d.get("forced") and matches(d):
            node = deep_merge(values(d), node)
    for d in reversed(defaults):
        if d.get("forced") and matches(d):
            node = deep_merge(node, values(d))
    return node


def _declared(plugin_type: str) -> set[str] | None:
    """Property names (and YAML aliases) of a task type; None when unknown (kept as they are)."""
    from kflow.tasks import registry

    cls = registry.task_class(plugin_type)
    if cls is None:
        return None
    fields = cls.model_fields
    return set(fields) | {f.alias for f in fields.values() if f.alias}
