"""kflow/redact.py: the one redaction of secret values (plain, URL-encoded, base64)."""

from __future__ import annotations

import base64
from urllib.parse import quote, quote_plus

from kflow import redact
from kflow.expr import Renderer


def test_every_spelling_is_masked_in_text_and_deep_values():
    value = "s3cr3t+/&= q"
    spelled = [value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode()]
    for s in spelled:
        assert redact.text(f"<{s}>", {value}) in ("<******>", "<******=>")
    assert redact.deep({"k": [f"a{value}b", 3, {value: None}]}, [value]) == {"k": ["a******b", 3, {"******": None}]}
    assert redact.deep({"k": "v"}, []) == {"k": "v"}


def test_a_renderer_masks_every_secret_of_its_environment_at_once():
    env = {"SECRET_LONG": base64.b64encode(b"long-value").decode(), "SECRET_SHORT": base64.b64encode(b"ab").decode(),
           "SECRET_BAD": "%%%", "ENV_X": base64.b64encode(b"not-a-secret").decode()}
    r = Renderer(secrets=env)
    assert r.secret_values == {"long-value"}  # short ones only once secret() returned them
    assert r.mask_deep({"out": "x long-value not-a-secret"}) == {"out": "x ****** not-a-secret"}
    r.render("{{ secret('SHORT') }}", {})
    assert r.mask("ab") == "******"
