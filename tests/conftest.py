"""Shared test helpers: run a flow given as YAML text on the local runner."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from kflow.engine.state import Execution, State, TaskRun
from kflow.model.loader import load_flow_text
from kflow.runner.local import Events, LocalRunner


@dataclass
class Recorder(Events):
    logs: list[tuple[str, str, str]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def task_started(self, ex: Execution, tr: TaskRun) -> None:
        self.started.append(tr.id)

    def log(self, task_id: str, run_id: str, level: str, message: str) -> None:
        self.logs.append((task_id, level, message))


@dataclass
class FlowRun:
    ex: Execution
    events: Recorder
    storage: Path

    @property
    def state(self) -> State:
        return self.ex.state

    def runs(self, task_id: str) -> list[TaskRun]:
        return [tr for tr in self.ex.taskRuns if tr.taskId == task_id]

    def run(self, task_id: str) -> TaskRun:
        runs = self.runs(task_id)
        assert len(runs) == 1, f"{task_id}: {len(runs)} task runs"
        return runs[0]

    def outputs(self, task_id: str) -> dict[str, Any]:
        return self.run(task_id).outputs

    def messages(self, task_id: str | None = None) -> list[str]:
        """Log messages, without the DEBUG line the runner logs for each command it starts."""
        return [m for t, lvl, m in self.events.logs if (task_id is None or t == task_id)
                and not (lvl == "DEBUG" and m.startswith("Starting command with pid"))]


@pytest.fixture
def run_flow(tmp_path: Path):
    def run(text: str, inputs: dict[str, Any] | None = None, env: dict[str, str] | None = None,
            plugin_defaults: list[dict[str, Any]] | None = None, **kw: Any) -> FlowRun:
        loaded = load_flow_text(textwrap.dedent(text), "test.yaml", plugin_defaults)
        events = Recorder()
        import os

        runner = LocalRunner(loaded.flow, storage_root=tmp_path / "storage",
                             env={**os.environ, **(env or {})}, events=events, flow_dir=tmp_path)
        ex = runner.run(inputs or {}, **kw)
        return FlowRun(ex, events, tmp_path / "storage")

    return run
