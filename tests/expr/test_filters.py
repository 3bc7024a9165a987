"""Filters and functions with Java/Kestra-compatible results."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest

from kflow.expr import Renderer, RenderError


@pytest.mark.parametrize(
    ("tpl", "expected"),
    [
        ("{{ outputs.q.rows | toJson }}", '[{"a":1},{"a":2}]'),
        ("{{ 'x' | toJson }}", '"x"'),
        ("{{ outputs.q.name | json }}", '"é"'),
        ("{{ '{\"a\": [1, 2]}' | fromJson }}", '{"a":[1,2]}'),
        ("{{ fromJson('{\"a\": 5}').a }}", "5"),
        ("{{ json('[1,2]') | length }}", "2"),
        ("{{ 'Hello' | upper }}|{{ 'Hello' | lower }}", "HELLO|hello"),
        ("{{ 'hello wORLD' | title }}", "Hello World"),
        ("{{ 'hello world' | capitalize }}", "Hello world"),
        ("{{ '  pad  ' | trim }}", "pad"),
        ("{{ 'a-b-c' | replace({'-': '+', 'a': 'A'}) }}", "A+b+c"),
        ("{{ 'a1b22' | replace({'\\\\d+': '#'}, regexp=true) }}", "a#b#"),
        ("{{ 'john smith' | replace({'(\\\\w+) (\\\\w+)': '$2, $1'}, regexp=true) }}", "smith, john"),
        ("{{ 'a,b,,c,,' | split(',') }}", '["a","b","","c"]'),
        ("{{ 'a.b.c' | split('.') }}", '["a","b","c"]'),
        ("{{ 'a,b,c' | split(',', 2) }}", '["a","b,c"]'),
        ("{{ ['a', 'b', 1, true] | join('-') }}", "a-b-1-true"),
        ("{{ inputs.names | length }}|{{ 'abc' | length }}|{{ outputs.q | length }}", "3|3|4"),
        ("{{ inputs.names | first }}|{{ inputs.names | last }}|{{ 'xyz' | first }}", "a|c|x"),
        ("{{ {'b': 1, 'a': 2} | keys }}|{{ {'b': 1, 'a': 2} | values }}", '["b","a"]|[1,2]'),
        ("{{ 'Hello World! Ça va?' | slugify }}", "hello-world-ca-va"),
        ("{{ '42' | number }}", "42"),
        ("{{ '42' | number + 1 }}", "43"),
        ("{{ '4.5' | number }}", "4.5"),
        ("{{ '42' | number('DOUBLE') }}", "42.0"),
        ("{{ '42.9' | number('INT') }}", "42"),
        ("{{ '7' | number('LONG') | className }}", "java.lang.Integer"),
        ("{{ 'x' | className }}", "java.lang.String"),
        ("{{ -5 | abs }}", "5"),
        ("{{ 'abcdefghij' | abbreviate(6) }}", "abc..."),
        ("{{ 'hi' | base64encode }}|{{ 'aGk=' | base64decode }}", "aGk=|hi"),
        ("{{ [3, 1, 2] | sort }}|{{ [3, 1, 2] | rsort }}|{{ [1, 2, 3] | reverse }}", "[1,2,3]|[3,2,1]|[3,2,1]"),
        ("{{ 'abcdef' | slice(1, 3) }}|{{ [1, 2, 3, 4] | slice(2) }}", "bc|[3,4]"),
        ("{{ [1, 2] | merge([3]) }}|{{ {'a': 1} | merge({'b': 2}) }}", '[1,2,3]|{"a":1,"b":2}'),
        ("{{ 'file.tar.gz' | startsWith('file') }}|{{ 'file.tar.gz' | endsWith('.gz') }}", "true|true"),
        ("{{ 'a.b.c' | substringBefore('.') }}|{{ 'a.b.c' | substringAfter('.') }}", "a|b.c"),
        ("{{ 'a.b.c' | substringBeforeLast('.') }}|{{ 'a.b.c' | substringAfterLast('.') }}", "a.b|c"),
        ("{{ 'abc' | substringBefore('z') }}|{{ 'abc' | substringAfter('z') }}|", "abc||"),
        ("{{ 'a b&c=d/é~*' | urlencode }}", "a+b%26c%3Dd%2F%C3%A9%7E*"),
        ("{{ 'a+b%26c' | urldecode }}", "a b&c"),
        ("{{ {'a': {'b': [1, 2]}} | jq('.a.b') }}", "[[1,2]]"),
        ("{{ {'a': {'b': [1, 2]}} | jq('.a.b[]') }}", "[1,2]"),
        ("{{ {'a': {'b': [1, 2]}} | jq('.a.b[0]') | first }}", "1"),
        ("{{ '[{\"id\": 1}, {\"id\": 2}]' | jq('.[].id') }}", "[1,2]"),
        ("{{ {'a': 1} | jq('.a') | first }}", "1"),
        ("{{ [[1, 2], [3], 4] | flatten }}", "[1,2,3,4]"),
        ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
        ("{{ \"it's\" | escapeChar('single') }}", "it\\'s"),
        ("{{ 'say \"hi\"' | escapeChar('double') }}", 'say \\"hi\\"'),
        ("{{ \"it's\" | escapeChar('shell') }}", "it'\\''s"),
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{{ 'a\nb' | nindent(2) }}", "\n  a\n  b"),
        ("{{ {'a': 1, 'b': [1, 2]} | yaml }}", "a: 1\nb:\n- 1\n- 2\n"),
        ("{{ yaml('a: 1\nb: [x]').b[0] }}", "x"),
        ("{{ inputs.optional | default('d') }}|{{ 'v' | default('d') }}", "d|v"),
        ("{{ 1234567.891 | numberFormat('#,##0.00') }}", "1,234,567.89"),
        ("{{ '<b>' | escape }}|{{ '<b>' | raw }}", "&lt;b&gt;|<b>"),
    ],
)
def test_filters(renderer: Renderer, ctx: dict, tpl: str, expected: str) -> None:
    assert renderer.render(tpl, ctx) == expected


def test_hashes(renderer: Renderer, ctx: dict) -> None:
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert renderer.render("{{ 'kflow' | " + algo + " }}", ctx) == hashlib.new(algo, b"kflow").hexdigest()


def test_unknown_filter_and_bad_arguments(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError, match=re.escape("Filter [nope] does not exist.")):
        renderer.render("{{ 'a' | nope }}", ctx)
    with pytest.raises(RenderError, match="expects a map"):
        renderer.render("{{ 'a' | replace('a', 'b') }}", ctx)
    with pytest.raises(RenderError, match="Invalid arguments"):
        renderer.render("{{ 'a' | upper(1, 2, 3) }}", ctx)


# ---- functions ------------------------------------------------------------------------------------------

def test_secret_and_mask(renderer: Renderer, ctx: dict) -> None:
    assert renderer.render("token={{ secret('TOKEN') }}", ctx) == "token=s3cr3t"
    assert renderer.render("{{ secret('token') }}", ctx) == "s3cr3t"
    assert "s3cr3t" in renderer.secret_values  # with every SECRET_* of the env, masked on sight
    assert renderer.mask("curl -H 'Authorization: s3cr3t' s3cr3t") == "curl -H 'Authorization: ******' ******"
    assert renderer.mask("nothing") == "nothing"
    assert renderer.render("{{ secret('MULTI') }}", ctx) == "line1\nline2"
    assert renderer.mask("x line1\nline2 y") == "x ****** y"


def test_missing_secret(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError, match="Cannot find secret for key 'NOPE'"):
        renderer.render("{{ secret('NOPE') }}", ctx)
    # `??` is lazy: the right side is not evaluated when the left side has a value
    assert renderer.render("{{ inputs.taxi ?? secret('NOPE') }}", ctx) == "yellow"


def test_secret_mapping_is_env_like() -> None:
    env = {"SECRET_API_KEY": base64.b64encode(b"k3y").decode()}
    r = Renderer(secrets=env)
    assert r.render("{{ secret('API_KEY') }}", {}) == "k3y"
    assert r.mask("k3y") == "******"


@pytest.mark.parametrize(
    ("tpl", "expected"),
    [
        ("{{ range(1, 3) }}", "[1,2,3]"),
        ("{{ range(0, 10, 5) }}", "[0,5,10]"),
        ("{{ range(3, 1, -1) }}", "[3,2,1]"),
        ("{{ max(1, 7, 3) }}|{{ min(4, 2, 9) }}|{{ max([1, 9]) }}", "7|2|9"),
        ("{{ isIn('b', ['a', 'b']) }}|{{ isIn('z', ['a']) }}", "true|false"),
        ("{{ errorLogs() }}", "[]"),
        ("{{ fileURI('dir/f.txt') }}", "kestra:///company/team/_files/dir/f.txt"),
        ("{{ currentEachOutput(outputs.loop).value }}", "one"),
    ],
)
def test_functions(renderer: Renderer, ctx: dict, tpl: str, expected: str) -> None:
    assert renderer.render(tpl, ctx) == expected


def test_random_functions(renderer: Renderer, ctx: dict) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", renderer.render("{{ uuid() }}", ctx))
    assert renderer.render("{{ uuid() }}", ctx) != renderer.render("{{ uuid() }}", ctx)
    assert 5 <= int(renderer.render("{{ randomInt(5, 8) }}", ctx)) < 8
    assert len(renderer.render("{{ id() }}", ctx)) == 22


def test_print_context(renderer: Renderer, ctx: dict) -> None:
    data = json.loads(renderer.render("{{ printContext() }}", {**ctx, "__read": lambda p: p}))
    assert data["flow"]["id"] == "hello"
    assert "__read" not in data and "now" not in data


def test_error_logs_and_tasks_with_state(renderer: Renderer) -> None:
    c = {
        "__errorLogs": [{"taskId": "t1", "message": "boom"}],
        "tasks": {"t1": {"state": "FAILED"}, "t2": {"state": "SUCCESS"},
                  "each": {"a": {"state": "FAILED"}, "b": {"state": "SUCCESS"}}},
    }
    assert renderer.render("{{ errorLogs()[0].message }}", c) == "boom"
    assert renderer.render_value("{{ tasksWithState('failed') }}", c) == [
        {"taskId": "t1", "state": "FAILED"},
        {"taskId": "each", "state": "FAILED", "value": "a"},
    ]


def test_current_each_output_nested(renderer: Renderer) -> None:
    c = {
        "outputs": {"t": {"outer": {"inner": {"v": 42}}}},
        "parents": [{"taskrun": {"value": "outer"}}],
        "taskrun": {"value": "inner"},
    }
    assert renderer.render("{{ currentEachOutput(outputs.t).v }}", c) == "42"


def test_read_uses_context_callable(renderer: Renderer, ctx: dict) -> None:
    c = {**ctx, "__read": lambda path: f"content of {path}"}
    assert renderer.render("{{ read('a.txt') }}", c) == "content of a.txt"
    with pytest.raises(RenderError, match=re.escape("Function [read] is not available")):
        renderer.render("{{ read('a.txt') }}", ctx)


def test_unknown_function(renderer: Renderer, ctx: dict) -> None:
    with pytest.raises(RenderError, match=re.escape("Function or Macro [nope] does not exist.")):
        renderer.render("{{ nope() }}", ctx)
