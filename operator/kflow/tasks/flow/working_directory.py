"""io.kestra.plugin.core.flow.WorkingDirectory: child tasks share one working directory.

Each child stays a task run of its own (its outputs, state, retries and logs as anywhere else); what
changes is where it runs: `work/<WorkingDirectory task run id>/` of the execution's storage instead of a
fresh directory. Locally that is a folder; on the cluster the same path on the execution's volume, which
every task pod of the execution mounts (pods run one after the other, so one ReadWriteOnce volume does).
We chose a shared directory over one pod running all children: children may use different images (a
shell task in `ubuntu`, a python task in `python:slim`), and each child keeps its pod, logs and retries.

- `inputFiles` / `namespaceFiles` of the WorkingDirectory are staged by the first child that runs
  (`stage()`, called by the local runner and by the pod worker; a marker makes it once per directory).
- `outputFiles`: once the children are done, one more attempt of the WorkingDirectory task run itself
  (`Collect`, a built-in runnable: a thread locally, a pod on the cluster) stores the matching files:
  `outputs.<id>.outputFiles[<path>]`.
- `cache` (`patterns`, `ttl`): locally, files matching the patterns are saved after a successful run under
  `$KFLOW_HOME/cache/<namespace>/<flowId>/<taskId>.tar` and restored before the first child while younger
  than `ttl`. On the cluster the cache is not kept (documented limitation: nothing outlives a volume).
Known difference: with `outputFiles` or `cache`, children ending WARNING leave the WorkingDirectory
SUCCESS (the Collect attempt decides its end state).
"""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path
from typing import Any, ClassVar

from kflow.engine.state import Attempt, State
from kflow.model.common import Duration, Strict
from kflow.model.durations import parse_duration
from kflow.tasks.base import RunnableTask, Task
from kflow.tasks.flow.base import GroupTask
from kflow.tasks.nsfiles import NamespaceFiles
from kflow.tasks.registry import register

STAGED_MARKER = ".inputs/.workdir-staged"  # .inputs/ is never an output file
SPEC_KEY = "workingDirectory"  # worker spec key: what the first child stages


class Cache(Strict):
    patterns: list[str]
    ttl: Duration | None = None


