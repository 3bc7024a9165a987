"""The operator's pure conversions of custom resources into the engine's model, on random resources:

- a Flow's `spec` → its status (`flow_status`: never raises; invalid means conditions naming `spec.` paths),
  and the same spec frozen into the snapshot ConfigMap (YAML round trip) and parsed as an Execution runs it:
  both must agree on validity;
- an Execution's `spec` (as the API server admits it: the CRD schema, i.e. ExecutionSpec) → FILE inputs
  (`file_inputs.plan`) and a new engine Execution (`create_execution`): only InputsInvalid may escape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from fuzzkit import count, no_hang, scale
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_fuzz_flows import data, flowish, mutated
from test_fuzz_inputs import values

from kflow.engine.machine import Engine
from kflow.errors import FlowInvalid, InputsInvalid
from kflow.expr import Renderer
from kflow.k8s import file_inputs
from kflow.k8s.flows import flow_status
from kflow.k8s.models import ExecutionSpec, FlowStatus
from kflow.model.flow import parse_flow
from kflow.runner.storage import ExecutionStorage

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _spec(doc: Any) -> Any:
    """A Flow resource's spec: a manifest's, or a plain Kestra body used as one."""
    if isinstance(doc, dict) and isinstance(doc.get("spec"), dict) and "kind" in doc:
        return doc["spec"]
    return doc


@settings(max_examples=scale(500))
@given(st.one_of(mutated().map(_spec), flowish, data))
@example({"tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}], "inputs": 5})
def test_flow_resource_status(spec: Any) -> None:
    count("crd: Flow spec -> status")
    with no_hang():
        status = flow_status("my-flow", spec if isinstance(spec, dict) else {}, 3, None, "team-a")
    FlowStatus.model_validate(status)  # what the operator writes fits the CRD's status schema
    valid = status["valid"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["Ready"]["status"] == ("True" if valid else "False")
    if not isinstance(spec, dict):
        return
    # the snapshot an Execution runs (k8s/executions.py load_flow): YAML text of the spec, read back
    raw = yaml.safe_load(yaml.safe_dump(spec, sort_keys=False)) or {}
    raw.setdefault("id", "my-flow")
    raw.setdefault("namespace", "team-a")
    try:
        with no_hang():
            parse_flow(raw, "Flow my-flow", "spec")
    except FlowInvalid as exc:
        assert not valid, f"the Flow is valid but its snapshot is not: {exc}"
        assert all(p.path.startswith("spec") for p in exc.problems), exc.problems
    else:
        assert valid, f"the snapshot is valid but the Flow is not: {status['conditions'][0]['message']}"


FLOW = parse_flow({
    "id": "f", "namespace": "ns",
    "inputs": [{"id": "s", "type": "STRING", "required": False}, {"id": "i", "type": "INT", "min": 0, "max": 10,
                                                                   "defaults": 1},
               {"id": "d", "type": "DATETIME", "required": False}, {"id": "sel", "type": "SELECT",
                                                                    "values": ["a", "b"], "defaults": "a"},
               {"id": "arr", "type": "ARRAY", "itemType": "INT", "required": False},
               {"id": "data", "type": "FILE", "required": False, "allowedFileExtensions": [".csv"]},
               {"id": "j", "type": "JSON", "required": False}, {"id": "dur", "type": "DURATION", "required": False},
               {"id": "cond", "type": "STRING", "required": False,
                "dependsOn": {"inputs": ["s"], "condition": "{{ inputs.s == 'x' }}"}}],
    "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "{{ inputs }}"}],
}, "flow")
IDS = [i.id for i in FLOW.inputs]
names = st.one_of(st.sampled_from(IDS), st.text(max_size=6))
key_ref = st.fixed_dictionaries({"name": st.text(max_size=6), "key": st.sampled_from(["a.csv", "x", "../x", ""])})
source = st.fixed_dictionaries({}, optional={
    "configMapKeyRef": key_ref, "secretKeyRef": key_ref,
    "url": st.sampled_from(["https://h/a.csv", "http://h/", "http://h/%2e%2e/x", "https://h/a.txt?q=1#f"]),
    "executionFile": st.fixed_dictionaries({"execution": st.text(max_size=6),
                                            "path": st.sampled_from(["a.csv", "x/../../y", "..", "a/b.csv"])}),
    "filename": st.sampled_from(["a.csv", "b.txt", "..", "é.csv", "x"])})
exec_spec = st.fixed_dictionaries({"flowRef": st.just({"name": "f"})}, optional={
    "inputs": st.dictionaries(names, values, max_size=5),
    "inputsFrom": st.dictionaries(names, source, max_size=2),
    "labels": st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    "trigger": st.fixed_dictionaries({"date": st.sampled_from(["2024-01-01T00:00:00Z", "x", ""])}),
    "kill": st.booleans(), "ttlSecondsAfterFinished": st.integers(0, 10), "keepVolume": st.booleans()})


@settings(max_examples=scale(500))
@given(exec_spec)
@example({"flowRef": {"name": "f"}, "inputs": {"i": "abc"}})
@example({"flowRef": {"name": "f"}, "inputsFrom": {"data": {"url": "https://h/a.txt"}}})
@example({"flowRef": {"name": "f"}, "inputsFrom": {"data": {"executionFile": {"execution": "p", "path": "x/../../y"}}}})
def test_execution_resource(spec: dict[str, Any]) -> None:
    count("crd: Execution spec -> execution")
    try:
        ExecutionSpec.model_validate(spec)
    except ValidationError:
        return  # the API server refuses it (the CRD schema is generated from ExecutionSpec)
    storage = ExecutionStorage(Path("/nonexistent/kflow-fuzz"), FLOW.namespace, FLOW.id, "e1")
    engine = Engine(FLOW, Renderer(secrets={}, now=lambda: NOW))
    with no_hang():
        try:
            entries = file_inputs.plan(FLOW, spec.get("inputsFrom"))
            files = file_inputs.input_values(entries, storage)
            file_inputs.worker_entries(entries)
            ex = engine.create_execution("e1", {**(spec.get("inputs") or {}), **files}, NOW,
                                         labels=spec.get("labels") or {}, trigger=spec.get("trigger"))
        except InputsInvalid as exc:
            assert str(exc).startswith("Invalid input for `"), str(exc)
            return
    for e in entries:  # a staged file stays inside the execution's storage
        assert ".." not in Path(e["path"]).parts, e
    assert set(ex.inputs) >= {i.id for i in FLOW.inputs if i.dependsOn is None}
