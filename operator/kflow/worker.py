"""Run one runnable task attempt in this process: `python -m kflow.worker < spec.json`.

The local runner uses it for tasks that must be killable as a process (DuckDB, Postgres, Download);
a task pod runs the same command. Logs and the result travel on stdout with Kestra's `::{json}::`
line protocol; the result is the last such line, under the `kflow.result` key.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT_KEY = "kflow.result"


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write("::" + json.dumps(payload, separators=(",", ":"), default=str) + "::\n")
    sys.stdout.flush()


def build_spec(task: Any, context: dict[str, Any], *, execution_id: str, task_run_id: str, attempt: int,
               workdir: Path, storage: Any) -> dict[str, Any]:
    return {
        "task": task.model_dump(by_alias=True, exclude_none=True, mode="json"),
        "context": context, "executionId": execution_id, "taskRunId": task_run_id, "attempt": attempt,
        "workdir": str(workdir),
        "storage": {"root": str(storage.root), "prefix": storage.prefix},
    }


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    from kflow.errors import TaskFailed
    from kflow.expr import Renderer
    from kflow.runner.context import TaskRunContext
    from kflow.runner.storage import ExecutionStorage
    from kflow.tasks.registry import task_class

    raw = spec["task"]
    cls = task_class(raw["type"])
    if cls is None:
        return {"state": "FAILED", "error": f"Invalid type: {raw['type']}"}
    task = cls.model_validate(raw)
    storage = ExecutionStorage.__new__(ExecutionStorage)
    storage.root, storage.prefix = Path(spec["storage"]["root"]), spec["storage"]["prefix"]
    renderer = Renderer(secrets=os.environ)

    def log(level: str, message: str) -> None:
        emit({"logs": [{"level": level, "message": message}]})

    ctx = TaskRunContext(renderer=renderer, context=spec["context"], execution_id=spec["executionId"],
                         task_id=task.id, task_run_id=spec["taskRunId"], attempt=spec["attempt"],
                         workdir=Path(spec["workdir"]), storage=storage, env=dict(os.environ), log=log)
    try:
        return {"state": "SUCCESS", "outputs": task.run(ctx)}
    except TaskFailed as exc:
        return {"state": "FAILED", "error": renderer.mask(str(exc)), "exitCode": exc.exit_code,
                "outputs": exc.outputs}
    except Exception as exc:  # a bug in a task must fail the task run, not lose it
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"state": "FAILED", "error": renderer.mask(f"internal error: {detail}")}


def main() -> int:
    spec = json.load(sys.stdin)
    emit({RESULT_KEY: run_spec(spec)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
