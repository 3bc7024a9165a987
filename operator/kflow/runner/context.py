"""The RunContext a runnable task sees, used by the local runner and by the pod worker alike."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kflow.runner.process import ProcessSlot
from kflow.runner.storage import ExecutionStorage


class TaskRunContext:
    def __init__(self, *, renderer: Any, context: dict[str, Any], execution_id: str, task_id: str,
                 task_run_id: str, attempt: int, workdir: Path, storage: ExecutionStorage,
                 env: Mapping[str, str], log: Callable[[str, str], None],
                 slot: ProcessSlot | None = None, while_running: Callable[[], None] | None = None):
        self.renderer = renderer
        self.execution_id = execution_id
        self.task_id = task_id
        self.task_run_id = task_run_id
        self.attempt = attempt
        self.workdir = workdir
        self.storage = storage
        self.env = env
        self.slot = slot or ProcessSlot()
        self._log = log
        self._while_running = while_running
        # Kestra exposes the task's working directory to its expressions.
        self.context = {**context, "workingDir": str(workdir), "outputDir": str(workdir)}

    def _ctx(self, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        return {**self.context, **extra} if extra else self.context

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        if isinstance(value, str) and "{" not in value:
            return value
        return self.renderer.render_deep(value, self._ctx(extra))

    def render_value(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        if isinstance(value, str) and "{" not in value:
            return value
        return self.renderer.render_value(value, self._ctx(extra))

    def log(self, level: str, message: str) -> None:
        self._log(level, self.renderer.mask(message))

    def mask(self, text: str) -> str:
        return self.renderer.mask(text)

    def run_process(self, argv: list[str], *, env: Mapping[str, str], cwd: Path | None,
                    on_line: Callable[[str, bool], None]) -> int:
        def started() -> None:
            # Kestra's process runner logs this (DEBUG) for each command: the first line of a script's logs.
            self.log("DEBUG", f"Starting command with pid {self.slot.pid} [{' '.join(argv)}]")
            if self._while_running is not None:
                self._while_running()

        return self.slot.run(argv, env=env, cwd=cwd, on_line=on_line, while_running=started)
