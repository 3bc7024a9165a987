"""The working directory of a task run inside a WorkingDirectory, on `kflow run` (see
kflow.tasks.flow.working_directory): the shared folder, staged by the first child that runs there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kflow.engine.machine import StartTaskRun
from kflow.engine.state import Execution
from kflow.runner.context import TaskRunContext
from kflow.runner.storage import ExecutionStorage
from kflow.tasks.flow import working_directory as wdir


def shared_workdir(runner: Any, ex: Execution, start: StartTaskRun, storage: ExecutionStorage) -> Path | None:
    """The shared folder `start` runs in (staged), or None for a task outside any WorkingDirectory.
    Raises TaskFailed when staging the WorkingDirectory's files fails."""
    found = wdir.shared_run(runner.engine.tasks, {tr.id: tr for tr in ex.taskRuns}, start.run_id)
    if found is None:
        return None
    task, run = found
    path = storage.root / wdir.shared_dir_name(run)
    path.mkdir(parents=True, exist_ok=True)
    spec = wdir.staging_spec(task, runner.flow)
    if spec is not None:
        ctx = TaskRunContext(renderer=runner.renderer, context=start.context, execution_id=ex.id,
                             task_id=task.id, task_run_id=run.id, attempt=start.attempt, workdir=path,
                             storage=storage, env=runner.env,
                             log=lambda level, msg: runner.events.log(task.id, run.id, level, msg))
        wdir.stage(ctx, spec)
    return path
