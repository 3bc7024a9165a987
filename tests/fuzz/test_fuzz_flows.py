"""The flow loader (`kflow run FILE`, `kflow validate FILE`) on bad input: random YAML text, random nested
data, and mutations of the real flows. Only FlowInvalid may escape, and each of its problems names a place in
the document (a path that exists in it, or a missing property of a map that does)."""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from fuzzkit import count, no_hang, scale
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kflow.errors import FlowInvalid
from kflow.model.defaults import apply_plugin_defaults, normalize_plugin_defaults
from kflow.model.loader import flow_body, load_flow_text, validate_file
from kflow.model.triggers import TRIGGER_ALIASES
from kflow.model.yamlio import load_yaml_documents
from kflow.tasks import registry

ROOT = Path(__file__).resolve().parents[2]
SEED_FILES = sorted([*ROOT.glob("flows/*.yaml"), *ROOT.glob("tests/flows/invalid/*.yaml")])


def _seeds() -> list[Any]:
    out = []
    for path in SEED_FILES:
        try:
            docs = load_yaml_documents(path.read_text(encoding="utf-8"), str(path))
        except FlowInvalid:
            continue
        out += [d for d in docs if isinstance(d, dict)]
    return out


SEEDS = _seeds()
for _seed in SEEDS:  # warm up: the first parse of a task type imports its module (the GCP clients: seconds)
    try:
        load_flow_text(yaml.safe_dump(_seed), "warm-up.yaml")
    except FlowInvalid:
        pass
TMP = Path(tempfile.mkdtemp(prefix="kflow-fuzz-flows-"))

# ---- where a problem points --------------------------------------------------------------------------------


def _resolves(doc: Any, path: str) -> bool:
    """Does `path` (`spec.tasks[2].retry.interval`) lead into `doc`? Keys may contain dots (the longest key
    that matches wins); the last property of a map may be missing (a required property)."""
    node, rest = doc, path
    while rest:
        if rest.startswith("."):
            rest = rest[1:]
        m = re.match(r"\[(-?\d+)\]", rest)
        if m and isinstance(node, dict) and int(m.group(1)) in node:  # an int key (pydantic: `Keys should be..`)
            node, rest = node[int(m.group(1))], rest[m.end():]
            continue
        if m:
            if not isinstance(node, list) or int(m.group(1)) >= len(node):
                return False
            node, rest = node[int(m.group(1))], rest[m.end():]
            continue
        if not isinstance(node, dict):
            return False
        keys = [str(k) for k in node if rest == str(k) or rest.startswith((f"{k}.", f"{k}["))]
        if not keys:
            return "." not in rest and "[" not in rest  # a missing property of this map
        key = max(keys, key=len)
        node = next(v for k, v in node.items() if str(k) == key)
        rest = rest[len(key):]
    return True


def _with_defaults(doc: Any) -> Any:
    """The flow as checked: plugin defaults merged into its tasks (a bad default value is reported at the
    task property it lands on)."""
    body = doc.get("spec") if isinstance(doc.get("spec"), dict) and "kind" in doc else doc
    try:
        defaults = normalize_plugin_defaults(body.get("pluginDefaults", body.get("taskDefaults")))
        merged = apply_plugin_defaults(body, [d for d in defaults if isinstance(d, dict)],
                                       {**registry.ALIASES, **TRIGGER_ALIASES})
    except (TypeError, ValueError, AttributeError):
        return doc
    return {**doc, "spec": merged} if body is not doc else merged


def check_problems(exc: FlowInvalid, doc: Any) -> None:
    assert exc.problems, "FlowInvalid without a problem"
    for p in exc.problems:
        assert p.message.strip(), f"empty message at {p.path!r}"
        if isinstance(doc, dict) and p.path:
            assert _resolves(doc, p.path) or _resolves(_with_defaults(doc), p.path), \
                f"problem path {p.path!r} is not in the flow: {p}"
    assert all(line.startswith("fuzz.yaml: ") for line in exc.lines())


