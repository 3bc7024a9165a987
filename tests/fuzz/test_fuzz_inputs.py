"""Flow inputs of every type kflow supports, declared with random properties and given random values (as
`kflow run -i` strings and as an Execution's JSON `spec.inputs`). A declaration may only fail as FlowInvalid;
a value only as InputsInvalid; a valid value comes back in its typed form."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

from fuzzkit import count, no_hang, scale
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kflow.engine.machine import Engine
from kflow.errors import FlowInvalid, InputsInvalid
from kflow.expr import Renderer
from kflow.model.flow import parse_flow
from kflow.model.inputs import UNSUPPORTED, InputType, parse_input

TYPES = [t for t in get_args(InputType) if t not in UNSUPPORTED]
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "true", "false", "TRUE", "1", "-1", "1.5", "1e400", "-1e400", "nan", "inf", "0x1F",
                     "9" * 5000, "2024-01-01", "2024-02-30", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00",
                     "2024-01-01T25:00:00Z", "10:00", "10:00:00.123", "25:61", "PT5M", "P1D", "PT99999999999999999999H",
                     "P", "PT", "[1,2]", "[", '{"a": 1}', "{", "null", "a@b.co", "@", "http://x", "kestra:///a/b.csv",
                     "file:///etc/passwd", "nsfile:///x.txt", "../../etc/passwd", "yellow", "green", "\x00", "é✓𝕏",
                     "{{ inputs.x }}", "{{ 1/0 }}", "a: [", "- a\n- b", "!!python/object:os.system"]))
values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(10**400), 10**400),
              st.floats(allow_nan=True, allow_infinity=True), texts),
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=5), kids, max_size=3)),
    max_leaves=8)
bounds = st.one_of(st.none(), st.integers(-100, 100), st.floats(allow_nan=True), texts)


@st.composite
def declaration(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(TYPES))
    inp: dict[str, Any] = {"id": draw(st.sampled_from(["x", "y", "nested.v", "a-b"])), "type": kind}
    props = {
        "INT": ["min", "max"], "FLOAT": ["min", "max"], "DURATION": ["min", "max"], "STRING": ["validator"],
        "SELECT": ["values", "allowCustomValue", "expression"], "ENUM": ["values"],
        "MULTISELECT": ["values", "options", "allowCustomValue", "itemType"], "ARRAY": ["itemType"],
        "DATE": ["after", "before"], "DATETIME": ["after", "before"], "TIME": ["after", "before"],
        "FILE": ["allowedFileExtensions", "extension"],
    }.get(kind, [])
    for prop in draw(st.lists(st.sampled_from(props), unique=True)) if props else []:
        if prop in ("min", "max", "after", "before"):
            inp[prop] = draw(bounds)
        elif prop == "validator":
            inp[prop] = draw(st.sampled_from(["^a+$", "(a+)+$", "[", "\\d{2}", ".*", "(?P<x>a)"]))
        elif prop in ("values", "options"):
            inp[prop] = draw(st.lists(st.one_of(texts, st.integers(), st.booleans()), max_size=4))
        elif prop == "itemType":
            inp[prop] = draw(st.sampled_from(TYPES))
        elif prop == "allowedFileExtensions":
            inp[prop] = draw(st.lists(st.sampled_from([".csv", "json", "", "."]), max_size=2))
        elif prop == "extension":
            inp[prop] = draw(st.sampled_from([".csv", "txt", ""]))
        elif prop == "expression":
            inp[prop] = "{{ [1, 2] }}"
        else:
            inp[prop] = draw(st.booleans())
    if draw(st.booleans()):
        inp["required"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        inp["defaults"] = draw(st.one_of(values, st.sampled_from(["{{ now() }}", "{{ nope }}", "{{ 1/0 }}"])))
    return inp


def _flow(inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": "f", "namespace": "ns", "inputs": inputs,
            "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "hi"}]}


def _engine(inputs: list[dict[str, Any]]) -> Engine | None:
    try:
        flow = parse_flow(_flow(inputs), "fuzz.yaml")
    except FlowInvalid as exc:
        assert exc.problems and all(p.path.startswith("inputs") or p.path == "" for p in exc.problems), exc
        return None
    return Engine(flow, Renderer(secrets={}, now=lambda: NOW))


def _check(engine: Engine | None, supplied: dict[str, Any]) -> None:
    if engine is None:
        return
    with no_hang():
        try:
            ex = engine.create_execution("e1", supplied, NOW)
        except InputsInvalid as exc:
            assert str(exc).startswith("Invalid input for `"), str(exc)
            assert exc.input_id in {i.id for i in engine.flow.inputs}
            return
    for inp in engine.flow.inputs:  # a value that passed parses again to itself (typed, stable)
        value = ex.inputs.get(inp.id)
        if value is not None and inp.type not in ("JSON", "YAML", "BOOLEAN", "BOOL"):
            try:
                assert parse_input(inp, value) == value
            except InputsInvalid:
                pass  # bounds are checked on the given value's own form (e.g. a DURATION's text)


@settings(max_examples=scale(700))
@given(st.lists(declaration(), min_size=1, max_size=3), st.dictionaries(st.sampled_from(["x", "y", "nested.v", "a-b",
                                                                                         "zz"]), values, max_size=4))
@example([{"id": "x", "type": "INT", "min": "abc"}], {"x": "5"})  # a bad bound: was a ValueError at run time
@example([{"id": "x", "type": "DATE", "after": "yesterday"}], {"x": "2024-01-01"})  # was a ValueError
@example([{"id": "x", "type": "FLOAT"}], {"x": 10**400})  # was an OverflowError
@example([{"id": "x", "type": "STRING", "defaults": "{{ nope }}"}], {})  # was a RenderError, not InputsInvalid
@example([{"id": "x", "type": "DURATION", "min": "PT1M"}], {"x": "PT99999999999999999999H"})
@example([{"id": "x", "type": "YAML"}], {"x": "&a [*a]"})  # a recursive value
@example([{"id": "x", "type": "YAML"}], {"x": "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
                                             "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
                                             "e: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]"})  # billion laughs
def test_execution_inputs(inputs: list[dict[str, Any]], supplied: dict[str, Any]) -> None:
    """An Execution's `spec.inputs` (any JSON) and the API."""
    count("inputs: JSON values")
    _check(_engine(inputs), supplied)


@settings(max_examples=scale(500))
@given(declaration(), texts)
def test_command_line_inputs(inp: dict[str, Any], text: str) -> None:
    """`kflow run -i id=TEXT`: every value is a string."""
    count("inputs: -i strings")
    _check(_engine([inp]), {inp["id"]: text})
