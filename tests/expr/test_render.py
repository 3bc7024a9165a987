"""Behaviour a Kestra user notices: operators, precedence, strictness, typing, render-once."""

from __future__ import annotations

import pytest

from kflow.expr import Renderer, RenderError, truthy
from kflow.expr.renderer import cache_info


def r(renderer: Renderer, tpl: str, ctx: dict) -> str:
    return renderer.render(tpl, ctx)


@pytest.mark.parametrize(
    ("tpl", "expected"),
    [
        ("{{ inputs.taxi }}", "yellow"),
        ("plain text", "plain text"),
        ("{{ trigger.date ?? execution.startDate | date('yyyy-MM-dd') }}", "2021-01-01"),
        ("{{ nope.date ?? execution.startDate | date('yyyy-MM-dd') }}", "2024-01-01"),
        ("{{ 'a' ~ inputs.taxi | upper }}", "AYELLOW"),
        ("{{ 1 + -2 | abs }}", "3"),
        ("{{ 1 ~ 2 }}", "12"),
        ("{{ 'v' ~ 1.5 ~ true ~ null }}", "v1.5true"),
        ("{{ inputs.year ~ '-' ~ inputs.month }}", "2021-01"),
        ("{{ 2 + 3 * 4 }}", "14"),
        ("{{ (2 + 3) * 4 }}", "20"),
        ("{{ 10 / 4 }}", "2"),
        ("{{ 10 / 4.0 }}", "2.5"),
        ("{{ -7 / 2 }}", "-3"),
        ("{{ -7 % 3 }}", "-1"),
        ("{{ 'a' + 1 }}", "a1"),
        ("{{ 1.0 }}", "1.0"),
        ("{{ 3 == 3.0 }}", "true"),
        ("{{ 1 == true }}", "false"),
        ("{{ 'a' equals 'a' }}", "true"),
        ("{{ 2 > 1 and 1 > 2 }}", "false"),
        ("{{ 2 > 1 or 1 > 2 }}", "true"),
        ("{{ not false == true }}", "true"),
        ("{{ not (1 == 2) }}", "true"),
        ("{{ inputs.num > 2 ? 'big' : 'small' }}", "big"),
        ("{{ inputs.num > 5 ? 'big' : inputs.num > 2 ? 'mid' : 'small' }}", "mid"),
        ("{{ inputs.optional ?? 'default' }}", "default"),
        ("{{ inputs.optional ??? 'default' }}", ""),
        ("{{ inputs.missing ??? 'default' }}", "default"),
        ("{{ a.b.c.d ?? 'deep' }}", "deep"),
        ("{{ inputs.taxi.x.y ?? 'typed' }}", "typed"),
        ("{{ inputs.missing ?? inputs.other ?? 'third' }}", "third"),
        ("{{ (inputs.missing | upper) ?? 'filtered' }}", "filtered"),
        ("{{ inputs.flag }}", "true"),
        ("{{ false }}", "false"),
        ("{{ inputs.optional }}", ""),
        ("{{ null }}", ""),
        ("{{ outputs.q.rows }}", '[{"a":1},{"a":2}]'),
        ("{{ outputs.q.rows[1].a }}", "2"),
        ("{{ outputs.q.ratio }}", "1.0"),
        ("{{ outputs.q }}", '{"rows":[{"a":1},{"a":2}],"size":2,"ratio":1.0,"name":"é"}'),
        ("{{ outputs.extract.outputFiles[inputs.taxi ~ '_x.csv'] }}", "kestra:///f/yellow_x.csv"),
        ("{{ outputs.loop[taskrun.value].value }}", "one"),
        ("{{ labels['team'] }}", "data"),
        ("{{ inputs.names contains 'b' }}", "true"),
        ("{{ inputs.names contains ['a', 'c'] }}", "true"),
        ("{{ inputs.names contains ['a', 'z'] }}", "false"),
        ("{{ 'hello' contains 'ell' }}", "true"),
        ("{{ outputs.q contains 'rows' }}", "true"),
        ("{{ 1..3 }}", "[1,2,3]"),
        ("{{ [1, 'a', {'k': 'v'}] }}", '[1,"a",{"k":"v"}]'),
        ("{{ {'k': 'v'}.k }}", "v"),
        ("{{ inputs.missing is defined }}", "false"),
        ("{{ inputs.taxi is defined }}", "true"),
        ("{{ inputs.optional is null }}", "true"),
        ("{{ inputs.taxi is not null }}", "true"),
        ("{{ '  ' is empty }}", "true"),
        ("{{ [] is empty }}", "true"),
        ("{{ 4 is even }}", "true"),
        ("{{ 4 is odd }}", "false"),
        ("{{ inputs.names is iterable }}", "true"),
        ("{{ outputs.q is map }}", "true"),
        ("{{ '{\"a\":1}' is json }}", "true"),
        ("{{ 'nope' is json }}", "false"),
        ('{{ "it\'s" }}', "it's"),
        ("{{ 'a\\'b' }}", "a'b"),
        ("{{- ' x ' -}}", " x "),
        ("a  {{- 'b' -}}  c", "abc"),
        ("{{ inputs.taxi }}\n", "yellow\n"),
    ],
)
def test_expressions(renderer: Renderer, ctx: dict, tpl: str, expected: str) -> None:
    assert r(renderer, tpl, ctx) == expected