def load(text: str, doc: Any = None) -> None:
    with no_hang():
        try:
            load_flow_text(text, "fuzz.yaml")
        except FlowInvalid as exc:
            check_problems(exc, doc)


# ---- strategies --------------------------------------------------------------------------------------------

KEYS = ["id", "namespace", "tasks", "type", "inputs", "outputs", "triggers", "retry", "interval", "maxAttempts",
        "errors", "finally", "afterExecution", "labels", "variables", "concurrency", "limit", "behavior",
        "pluginDefaults", "values", "forced", "timeout", "cron", "then", "else", "cases", "defaults", "message",
        "format", "duration", "condition", "value", "values", "items", "itemType", "dependsOn", "task",
        "disabled", "allowFailure", "runIf", "commands", "script", "sla", "description", "level", "workerGroup",
        "spec", "kind", "apiVersion", "metadata", "name", "maxInterval", "minInterval", "delayFactor", "from"]
TYPES = ["io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.debug.Return", "io.kestra.plugin.core.flow.If",
         "io.kestra.plugin.core.flow.ForEach", "io.kestra.plugin.core.flow.Switch", "io.kestra.plugin.core.flow.Dag",
         "io.kestra.plugin.core.flow.Parallel", "io.kestra.plugin.core.flow.Sleep",
         "io.kestra.plugin.scripts.shell.Commands", "io.kestra.plugin.core.trigger.Schedule",
         "io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.kv.Set", "io.kestra.core.tasks.log.Log",
         "io.kestra.plugin.jdbc.postgresql.Query", "no.such.Task", "", "Log", "STRING", "INT", "ARRAY", "FILE"]
BAD_DURATIONS = ["P", "PT", "5M", "PT-", "P1W", "PT1.5.5S", "PT99999999999999999999H", "P999999999D",
                 "PT1e400S", "-PT-0S", "PT" + "9" * 500 + "S", "pt5m", "{{ x }}", "P1Y", "", " ", "PT0S"]
BAD_CRONS = ["", "*", "* * *", "61 * * * *", "* * * * * * *", "@never", "0 0 31 2 *", "*/0 * * * *",
             "1-0 * * * *", "0 0 ? * MON#9", "L W * * *", "99999999999999999999 * * * *", "0 0 * * 8",
             "@hourly extra", "*/-1 * * * *", "0-59/99999999 * * * *"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(KEYS + TYPES),
    st.sampled_from(BAD_DURATIONS + BAD_CRONS))
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3))
data = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                    st.dictionaries(keys, kids, max_size=5)), max_leaves=25)


def _flowish(extra: dict) -> dict:
    return {"id": "f", "namespace": "ns", "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log",
                                                     "message": "hi"}], **extra}


flowish = st.one_of(data, st.dictionaries(st.sampled_from(KEYS), data, max_size=6).map(_flowish),
                    st.builds(lambda tasks: _flowish({"tasks": tasks}),
                              st.lists(st.dictionaries(st.sampled_from(KEYS), data, max_size=5).map(
                                  lambda d: {"id": "x", "type": TYPES[0], **d}), max_size=4)))

FRAGMENTS = ["id: a\n", "namespace: b\n", "tasks:\n", "  - id: t\n", "    type: ", "io.kestra.plugin.core.log.Log\n",
             "    message: hi\n", ": ", "- ", "\n", "  ", "\t", "{", "}", "[", "]", "'", '"', "&a ", "*a", "<<: *a\n",
             "!!python/object/apply:os.system ['id']\n", "!!binary x\n", "---\n", "...\n", "%YAML 1.1\n", "? ",
             "|\n", ">-\n", "#", "{{ x }}", "\x00", "\ufeff", "\u2028", "é", "kind: Flow\n",
             "apiVersion: kflow.dev/v1alpha1\n", "spec:\n", "retry: {type: constant, interval: P, maxAttempts: 1}\n",
             "triggers: [{id: s, type: io.kestra.plugin.core.trigger.Schedule, cron: '61 * * * *'}]\n",
             "inputs: [{id: i, type: INT, defaults: x}]\n", "id: a\n", "2024-01-01", "~", "true", "0x1F", ".inf"]
