"""Every payload of injection_payloads.txt (server-side template injection: Jinja2, Pebble/Java, EL, Freemarker,
Velocity, Kestra's own functions) rendered as a task property is: a RenderError, or output with no sign of an
escape (no object reprs, no /etc/passwd, no file outside kflow's storages, no environment value that is not a
SECRET_*, no file created by a command), within bounded time and memory."""

from __future__ import annotations

import os
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kflow.engine.context import base_context
from kflow.engine.machine import Engine
from kflow.expr import Renderer, RenderError
from kflow.kv.local import FileKVStore
from kflow.model.flow import parse_flow
from kflow.runner.file_reader import LocalFiles

CORPUS = Path(__file__).with_name("injection_payloads.txt")
TOKEN = uuid.uuid4().hex
CANARY_FILE = f"/tmp/kflow-injection-canary-{TOKEN}"
CANARY_ENV = f"KFLOW_INJECTION_CANARY_{TOKEN[:8].upper()}"
CANARY_VALUE = f"canary-value-{TOKEN}"
OUTSIDE_VALUE = f"outside-file-{TOKEN}"
MAX_SECONDS = 5.0  # CPU seconds (a jq program runs in a child, stopped after 3 s)
MAX_BYTES = 300_000_000  # peak memory one rendering may allocate (the sandbox caps strings at 10 M chars)
ESCAPES = ("root:x:0:", "<class", "<module", "<function", "<built-in", "<bound", "<method", "object at 0x",
           "subprocess", "posix", "__globals__", "__builtins__", "uid=", "gid=", "os.environ", "environ(",
           "<frame", "<code", "Undefined", "jinja2.", "kflow.")


def payloads() -> list[str]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("# ") and line.strip() != "#"]


def test_corpus_size() -> None:
    items = payloads()
    assert len(items) >= 120, len(items)
    assert len(set(items)) == len(items), "duplicate payloads"


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A renderer and a context as the local runner gives a task's properties (runner/local.py)."""
    home = tmp_path_factory.mktemp("kflow-home")
    outside = tmp_path_factory.mktemp("outside") / "secret.txt"
    outside.write_text(OUTSIDE_VALUE)
    (home / "namespaces" / "company.team" / "files").mkdir(parents=True)
    (home / "namespaces" / "company.team" / "files" / "ok.txt").write_text("namespace file")
    env = {**os.environ, CANARY_ENV: CANARY_VALUE, "KFLOW_HOME": str(home), "SECRET_TOKEN": "czNjcjN0",
           "ENV_TEAM": "data"}
    flow = parse_flow({"id": "hello", "namespace": "company.team",
                       "inputs": [{"id": "taxi", "type": "STRING", "defaults": "yellow"},
                                  {"id": "payload", "type": "STRING", "defaults": "x"},
                                  {"id": "names", "type": "ARRAY", "itemType": "STRING", "defaults": ["a", "b"]}],
                       "variables": {"loop": "{{ render(vars.loop) }}"},
                       "tasks": [{"id": "t", "type": "io.kestra.plugin.core.log.Log", "message": "x"}]}, "flow")
    os.environ[CANARY_ENV] = CANARY_VALUE  # the process environment too: what libjq's `env` would read
    renderer = Renderer(secrets=env, now=lambda: datetime(2024, 1, 2, tzinfo=UTC))
    renderer.kv = FileKVStore(home / "kv")
    renderer.files = LocalFiles(home / "storage", env)
    envs = {k[4:].lower(): v for k, v in env.items() if k.startswith("ENV_")}
    engine = Engine(flow, renderer, envs)
    ex = engine.create_execution("exec1", {"payload": "{{ ''.__class__.__mro__ }}{{ secret('" + CANARY_ENV + "') }}"},
                                 datetime(2024, 1, 2, tzinfo=UTC))
    ctx = {**base_context(flow, ex, envs), "outputs": {"extract": {"uri": "kestra:///company/team/hello/executions/"
                                                                           "exec1/tasks/extract/x.csv"}},
           "tasks": {}, "task": {"id": "t", "type": "io.kestra.plugin.core.log.Log"},
           "taskrun": {"id": "tr1", "value": None, "attemptsCount": 0}}
    yield renderer, ctx, str(outside)
    os.environ.pop(CANARY_ENV, None)


def _concrete(payload: str, outside: str) -> str:
    return payload.replace("CANARY_FILE", CANARY_FILE).replace("CANARY_ENV", CANARY_ENV) \
        .replace("OUTSIDE_FILE", outside)


def _check_text(text: str, payload: str) -> None:
    """No sign of an escape; a sign the payload itself contains may be echoed (`Unable to find
    lipsum.__globals__`), the others must not appear."""
    for sign in (*ESCAPES, CANARY_VALUE, OUTSIDE_VALUE):
        if sign not in payload:
            assert sign not in text, f"{sign!r} in {text[:400]!r}"


@pytest.mark.parametrize("payload", payloads())
def test_payload_is_contained(payload: str, setting: Any) -> None:
    renderer, ctx, outside = setting
    source = _concrete(payload, outside)
    for fn in (renderer.render, renderer.render_value):
        tracemalloc.start()
        start = time.process_time()  # CPU time: this shared machine's load does not count
        try:
            out = fn(source, ctx)
        except RenderError as exc:
            _check_text(str(exc), source)
        else:
            assert not callable(out), f"a callable escaped: {out!r}"
            _check_text(out if isinstance(out, str) else repr(out), source)
        finally:
            elapsed = time.process_time() - start
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert elapsed < MAX_SECONDS, f"{fn.__name__} took {elapsed:.1f} s"
        assert peak < MAX_BYTES, f"{fn.__name__} allocated {peak / 1e6:.0f} MB"
    assert not Path(CANARY_FILE).exists(), "a payload ran a command"
