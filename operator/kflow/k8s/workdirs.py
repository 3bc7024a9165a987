"""Where a task pod works: its own `work/<taskRunId>-<attempt>/`, or, inside a WorkingDirectory, the
directory its children share on the execution's volume (kflow.tasks.flow.working_directory)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kflow.engine.state import Execution
from kflow.tasks.flow import working_directory as wdir


def _shared(engine: Any, ex: Execution, run_id: str) -> tuple[Any, Any] | None:
    return wdir.shared_run(engine.tasks, {tr.id: tr for tr in ex.taskRuns}, run_id)


def relative(engine: Any, ex: Execution, run_id: str, attempt: int) -> str:
    """The working directory below the storage root, with a trailing slash."""
    found = _shared(engine, ex, run_id)
    return f"{wdir.shared_dir_name(found[1])}/" if found else f"work/{run_id}-{attempt}/"


def place(engine: Any, ex: Execution, run_id: str, attempt: int, mount: str) \
        -> tuple[Path, dict[str, Any] | None, Any]:
    """(working directory in the pod, what its worker stages first, the WorkingDirectory task or None)."""
    found = _shared(engine, ex, run_id)
    if found is None:
        return Path(mount) / "work" / f"{run_id}-{attempt}", None, None
    task, run = found
    return Path(mount) / wdir.shared_dir_name(run), wdir.staging_spec(task, engine.flow), task
