"""YAML reading as Kestra does it: duplicate keys are errors, and every problem names its file."""

from __future__ import annotations

import re
from typing import Any

import yaml

from kflow.errors import FlowInvalid, Problem


class _StrictLoader(yaml.SafeLoader):
    pass


# YAML 1.2 booleans: only true/false. `on`, `off`, `yes`, `no` stay text, as task ids and messages.
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:  # `message: {{ inputs.x }}` unquoted: a map as a key
            raise yaml.constructor.ConstructorError(
                None, None, "a map or list cannot be a key (quote a `{{ ... }}` expression: "
                "message: \"{{ inputs.x }}\")", key_node.start_mark) from None
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
    return result


def _construct_timestamp_as_str(loader: _StrictLoader, node: yaml.ScalarNode) -> str:
    # Kestra keeps `2024-01-01` as text until a typed property parses it; so do we.
    return loader.construct_scalar(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp_as_str)


def load_yaml(text: str, source: str | None = None) -> Any:
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FlowInvalid([Problem("", f"invalid YAML: {where}{problem}")], source) from None
    except (ValueError, OverflowError) as exc:  # a scalar YAML cannot build (an int of 5,000 digits)
        raise FlowInvalid([Problem("", f"invalid YAML: {exc}")], source) from None


def load_yaml_documents(text: str, source: str | None = None) -> list[Any]:
    try:
        return [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise FlowInvalid([Problem("", f"invalid YAML: {where}{getattr(exc, 'problem', exc)}")],
                          source) from None
    except (ValueError, OverflowError) as exc:
        raise FlowInvalid([Problem("", f"invalid YAML: {exc}")], source) from None