def test_strict_undefined_message(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError) as e:
        renderer.render("{{ inputs.nope }}", ctx)
    assert str(e.value) == "Unable to find `inputs.nope` used in the expression `{{ inputs.nope }}` at line 1"


def test_strict_undefined_root_and_line(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError) as e:
        renderer.render("first line\nsecond {{ inputs.taxi }} {{ x.y }}", ctx)
    assert str(e.value) == "Unable to find `x.y` used in the expression `{{ x.y }}` at line 2"
    assert e.value.line == 2


@pytest.mark.parametrize(
    "tpl",
    [
        "{{ inputs.nope | upper }}",
        "{% if inputs.nope %}x{% endif %}",
        "{% for x in inputs.nope %}{% endfor %}",
        "{{ inputs.nope == 1 }}",
        "{{ inputs.nope + 1 }}",
        "{{ inputs.nope ~ 'a' }}",
        "{{ inputs.nope is null }}",
        "{{ 'a' ~ render(inputs.nope) }}",
    ],
)
def test_any_use_of_undefined_fails(renderer: Renderer, ctx: dict, tpl: str) -> None:
    with pytest.raises(RenderError, match=r"Unable to find `inputs\.nope`"):
        renderer.render(tpl, ctx)


def test_default_filter_accepts_undefined(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render("{{ inputs.nope | default('d') }}", ctx) == "d"
    assert renderer.render("{{ '' | default('d') }}", ctx) == "d"


def test_render_once_semantics(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render("{{ vars.file }}", ctx) == ctx["vars"]["file"]
    assert renderer.render("{{ render(vars.file) }}", ctx) == "yellow_tripdata_2021-01.csv"
    assert renderer.render("{{ render(vars.nested) }}", ctx) == "yellow_tripdata_2021-01.csv"
    assert renderer.render("{{ render(vars.chain) }}", ctx) == "hello yellow!"
    assert renderer.render("{{ renderOnce(vars.chain) }}", ctx) == "hello {{ inputs.taxi }}!"
    assert renderer.render("{{ render(vars.chain, recursive=false) }}", ctx) == "hello {{ inputs.taxi }}!"
    assert renderer.render("{{ render(42) }}", ctx) == "42"


def test_render_sees_loop_and_set_variables(renderer: Renderer, ctx: dict) -> None:
    c = {**ctx, "vars": {"t": "<{{ item }}>"}}
    assert renderer.render("{% for item in [1, 2] %}{{ render(vars.t) }}{% endfor %}", c) == "<1><2>"


def test_too_many_rendering_attempts(renderer: Renderer) -> None:
    c = {"vars": {"a": "{{ vars.b }}", "b": "{{ vars.a }}"}}
    with pytest.raises(RenderError, match="Too many rendering attempts"):
        renderer.render("{{ render(vars.a) }}", c)


def test_render_value_is_typed(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render_value("{{ outputs.q.rows }}", ctx) == [{"a": 1}, {"a": 2}]
    assert renderer.render_value(" {{ inputs.flag }} ", ctx) is True
    assert renderer.render_value("{{ inputs.optional }}", ctx) is None
    assert renderer.render_value("{{ outputs.q.size + 1 }}", ctx) == 3
    assert renderer.render_value("{{ [1, 2] }}", ctx) == [1, 2]
    assert renderer.render_value("n={{ outputs.q.size }}", ctx) == "n=2"
    assert renderer.render_value({"{{ inputs.taxi }}": ["{{ inputs.year }}", 5, "x"]}, ctx) == {
        "yellow": [2021, 5, "x"]
    }
    with pytest.raises(RenderError, match=r"Unable to find `inputs\.nope`"):
        renderer.render_value("{{ inputs.nope }}", ctx)


def test_render_deep_renders_strings(renderer: Renderer, ctx: dict) -> None:
    value = {"{{ inputs.taxi }}": ["{{ inputs.year }}", 5, {"k": "{{ outputs.q.rows }}"}]}
    assert renderer.render_deep(value, ctx) == {"yellow": ["2021", 5, {"k": '[{"a":1},{"a":2}]'}]}


def test_non_strings_returned_unchanged(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render(5, ctx) == 5
    assert renderer.render(None, ctx) is None
    obj = {"a": "{{ x }}"}
    assert renderer.render(obj, ctx) is obj


@pytest.mark.parametrize(
    ("value", "expected"),
    [("false", False), ("FALSE", False), ("False", False), ("0", False), ("-0", False), ("", False),
     ("true", True), ("1", True), ("no", True), ("0.0", True), (" ", True), ("[]", True),
     (None, False), (False, False), (True, True), (0, False), (1, True), (0.0, False), (2.5, True),
     ([], True), ({}, True)],
)
def test_truthiness(value: object, expected: bool) -> None:
    assert truthy(value) is expected


def test_if_elseif_else(renderer: Renderer, ctx: dict) -> None:
    tpl = "{% if inputs.num > 5 %}big{% elseif inputs.num > 2 %}mid{% else %}small{% endif %}"
    assert renderer.render(tpl, ctx) == "mid"
    assert renderer.render("{% if inputs.optional %}y{% else %}n{% endif %}", ctx) == "n"
    assert renderer.render("{% if 'false' %}y{% else %}n{% endif %}", ctx) == "n"


def test_for_loop_is_pebble_like(renderer: Renderer, ctx: dict) -> None:
    tpl = ("{% for n in inputs.names %}{{ loop.index }}:{{ n }}:{{ loop.first }}:{{ loop.last }}:"
           "{{ loop.length }}:{{ loop.revindex }} {% endfor %}")
    assert renderer.render(tpl, ctx) == (
        "0:a:true:false:3:2 1:b:false:false:3:1 2:c:false:true:3:0 "
    )
    assert renderer.render("{% for x in [] %}x{% else %}empty{% endfor %}", ctx) == "empty"
    assert renderer.render("{% for e in {'a': 1} %}{{ e.key }}={{ e.value }}{% endfor %}", ctx) == "a=1"
    assert renderer.render("{% for i in 0..2 %}{{ i }}{% endfor %}", ctx) == "012"


def test_set_macro_filter_tags(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render("{% set x = inputs.taxi ~ '!' %}{{ x }}", ctx) == "yellow!"
    assert renderer.render("{% macro hi(n, p='Hi') %}{{ p }} {{ n }}{% endmacro %}{{ hi('bob') }}", ctx) == (
        "Hi bob"
    )
    assert renderer.render("{% filter upper | trim %} abc {% endfilter %}", ctx) == "ABC"
    assert renderer.render("a{# a comment #}b", ctx) == "ab"


def test_raw_and_verbatim(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render("{% raw %}{{ inputs.taxi }}{% endraw %}", ctx) == "{{ inputs.taxi }}"
    assert renderer.render("{% verbatim %}{% if x %}\n{{ y }}{% endverbatim %}|{{ inputs.taxi }}", ctx) == (
        "{% if x %}\n{{ y }}|yellow"
    )
    with pytest.raises(RenderError, match="line 2"):
        renderer.render("{% raw %}\n{% endraw %}{{ nope }}", ctx)


def test_syntax_errors_are_render_errors(renderer: Renderer, ctx: dict) -> None:
    for tpl in ["{{ inputs.taxi ", "{{ }}", "{{ 1 + }}", "{% if true %}x", "{% endif %}", "{{ 'abc }}",
                "{{ foo(1) }}", "{{ x | nofilter }}", "{{ x is notatest }}", "{% weird %}", "{{ a.b( }}"]:
        with pytest.raises(RenderError):
            renderer.render(tpl, ctx)


def test_runtime_errors_name_the_expression(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError) as e:
        renderer.render("x\n{{ 1 / 0 }}", ctx)
    assert "/ by zero" in str(e.value) and "`{{ 1 / 0 }}`" in str(e.value) and "line 2" in str(e.value)


def test_cache_hits(renderer: Renderer, ctx: dict) -> None:
    tpl = "{{ inputs.taxi }} cache-test-unique"
    renderer.render(tpl, ctx)
    before = cache_info().hits
    assert renderer.render(tpl, ctx) == "yellow cache-test-unique"
    assert cache_info().hits == before + 1


def test_fast_path_no_brace(renderer: Renderer) -> None:
    misses = cache_info().misses
    assert renderer.render("no braces here", {}) == "no braces here"
    assert cache_info().misses == misses


def test_multiline_expression_keeps_line_numbers(renderer: Renderer, ctx: dict) -> None:
    tpl = "{{ inputs.taxi\n ~ 'x' }}\n{{ nope }}"
    with pytest.raises(RenderError, match="line 3"):
        renderer.render(tpl, ctx)


@pytest.mark.parametrize(
    ("tpl", "expected"),
    [
        ("{{ inputs.missing ?? 'x' ~ 'y' }}", "xy"),
        ("{{ 'p' ~ inputs.missing ?? 'x' }}", "px"),
        ("{{ (inputs.num + 2 * 3) ~ '!' }}", "9!"),
        ("{{ 1 + 2 ~ 3 }}", "123"),  # `~` (110) binds tighter than `+` (40): 1 + '23'
        ("{{ inputs.names | length == 3 and not inputs.flag }}", "false"),
        ("{{ inputs.taxi == 'yellow' ? 1 : 2 }}", "1"),
    ],
)
def test_precedence(renderer: Renderer, ctx: dict, tpl: str, expected: str) -> None:
    assert renderer.render(tpl, ctx) == expected


def test_typed_render_function(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render_value("{{ render(vars.file) }}", ctx) == "yellow_tripdata_2021-01.csv"
    assert renderer.render_value("{{ inputs.missing ?? inputs.names }}", ctx) == ["a", "b", "c"]


def test_performance_smoke(renderer: Renderer, ctx: dict) -> None:
    import time

    tpl = "{{ inputs.taxi }}_{{ trigger.date ?? execution.startDate | date('yyyy-MM') }}_{{ flow.id ~ '!' }}"
    renderer.render(tpl, ctx)
    start = time.perf_counter()
    for _ in range(1000):
        renderer.render(tpl, ctx)
    assert (time.perf_counter() - start) / 1000 < 0.002
