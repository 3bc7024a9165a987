"""Run flows of our own on the local runner and keep every execution a retry created."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import FlowRun, Recorder

from kflow.engine.state import Execution
from kflow.model.loader import load_flow_text
from kflow.runner.local import LocalRunner


class Chain(FlowRun):
    """The last execution, plus the ones that ended RETRIED before it."""

    retried: list[Execution]

    @property
    def states(self) -> list[str]:
        return [e.state.value for e in [*self.retried, self.ex]]


@pytest.fixture
def chain(tmp_path: Path):
    def run(text: str, inputs: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> Chain:
        loaded = load_flow_text(textwrap.dedent(text), "test.yaml")
        events = Recorder()
        runner = LocalRunner(loaded.flow, storage_root=tmp_path / "storage", env={**os.environ, **(env or {})},
                             events=events, flow_dir=tmp_path)
        ex = runner.run(inputs or {})
        out = Chain(ex, events, tmp_path / "storage")
        out.retried = list(getattr(runner, "retried", []))
        return out

    return run
