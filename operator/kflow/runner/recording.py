"""The local runner with its history recorded: the events of a run go to the console (or whoever listens)
and to a `kflow.history.Recorder`, and the execution is recorded before its first task starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kflow.engine.state import Execution, TaskRun
from kflow.history import Recorder
from kflow.runner.local import Events, LocalRunner


class RecordingEvents(Events):
    def __init__(self, inner: Events, recorder: Recorder):
        self.inner = inner
        self.recorder = recorder

    def task_started(self, ex: Execution, tr: TaskRun) -> None:
        self.recorder.changed(ex)  # the attempt number is known before the task's first log line
        self.inner.task_started(ex, tr)

    def task_ended(self, ex: Execution, tr: TaskRun) -> None:
        self.inner.task_ended(ex, tr)

    def log(self, task_id: str, run_id: str, level: str, message: str) -> None:
        self.recorder.log(run_id, task_id, level, message)
        self.inner.log(task_id, run_id, level, message)

    def execution_changed(self, ex: Execution) -> None:
        self.recorder.changed(ex)
        self.inner.execution_changed(ex)


def execute_recorded(runner: LocalRunner, ex: Execution, *, flow_path: str | Path | None = None,
                     flow_source: str | None = None, raw_inputs: dict[str, Any] | None = None,
                     original_id: str | None = None, restart: bool = False,
                     on_recorder: Any = None, extra: dict[str, Any] | None = None) -> Execution:
    """Drive `ex` with `runner`, recording it under the runner's storage root. `restart`: `ex` comes from
    the history (restart, resume): the same record goes on. `on_recorder(recorder)` is called once the
    record exists (the CLI prints the id then, and its signal handler logs through it)."""
    recorder = Recorder(runner.storage_root, ex, flow_path=str(flow_path) if flow_path else None,
                        flow_source=flow_source, raw_inputs=raw_inputs, original_id=original_id,
                        restart=restart, extra=extra)
    inner = runner.events
    runner.events = RecordingEvents(inner, recorder)
    if on_recorder is not None:
        on_recorder(recorder)
    try:
        ex = runner.execute(ex)
    finally:
        runner.events = inner
        recorder.close(ex)
    return ex
