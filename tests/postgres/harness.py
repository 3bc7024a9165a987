"""A small RunContext for calling PostgreSQL task classes directly (no engine, no runner).

Rendering uses Jinja2 over `variables` (enough for `{{ name }}` / `{{ a.b }}` in tests); values
without `{{` are returned as they are. Storage is a real ExecutionStorage over a temporary folder.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from kflow.runner.storage import ExecutionStorage

_LONE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.S)
_env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)


class HarnessContext:
    def __init__(self, root: Path, task_id: str = "task", variables: Mapping[str, Any] | None = None,
                 namespace: str = "kflow.test", flow_id: str = "pg", execution_id: str | None = None):
        self.execution_id = execution_id or uuid.uuid4().hex[:22]
        self.task_id = task_id
        self.task_run_id = uuid.uuid4().hex[:22]
        self.attempt = 1
        self.storage = ExecutionStorage(Path(root) / "storage", namespace, flow_id, self.execution_id)
        self.workdir = self.storage.work_dir(self.task_run_id, self.attempt)
        self.env = dict(os.environ)
        self.variables = dict(variables or {})
        self.logs: list[tuple[str, str]] = []

    # -- RunContext -------------------------------------------------------------------------------
    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        if isinstance(value, str):
            if "{{" not in value and "{%" not in value:
                return value
            return _env.from_string(value).render({**self.variables, **(extra or {})})
        if isinstance(value, list):
            return [self.render(v, extra) for v in value]
        if isinstance(value, dict):
            return {k: self.render(v, extra) for k, v in value.items()}
        return value

    def render_value(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        if isinstance(value, str):
            m = _LONE.match(value)
            if m and "{{" not in m.group(1):
                return _env.compile_expression(m.group(1).strip())(**{**self.variables, **(extra or {})})
        return self.render(value, extra)

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def run_process(self, argv: list[str], *, env: Mapping[str, str], cwd: Path,
                    on_line: Callable[[str, bool], None]) -> int:
        raise NotImplementedError("the PostgreSQL tasks start no process")

    # -- helpers ----------------------------------------------------------------------------------
    def put_file(self, path: Path, task_id: str = "upstream") -> str:
        """Store a file as an upstream task's output; return its kestra:// URI."""
        return self.storage.put(task_id, uuid.uuid4().hex[:22], Path(path))

    def log_text(self) -> str:
        return "\n".join(m for _, m in self.logs)
