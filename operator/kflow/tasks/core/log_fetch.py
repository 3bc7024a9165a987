"""io.kestra.plugin.core.log.Fetch: the execution's log lines (from `level` up) as an Ion file.

Properties: `executionId` (default: this execution), `tasksId` (only these tasks), `level` (minimum,
default INFO). Outputs: `uri` (one Ion row per line: date, level, message, taskId, taskRunId, attempt)
and `size`. It reads the local execution history (`kflow.history`), which `kflow run` records as it goes;
a task pod has no such history, so on the cluster the task fails saying so (read `kubectl logs`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]


def _storage_root(storage: Any) -> Path:
    """The storage root of the execution whose storage this is (its prefix names the folders below)."""
    depth = len([p for p in storage.prefix.split("/") if p])
    return Path(storage.root).resolve().parents[depth - 1]


@register("io.kestra.core.tasks.log.Fetch")
class Fetch(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.log.Fetch"
    isolate: ClassVar[bool] = False
    executionId: str | None = None
    namespace: str | None = None
    flowId: str | None = None
    tasksId: list[str] | None = None
    level: Literal["TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR"] = "INFO"

    def run(self, ctx: Any) -> dict[str, Any]:
        from kflow.history import HistoryError, LocalHistory
        from kflow.tasks import ion

        execution_id = str(ctx.render(self.executionId)) if self.executionId else ctx.execution_id
        minimum = LEVELS.index("WARN" if self.level == "WARNING" else self.level)
        wanted = {str(ctx.render(t)) for t in self.tasksId or []}
        try:
            entries = list(LocalHistory(_storage_root(ctx.storage)).logs(execution_id))
        except (HistoryError, IndexError, OSError) as exc:
            raise TaskFailed(f"no log history for execution {execution_id} here ({exc}); on the cluster, "
                             "read the task pods' logs with kubectl logs") from None
        rows = [{"date": e.date.isoformat(), "level": e.level, "message": e.message, "taskId": e.task_id,
                 "taskRunId": e.task_run_id, "attempt": e.attempt}
                for e in entries
                if LEVELS.index(_level(e.level)) >= minimum and (not wanted or e.task_id in wanted)]
        path = ctx.workdir / "logs.ion"
        with open(path, "w", encoding="utf-8") as f:
            size = ion.write_rows(f, rows)
        return {"uri": ctx.storage.put(ctx.task_id, ctx.task_run_id, path, move=True), "size": size}


def _level(level: str) -> str:
    level = level.upper()
    return "WARN" if level == "WARNING" else level if level in LEVELS else "INFO"
