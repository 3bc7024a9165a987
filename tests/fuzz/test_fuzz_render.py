"""The expression renderer on random templates: well-formed Pebble built from a grammar (filters, functions,
operators, tests, tags, loops, huge numbers, unicode, deep nesting) and fragment soup (unbalanced brackets and
quotes). Only RenderError may escape; nothing internal leaks into the output; every rendering ends quickly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fuzzkit import count, no_hang, scale
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kflow.expr import Renderer, RenderError
from kflow.expr.filters import FILTERS
from kflow.expr.functions import FUNCTIONS
from kflow.expr.values import TESTS

# hypothesis notes that the grammar strategy's repr is large; that is all it is
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LEAKS = ("<class", "<function", "<module", "object at 0x", "built-in", "<bound method", "Undefined")


def _context() -> dict[str, Any]:
    return {
        "flow": {"id": "hello", "namespace": "company.team", "revision": 3},
        "execution": {"id": "exec1", "startDate": "2024-01-01T10:00:00.123456Z"},
        "inputs": {"taxi": "yellow", "year": 2021, "month": "01", "optional": None, "flag": True,
                   "names": ["a", "b", "c"], "num": 3, "big": 10**30, "f": 1.5e308, "uni": "é✓\u2028𝕏",
                   "nested": {"a": {"b": [1, {"c": "deep"}]}}, "json": '{"k": [1, 2]}'},
        "vars": {"file": "{{ inputs.taxi }}_{{ trigger.date | date('yyyy-MM') }}.csv",
                 "loop": "{{ render(vars.loop) }}", "greeting": "hello {{ inputs.taxi }}"},
        "trigger": {"date": "2021-01-01T09:00:00Z"},
        "outputs": {"q": {"rows": [{"a": 1}, {"a": 2}], "size": 2}, "loop": {"v1": {"value": "one"}}},
        "taskrun": {"value": "v1", "id": "tr1"},
        "parents": [],
        "labels": {"team": "data"},
        "envs": {"home": "/x"},
    }


CTX = _context()


def renderer() -> Renderer:
    return Renderer(secrets={"SECRET_TOKEN": "czNjcjN0"}, now=lambda: NOW)


def render_ok(template: str) -> None:
    r = renderer()
    with no_hang():
        for fn in (r.render, r.render_value):
            try:
                out = fn(template, CTX)
            except RenderError as exc:
                assert str(exc), "RenderError without a message"
                continue
            text = out if isinstance(out, str) else repr(out)
            assert not callable(out), f"a function escaped: {out!r}"
            for leak in LEAKS:
                assert leak not in text.replace(template, ""), f"{leak!r} in {text[:300]!r}"


# ---- a Pebble grammar --------------------------------------------------------------------------------------

PATHS = ["inputs.taxi", "inputs.year", "inputs.names", "inputs.names[0]", "inputs.names[-1]", "inputs.names[99]",
         "inputs.optional", "inputs.big", "inputs.f", "inputs.uni", "inputs.nested.a.b[1].c", "inputs['taxi']",
         "outputs.q.rows", "outputs.q.rows[0].a", "outputs.loop[taskrun.value].value", "vars.file", "vars.loop",
         "trigger.date", "nope", "nope.x", "inputs.nope", "loop.index", "taskrun", "flow", "labels", "envs.home",
         "execution.startDate", "inputs.json", "x", "item", "null", "true", "false"]
STRINGS = ["''", "'a'", '"b"', "'é✓𝕏'", "'\\n'", "'\\''", "'{{ inputs.taxi }}'", "'%s %d'", "'{0.__class__}'",
           "'yyyy-MM-dd'", "'PT1H'", "'.a'", "'2024-01-01T00:00:00Z'", "'[1,2]'", "'{\"a\": 1}'", "'\\u0000'",
           "'" + "x" * 300 + "'"]
NUMBERS = ["0", "1", "-1", "2", "3.5", "1e3", "99999999999999999999999999", "1" + "0" * 400, "0.0000001",
           "9223372036854775807", "-9223372036854775808", "1.7976931348623157e308", "007"]
BINOPS = ["+", "-", "*", "/", "%", "~", "==", "!=", "<", ">", "<=", ">=", "and", "or", "??", "in", "contains", ".."]
atom = st.one_of(st.sampled_from(PATHS), st.sampled_from(STRINGS), st.sampled_from(NUMBERS),
                 st.text(alphabet="abcxyz_'\"é0123456789 ", max_size=8).map(lambda s: repr(s)),
                 st.integers().map(str))


def _args(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(kids, max_size=3).map(", ".join)


def _compound(kids: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(kids, st.sampled_from(BINOPS), kids).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        st.tuples(st.sampled_from(["not ", "-", "+"]), kids).map("".join),
        st.tuples(kids, st.sampled_from(sorted(FILTERS)), _args(kids)).map(lambda t: f"{t[0]} | {t[1]}({t[2]})"),
        st.tuples(kids, st.sampled_from(sorted(FILTERS))).map(lambda t: f"{t[0]} | {t[1]}"),
        st.tuples(st.sampled_from(sorted(FUNCTIONS)), _args(kids)).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(kids, st.sampled_from(["", "not "]), st.sampled_from(sorted(TESTS))).map(
            lambda t: f"{t[0]} is {t[1]}{t[2]}"),
        st.tuples(kids, kids, kids).map(lambda t: f"{t[0]} ? {t[1]} : {t[2]}"),
        st.tuples(kids, kids).map(lambda t: f"{t[0]}[{t[1]}]"),
        kids.map(lambda k: f"({k})"),
        st.lists(kids, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.lists(st.tuples(st.sampled_from(STRINGS[:4]), kids), max_size=3).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"),
    )


expr = st.recursive(atom, _compound, max_leaves=12)


def _template(inner: st.SearchStrategy[str] | None) -> st.SearchStrategy[str]:
    """Text, `{{ }}`, and (when `inner` is given) tags whose bodies are drawn from `inner`."""
    text = st.text(alphabet="ab {}%#é\n", max_size=10)
    out = [text, expr.map(lambda e: "{{ " + e + " }}")]
    if inner is not None:
        out += [
            st.tuples(expr, inner, inner).map(lambda t: f"{{% if {t[0]} %}}{t[1]}{{% else %}}{t[2]}{{% endif %}}"),
            st.tuples(expr, inner).map(lambda t: f"{{% for item in {t[0]} %}}{{{{ loop.index }}}}{t[1]}{{% endfor %}}"),
            expr.map(lambda e: f"{{% set x = {e} %}}{{{{ x }}}}"),
            expr.map(lambda e: f"{{% raw %}}{{{{ {e} }}}}{{% endraw %}}"),
            st.tuples(inner, expr).map(lambda t: f"{{% macro m(a) %}}{{{{ a }}}}{t[0]}{{% endmacro %}}{{{{ m({t[1]}) }}}}"),
            expr.map(lambda e: f"{{# {e} #}}"),
        ]
    return st.lists(st.one_of(out), min_size=1, max_size=4).map("".join)


template = _template(_template(_template(None)))


FRAGMENTS = ["{{", "}}", "{%", "%}", "{#", "#}", "(", ")", "[", "]", "{", "}", "'", '"', "|", "??", "?", ":", ".",
             "..", ",", "~", "+", "-", "*", "/", "%", "==", "!", "=", " ", "\n", "\\", "é", "𝕏", "\x00", "\u2028",
             "inputs", "taxi", "names", "outputs", "vars", "render", "renderOnce", "now", "date", "upper", "join",
             "length", "for", "in", "endfor", "if", "endif", "else", "set", "macro", "endmacro", "raw", "endraw",
             "is", "defined", "not", "and", "or", "null", "true", "__class__", "_kf_get", "loop", "item", "x",
             "1", "0", "99999999999999999999", "1e999", "-", "'a'", "range", "jq", "'.[]'", "secret", "'TOKEN'",
             "json", "fromJson", "printContext", "(" * 50, ")" * 50, "[" * 50, "{{" * 20]

# ---- the properties ----------------------------------------------------------------------------------------


@settings(max_examples=scale(1200))
@given(template)
@example("{{ inputs.big * inputs.big * inputs.big }}")
@example("{{ 1" + "0" * 400 + " | numberFormat('#.##') }}")
@example("{{ render(vars.loop) }}")
@example("{{ [inputs.taxi[inputs.taxi]] }}")  # typed rendering returned [Undefined]: an internal object
@example('{{ {"a": nope} }}')
@example("{{ 'x' | indent(1000000000) }}")  # built a 1 GB pad
@example("{{ [yaml('&a [*a]')] }}")  # a recursive value: the typed check looped for ever
@example("{{ yaml('a: &a [1,1,1,1,1,1,1,1,1]\\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]') }}")
@example("{{ 'x' | jq('$ENV') }}")  # libjq: the process environment
def test_grammar_templates(source: str) -> None:
    count("render: grammar templates")
    render_ok(source)


@settings(max_examples=scale(800))
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_fragment_soup(source: str) -> None:
    count("render: fragment soup")
    render_ok(source)


@settings(max_examples=scale(200))
@given(st.text(max_size=80))
def test_random_text(source: str) -> None:
    count("render: random text")
    render_ok(source)


@settings(max_examples=scale(150))
@given(st.integers(1, 400).map(lambda n: "{{ " + "(" * n + "1" + ")" * n + " }}")
       | st.integers(1, 400).map(lambda n: "{{ " + "[" * n + "]" * n + " }}")
       | st.integers(1, 200).map(lambda n: "{{ inputs" + ".a" * n + " }}")
       | st.integers(1, 200).map(lambda n: "{{ 1" + " + 1" * n * 5 + " }}")
       | st.integers(1, 60).map(lambda n: "{% if true %}" * n + "x" + "{% endif %}" * n)
       | st.integers(1, 60).map(lambda n: "{{ 'a'" + " | upper" * n * 10 + " }}"))
def test_deep_nesting(source: str) -> None:
    count("render: deep nesting")
    render_ok(source)
