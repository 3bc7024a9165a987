"""Template-injection payloads: each must fail with a RenderError, quickly, without leaking anything."""

from __future__ import annotations

import time

import pytest

from kflow.expr import Renderer, RenderError

PAYLOADS = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self }}",
    "{{ request.application.__globals__ }}",
    "{{ config.items() }}",
    "{{ config }}",
    "{{ ''|attr('__class__') }}",
    "{{ x|map(attribute='__class__') }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ 'a'*99999999999 }}",
    "{{ 'a' * 100 }}",
    "{{ range(10**9)|list }}",
    "{{ range(0, 1000000000) }}",
    "{{ 0..1000000000 }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ '%s' % x }}",
    "{{ '%(a)s' % {'a': 1} }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '/etc/passwd' %}",
    "{% from 'x' import y %}",
    "{{ dict.__base__ }}",
    "{{ (1).__class__ }}",
    "{{ now.__globals__ }}",
    "{{ now }}",
    "{{ now.__code__ }}",
    "{{ render.__globals__['STATE'] }}",
    "{{ secret.__globals__ }}",
    "{{ inputs.__class__ }}",
    "{{ inputs['__class__'] }}",
    "{{ inputs.items() }}",
    "{{ inputs.keys }}",
    "{{ loop.__class__ }}",
    "{{ __builtins__ }}",
    "{{ func_globals }}",
    "{{ _kf_get }}",
    "{{ inputs|_kf_get(('__class__',), 'x') }}",
    "{{ __import__('os').system('id') }}",
    "{{ getattr(inputs, '__class__') }}",
    "{{ printContext.__globals__ }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
    "{% for a in range(1, 100000) %}{% for b in range(1, 100000) %}x{% endfor %}{% endfor %}",
    "{{ inputs.s ~ inputs.s }}{% for i in range(1, 100000) %}{{ inputs.big ~ inputs.big }}{% endfor %}",
    "{{ [1] * 1000000000 }}",
    "{{ (inputs.n)(1) }}",
    "{{ inputs.n() }}",
    "{{ 9999999999 * 9999999999 * 9999999999 ~ 'a' * 2 }}",
    "{% for x in inputs %}{{ x.__class__ }}{% endfor %}",
    "{{ {'a': 1}.__class__.__subclasses__() }}",
    "{{ read('/etc/passwd') }}",
    "{{ fileURI.__closure__ }}",
    "{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
    "((((((((((((((((((1" + ")" * 115 + " }}",
]

LEAKS = ("/root", "uid=", "<module", "<class", "<function", "built-in", "object at 0x", "os.", "subprocess")


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_is_rejected(payload: str) -> None:
    renderer = Renderer()
    ctx = {"inputs": {"s": "x", "n": 1, "big": "y" * 1000}, "x": "v"}
    start = time.monotonic()
    with pytest.raises(RenderError) as info:
        renderer.render(payload, ctx)
    assert time.monotonic() - start < 5
    message = str(info.value)
    for leak in LEAKS:
        assert leak not in message.replace(payload, ""), message


def test_payloads_cover_at_least_25() -> None:
    assert len(PAYLOADS) >= 25


def test_typed_rendering_does_not_return_functions() -> None:
    with pytest.raises(RenderError):
        Renderer().render_value("{{ now }}", {})


def test_loop_scoped_doubling_stays_small() -> None:
    # jinja-style scoping: a `set` inside a loop does not accumulate across iterations
    tpl = "{% set s = 'a' %}{% for i in range(1, 60) %}{% set s = s ~ s %}{% endfor %}{{ s | length }}"
    assert Renderer().render(tpl, {}) == "1"


def test_output_size_is_capped() -> None:
    tpl = "{% for i in range(1, 100000) %}{{ inputs.big }}{% endfor %}"
    with pytest.raises(RenderError, match="too large"):
        Renderer().render(tpl, {"inputs": {"big": "y" * 1000}})
