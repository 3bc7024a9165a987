"""io.kestra.plugin.core.log.Fetch: the execution's log lines (from `level` up) as an Ion file.

Properties: `executionId` (default: this execution), `tasksId` (only these tasks), `level` (minimum,
default INFO). Outputs: `uri` (one Ion row per line: date, level, message, taskId, taskRunId, attempt)
and `size`. `kflow run` reads the local execution history (`kflow.history`), which it records as it goes;
on the cluster the operator mounts the execution's logs ConfigMap (k8s/logstore.py) into the task's pod,
read-only, with every line kept until then.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]
CLUSTER_LOGS_ENV = "KFLOW_LOGS_DIR"  # on the cluster: the mounted logs ConfigMap of the execution


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
        mounted = ctx.env.get(CLUSTER_LOGS_ENV)
        if mounted:
            lines = _cluster_lines(Path(mounted))
        else:
            try:
                lines = [{"date": e.date.isoformat(), "level": e.level, "message": e.message, "taskId": e.task_id,
                          "taskRunId": e.task_run_id, "attempt": e.attempt}
                         for e in LocalHistory(_storage_root(ctx.storage)).logs(execution_id)]
            except (HistoryError, IndexError, OSError) as exc:
                raise TaskFailed(f"no log history for execution {execution_id} here ({exc})") from None
        rows = [r for r in lines
                if LEVELS.index(_level(r["level"])) >= minimum and (not wanted or r["taskId"] in wanted)]
        path = ctx.workdir / "logs.ion"
        with open(path, "w", encoding="utf-8") as f:
            size = ion.write_rows(f, rows)
        return {"uri": ctx.storage.put(ctx.task_id, ctx.task_run_id, path, move=True), "size": size}


def _cluster_lines(folder: Path) -> list[dict[str, Any]]:
    from kflow.k8s.logstore import read

    data = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir() if p.name.isdigit()} \
        if folder.is_dir() else {}
    return [{"date": x.get("t"), "level": x.get("level") or "INFO", "message": x.get("message"),
             "taskId": x.get("taskId"), "taskRunId": x.get("taskRunId"), "attempt": x.get("attempt")}
            for x in read(data)]


def _level(level: str) -> str:
    level = level.upper()
    return "WARN" if level == "WARNING" else level if level in LEVELS else "INFO"