yaml_text = st.one_of(st.text(max_size=200), st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join))

# ---- mutations of real flows -------------------------------------------------------------------------------


def _places(node: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _places(v, (*path, i))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        places = _places(doc)
        path = draw(st.sampled_from(places))
        if not path:
            continue
        parent, last = _get(doc, path[:-1]), path[-1]
        value = parent[last]
        op = draw(st.sampled_from(["drop", "wrong", "duration", "cron", "type", "dup", "nest", "data", "text"]))
        if op == "drop":
            del parent[last]
        elif op == "wrong":
            parent[last] = draw(st.sampled_from([None, 0, -1, 10**40, 1.5, True, "", "x", [], {}, [None], {"a": 1}]))
        elif op == "duration":
            parent[last] = draw(st.sampled_from(BAD_DURATIONS))
        elif op == "cron":
            parent[last] = draw(st.sampled_from(BAD_CRONS))
        elif op == "type":
            parent[last] = draw(st.sampled_from(TYPES))
        elif op == "dup" and isinstance(parent, list):
            parent.append(copy.deepcopy(value))  # a duplicated task / input / trigger id
        elif op == "nest":
            parent[last] = [[{"id": "n", "type": TYPES[0], "tasks": [value]}]]
        elif op == "data":
            parent[last] = draw(data)
        elif isinstance(value, str):
            parent[last] = draw(st.sampled_from(["{{", "}}", "{{ outputs.nope.x }}", "{% if %}", value * 3,
                                                 value[: len(value) // 2], "\x00", "{{ inputs.unknown }}"]))
    return doc


# ---- the properties ----------------------------------------------------------------------------------------


@settings(max_examples=scale(500))
@given(yaml_text)
@example("{{}}")  # a map as a key: was a TypeError (unhashable dict) in the strict loader
@example("id: a\nnamespace: b\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: {{ inputs.x }}\n")
@example("id: a\nnamespace: b\ntasks: [{id: t, type: io.kestra.plugin.core.log.Log, message: x, "
         "retry: {type: constant, interval: PT99999999999999999999H, maxAttempts: 1}}]\n")
def test_random_yaml_text(text: str) -> None:
    count("flows: random YAML text")
    load(text)


@settings(max_examples=scale(600))
@given(flowish)
@example(_flowish({"pluginDefaults": {"id": 1}}))  # map-form defaults: the problem names `pluginDefaults.id`
@example(_flowish({"inputs": 5}))  # was a TypeError while collecting input ids
@example(_flowish({"inputs": [{"id": [1], "type": "STRING"}]}))
@example(_flowish({"tasks": [{"id": "x", "type": "io.kestra.plugin.core.log.Log", "runIf": None}]}))  # runIf.str
def test_random_nested_data(doc: Any) -> None:
    count("flows: random nested data")
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        reread = load_yaml_documents(text, "fuzz.yaml")
    except FlowInvalid:  # e.g. duplicate keys after str(): a YAML problem, reported as one
        load(text)
        return
    load(text, reread[0] if reread else None)


@settings(max_examples=scale(700))
@given(mutated())
def test_mutated_real_flows(doc: Any) -> None:
    count("flows: mutated real flows")
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    try:
        body, prefix, _ = flow_body(doc, "fuzz.yaml")
    except FlowInvalid as exc:
        check_problems(exc, doc)
        return
    load(text, doc if prefix else body)


@settings(max_examples=scale(200))
@given(st.one_of(mutated(), flowish))
def test_validate_file(doc: Any) -> None:
    """`kflow validate`: Flows and CronTrigger manifests, every problem of the file."""
    count("flows: kflow validate (files)")
    path = TMP / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    with no_hang():
        try:
            validate_file(path)
        except FlowInvalid as exc:
            assert exc.problems and all(p.message for p in exc.problems)
