"""What every task type declares: its properties (a pydantic model) and how it runs.

Three kinds:
- `inline`: evaluated by the engine itself, no process (Log, Return, OutputValues, Labels, Fail).
- `flowable`: the engine resolves its children (If, Switch, Parallel, Sequential, ForEach, Sleep, Pause).
- `runnable`: handed to a runner (local process or a pod); implements `run(ctx)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

from pydantic import AliasChoices, Field, field_validator

from kflow.model.common import Duration, Retry, Strict
from kflow.runner.storage import ExecutionStorage


class Task(Strict):
    # Subclasses set these two ClassVars and register with `kflow.tasks.registry.register`.
    kind: ClassVar[str] = "runnable"
    TYPE: ClassVar[str] = ""

    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$", max_length=100)
    type: str
    description: str | None = None
    # `when` is the pre-0.20 spelling of runIf, still accepted by Kestra.
    runIf: str | bool = Field(default="true", validation_alias=AliasChoices("runIf", "when"))
    disabled: bool = False
    allowFailure: bool = False
    allowWarning: bool = False
    timeout: Duration | None = None
    retry: Retry | None = None
    workerGroup: dict[str, Any] | None = None
    logLevel: str | None = None
    logToFile: bool = False
    taskCache: dict[str, Any] | None = None  # accepted; a no-op (parse_flow warns)

    @field_validator("workerGroup")
    @classmethod
    def _worker_group(cls, value: Any) -> Any:
        if value is not None:  # as Kestra OSS
            raise ValueError("Worker Group is an Enterprise Edition functionality")
        return value

    def child_lists(self) -> dict[str, list[Task]]:
        """Named lists of nested tasks (flowables override); used for id checks and defaults."""
        return {}


class Secretless(Protocol):
    def __call__(self, text: str) -> str: ...


class RunContext(Protocol):
    """What a runnable task may use while it runs. Implemented by the local runner and the pod worker."""

    execution_id: str
    task_id: str
    task_run_id: str
    attempt: int
    workdir: Path
    storage: ExecutionStorage
    env: Mapping[str, str]

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render every string inside `value` (dicts and lists walked) with the task run's context."""

    def render_value(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        """Render typed: a lone `{{ expr }}` yields its object (list, map, number, bool)."""

    def log(self, level: str, message: str) -> None:
        """Record a task log line (secrets are masked by the context)."""

    def run_process(self, argv: list[str], *, env: Mapping[str, str], cwd: Path | None,
                    on_line: Callable[[str, bool], None]) -> int:
        """Run a child process in its own process group; feed each output line (text, is_stderr);
        return its exit code. Timeouts and kills end the whole process tree."""


class RunnableTask(Task):
    kind: ClassVar[str] = "runnable"
    # True: the local runner runs it in a separate worker process (Python-heavy tasks, so a timeout
    # can kill them). False: run in the runner's thread; the task only spawns its own processes.
    isolate: ClassVar[bool] = True

    def run(self, ctx: RunContext) -> dict[str, Any]:
        """Do the work; return the task's outputs or raise TaskFailed."""
        raise NotImplementedError
