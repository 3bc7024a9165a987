"""Inputs: Kestra's typing, defaults and rejection messages."""

from __future__ import annotations

import pytest

from kflow.errors import InputsInvalid
from kflow.model.flow import parse_flow
from kflow.model.inputs import resolve_inputs


def _inputs(*defs: dict) -> list:
    flow = parse_flow({"id": "f", "namespace": "n", "inputs": list(defs),
                       "tasks": [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "m"}]})
    return flow.inputs


@pytest.mark.parametrize(("decl", "value", "expected"), [
    ({"type": "STRING"}, "x", "x"),
    ({"type": "INT"}, "42", 42),
    ({"type": "FLOAT"}, "1.5", 1.5),
    ({"type": "BOOLEAN"}, "true", True),
    ({"type": "BOOLEAN"}, "yes", False),
    ({"type": "SELECT", "values": ["a", "b"]}, "b", "b"),
    ({"type": "MULTISELECT", "values": ["a", "b"]}, '["a","b"]', ["a", "b"]),
    ({"type": "ARRAY", "itemType": "INT"}, "[1, 2]", [1, 2]),
    ({"type": "JSON"}, '{"k": [1]}', {"k": [1]}),
    ({"type": "YAML"}, "k: v", {"k": "v"}),
    ({"type": "DATE"}, "2024-02-29", "2024-02-29"),
    ({"type": "DATETIME"}, "2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00Z"),
    ({"type": "TIME"}, "10:15:30", "10:15:30"),
    ({"type": "DURATION"}, "PT5M", "PT5M"),
    ({"type": "URI"}, "https://x.org/a", "https://x.org/a"),
    ({"type": "EMAIL"}, "a@b.io", "a@b.io"),
])
def test_each_type_parses(decl, value, expected):
    assert resolve_inputs(_inputs({"id": "x", **decl}), {"x": value}) == {"x": expected}


@pytest.mark.parametrize(("decl", "value", "message"), [
    ({"type": "INT"}, "abc", "Invalid input for `x`, Expected `INT` but received `abc`"),
    ({"type": "INT", "min": 5}, "3", "Invalid input for `x`, it must be more than `5`, but received `3`"),
    ({"type": "SELECT", "values": ["yellow", "green"]}, "blue",
     "Invalid input for `x`, it must match the values `[yellow, green]`, but received `blue`"),
    ({"type": "STRING", "validator": "^[0-9]{4}$"}, "20x4",
     "Invalid input for `x`, it must match the pattern `^[0-9]{4}$`, but received `20x4`"),
    ({"type": "DATE"}, "2024-13-01", "Invalid input for `x`, Expected `DATE` but received `2024-13-01`"),
    ({"type": "DATETIME"}, "2024-01-01T10:00:00", "Expected `DATETIME`"),
    ({"type": "DURATION"}, "5m", "Expected `DURATION`"),
    ({"type": "EMAIL"}, "nope", "valid email"),
])
def test_invalid_values_are_rejected_with_kestra_wording(decl, value, message):
    with pytest.raises(InputsInvalid) as exc:
        resolve_inputs(_inputs({"id": "x", **decl}), {"x": value})
    assert message in str(exc.value)
    assert exc.value.input_id == "x"


def test_required_missing_and_optional_null_and_defaults():
    decls = _inputs({"id": "req", "type": "STRING"},
                    {"id": "opt", "type": "STRING", "required": False},
                    {"id": "dflt", "type": "INT", "defaults": 7})
    with pytest.raises(InputsInvalid, match="Invalid input for `req`, missing required input, but received `null`"):
        resolve_inputs(decls, {})
    assert resolve_inputs(decls, {"req": "r"}) == {"req": "r", "opt": None, "dflt": 7}


def test_default_singular_is_accepted_as_defaults_with_a_warning():
    flow = parse_flow({"id": "f", "namespace": "n", "inputs": [{"id": "x", "type": "STRING", "default": "v"}],
                       "tasks": [{"id": "a", "type": "io.kestra.plugin.core.log.Log", "message": "m"}]})
    # A warning with its path, not a Python warning pointing at a library line.
    assert [str(w) for w in flow.warnings] == [
        "inputs[0].default: `default` is not a Kestra property (Kestra rejects it): read as `defaults`"]
    assert resolve_inputs(flow.inputs, {}) == {"x": "v"}


def test_nested_input_ids():
    decls = _inputs({"id": "db.host", "type": "STRING", "defaults": "localhost"})
    assert resolve_inputs(decls, {})["db"] == {"host": "localhost"}
