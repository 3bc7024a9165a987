"""Inputs the fuzz tests drew in a full-suite run (not in a run of tests/fuzz alone), kept as plain cases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kflow.engine.machine import Engine
from kflow.errors import FlowInvalid, InputsInvalid
from kflow.expr import Renderer
from kflow.model.flow import parse_flow
from kflow.model.loader import load_flow_text


@pytest.mark.parametrize("text,path,says", [
    ("apiVersion: kflow.dev/v1alpha1\nkind: Flow\nmetadata: -1\nspec: {id: a, namespace: b, tasks: []}\n",
     "metadata", "expected a map"),
    ("id: a\nnamespace: b\ndescription: " + "1" * 5000 + "\ntasks: []\n", "", "invalid YAML"),
])
def test_a_flow_file_yaml_cannot_build_is_an_invalid_flow(text, path, says):
    with pytest.raises(FlowInvalid) as err:
        load_flow_text(text, "f.yaml")
    assert err.value.problems[0].path == path and says in str(err.value)


@pytest.mark.parametrize("value", ["1" * 5000, "0000-01-01"])
def test_a_yaml_input_python_cannot_build_is_an_input_error(value):
    flow = parse_flow({"id": "f", "namespace": "n", "inputs": [{"id": "y", "type": "YAML"}],
                       "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "x"}]}, "f.yaml")
    engine = Engine(flow, Renderer(secrets={}, now=lambda: datetime(2026, 12, 3, tzinfo=UTC)))
    with pytest.raises(InputsInvalid, match="Invalid input for `y`"):
        engine.create_execution("e1", {"y": value}, datetime(2026, 12, 3, tzinfo=UTC))