@register("io.kestra.core.tasks.flows.WorkingDirectory", "io.kestra.core.tasks.flows.Worker")
class WorkingDirectory(GroupTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.WorkingDirectory"
    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | None = None
    namespaceFiles: NamespaceFiles | None = None
    cache: Cache | None = None

    def resolve(self, walk: Any, tr: Any) -> State:
        if tr.attempts:  # the Collect attempt was started: the engine's apply() ends this task run
            return State.RUNNING
        status = walk.block(self.tasks, self.errors, self.finally_, tr)
        if status in (State.SUCCESS, State.WARNING) and (self.outputFiles or self.cache):
            from kflow.engine.machine import StartTaskRun

            tr.attempts.append(Attempt(state=State.RUNNING, startDate=walk.now))
            collect = Collect(id=self.id, type=Collect.TYPE, outputFiles=self.outputFiles,
                              cache=self.cache, childState=status.value)
            walk.actions.append(StartTaskRun(tr.id, collect, 1, walk.context(tr), None))
            return State.RUNNING
        return status


@register()
class Collect(RunnableTask):
    """The last step of a WorkingDirectory: store its outputFiles (and save its cache)."""

    TYPE: ClassVar[str] = "io.kestra.plugin.core.flow.WorkingDirectory#collect"
    isolate: ClassVar[bool] = False
    outputFiles: list[str] | None = None
    cache: Cache | None = None
    childState: str = "SUCCESS"

    def run(self, ctx: Any) -> dict[str, Any]:
        from kflow.tasks.files import collect_output_files

        if self.cache is not None:
            save_cache(ctx, self.cache)
        return {"outputFiles": collect_output_files(ctx, self.outputFiles)} if self.outputFiles else {}


def runnable_view(task: Task, tr: Any) -> Task:
    """For adapters observing running attempts: the Collect attempt of a WorkingDirectory."""
    if isinstance(task, WorkingDirectory) and tr.attempts:
        return Collect(id=task.id, type=Collect.TYPE, outputFiles=task.outputFiles, cache=task.cache)
    return task


def shared_run(tasks: dict[str, Task], runs_by_id: dict[str, Any], run_id: str) -> tuple[Any, Any] | None:
    """(WorkingDirectory task, its task run) that `run_id` works in, if any: its own (Collect) or the
    nearest WorkingDirectory among its parents."""
    tr = runs_by_id.get(run_id)
    while tr is not None:
        task = tasks.get(tr.taskId)
        if isinstance(task, WorkingDirectory):
            return task, tr
        tr = runs_by_id.get(tr.parentId) if tr.parentId else None
    return None


def shared_dir_name(wd_run: Any) -> str:
    """The directory below the storage root (`work/<run id>`), the same locally and on a volume."""
    return f"work/{wd_run.id}"


def staging_spec(task: WorkingDirectory, flow: Any) -> dict[str, Any] | None:
    """What the first child stages (JSON data for the worker spec); None when there is nothing."""
    if task.inputFiles is None and task.namespaceFiles is None and task.cache is None:
        return None
    return {"inputFiles": task.inputFiles,
            "namespaceFiles": task.namespaceFiles.model_dump() if task.namespaceFiles else None,
            "cache": task.cache.model_dump() if task.cache else None, "taskId": task.id,
            "namespace": flow.namespace, "flowId": flow.id}


def stage(ctx: Any, spec: dict[str, Any] | None) -> None:
    """Stage the WorkingDirectory's files into `ctx.workdir` unless a previous child did."""
    if not spec:
        return
    marker = ctx.workdir / STAGED_MARKER
    if marker.exists():
        return
    from kflow.tasks.files import stage_input_files
    from kflow.tasks.nsfiles import stage_namespace_files

    if spec.get("cache"):
        restore_cache(ctx, Cache.model_validate(spec["cache"]), spec)
    if spec.get("namespaceFiles"):
        stage_namespace_files(ctx, NamespaceFiles.model_validate(spec["namespaceFiles"]))
    stage_input_files(ctx, spec.get("inputFiles"))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("")


def _cache_file(ctx: Any, namespace: str, flow_id: str, task_id: str) -> Path:
    home = Path(ctx.env.get("KFLOW_HOME") or Path.home() / ".kflow")
    return home / "cache" / namespace / flow_id / f"{task_id}.tar"


def restore_cache(ctx: Any, cache: Cache, spec: dict[str, Any]) -> None:
    path = _cache_file(ctx, spec["namespace"], spec["flowId"], spec["taskId"])
    if not path.is_file():
        return
    if cache.ttl and time.time() - path.stat().st_mtime > parse_duration(cache.ttl).total_seconds():
        path.unlink(missing_ok=True)
        return
    with tarfile.open(path) as tar:
        tar.extractall(ctx.workdir, filter="data")
    ctx.log("INFO", f"cache restored from {path}")


def save_cache(ctx: Any, cache: Cache) -> None:
    from kflow.tasks.files import glob_regex

    flow = ctx.context.get("flow") or {}
    path = _cache_file(ctx, flow.get("namespace") or "", flow.get("id") or "", ctx.task_id)
    if path.is_file():
        return  # still valid (it was restored, or expired and removed before the first child)
    regexes = [glob_regex(p) for p in cache.patterns]
    files = [p for p in sorted(ctx.workdir.rglob("*")) if p.is_file()
             and any(rx.match(p.relative_to(ctx.workdir).as_posix()) for rx in regexes)]
    if not files:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with tarfile.open(tmp, "w") as tar:
        for f in files:
            tar.add(f, arcname=f.relative_to(ctx.workdir).as_posix())
    os.replace(tmp, path)
