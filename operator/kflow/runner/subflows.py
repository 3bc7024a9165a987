"""Subflows on `kflow run`: find the child flow's file, run the child execution in this process.

Where child flows are looked up (by `namespace` and `id`, read from each file): the parent flow file's
folder, then each `kflow run --flows DIR`, then every folder of `$KFLOW_FLOWS` (os.pathsep-separated;
`--flows` prepends to it), each searched recursively for
`*.yaml`/`*.yml` (kflow `Flow` manifests too). The child runs with the parent's storage root, environment,
clock and KV store, and is recorded in the local history as its own execution (`kflow executions` lists
it) when the parent is. A chain that comes back to a flow already running above it fails the task.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kflow.engine.machine import StartTaskRun, TaskRunResult
from kflow.engine.state import Execution, State
from kflow.errors import FlowInvalid, InputsInvalid, TaskFailed
from kflow.tasks.flow import subflow as sf

_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".cache"}


@dataclass(frozen=True)
class _Entry:
    mtime: float
    key: tuple[str, str] | None


_index: dict[Path, _Entry] = {}


def _identity(path: Path) -> tuple[str, str] | None:
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return None
    cached = _index.get(path)
    if cached is not None and cached.mtime == mtime:
        return cached.key
    key = None
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and doc.get("kind") == "Flow" and isinstance(doc.get("spec"), dict):
            doc = doc["spec"]
        if isinstance(doc, dict) and isinstance(doc.get("id"), str) and isinstance(doc.get("namespace"), str):
            key = (doc["namespace"], doc["id"])
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        key = None
    _index[path] = _Entry(mtime, key)
    return key


def search_dirs(runner: Any) -> list[Path]:
    dirs = []
    if runner.env.get("KFLOW_FLOW_DIR"):
        dirs.append(Path(runner.env["KFLOW_FLOW_DIR"]))
    dirs += [Path(d) for d in (runner.env.get("KFLOW_FLOWS") or "").split(os.pathsep) if d]
    return dirs


def find_flow(dirs: list[Path], namespace: str, flow_id: str) -> Path | None:
    for base in dirs:
        if not base.is_dir():
            continue
        for root, subdirs, files in os.walk(base):
            subdirs[:] = sorted(d for d in subdirs if d not in _SKIP_DIRS and not d.startswith("."))
            for name in sorted(files):
                if name.endswith((".yaml", ".yml")):
                    path = Path(root) / name
                    if _identity(path) == (namespace, flow_id):
                        return path
    return None


class _ChildEvents:
    """The child's logs go to the parent's listener, named `<subflow task>.<child task>`."""

    def __init__(self, inner: Any, task_id: str):
        self.inner, self.task_id = inner, task_id

    def task_started(self, ex: Execution, tr: Any) -> None: ...
    def task_ended(self, ex: Execution, tr: Any) -> None: ...
    def execution_changed(self, ex: Execution) -> None: ...

    def log(self, task_id: str, run_id: str, level: str, message: str) -> None:
        self.inner.log(f"{self.task_id}.{task_id}" if task_id else self.task_id, run_id, level, message)


def run_child(runner: Any, ex: Execution, start: StartTaskRun, slot: Any) -> TaskRunResult:
    """Run the Subflow task run `start` of `ex` as a child execution; its outcome as the task's result."""
    task = start.task
    assert isinstance(task, sf.Subflow)
    try:
        return _run(runner, ex, start, task, slot)
    except TaskFailed as exc:
        return TaskRunResult(start.run_id, start.attempt, State.FAILED, {}, runner.renderer.mask(str(exc)))


def _run(runner: Any, ex: Execution, start: StartTaskRun, task: sf.Subflow, slot: Any) -> TaskRunResult:
    from kflow.tasks.flow.foreach_item import ForEachItem

    if isinstance(task, ForEachItem):
        return _each_item(runner, ex, start, task, slot)
    child = sf.plan(task, runner.renderer, start.context)
    child_runner, child_ex, path = _launch(runner, ex, task, child, slot)
    recording = getattr(runner.events, "recorder", None) is not None
    if not child.wait:
        # Not waited for: it runs on its own thread; the task succeeds once the child exists.
        import threading

        threading.Thread(target=_execute, args=(child_runner, child_ex, path, recording), daemon=True).start()
        return TaskRunResult(start.run_id, start.attempt, State.SUCCESS, sf.started(child_ex.id))
    child_ex = _execute(child_runner, child_ex, path, recording)
    state, outputs, error = sf.outcome(task, child_ex.id, child_ex.state.value, child_ex.outputs, _why(child_ex))
    return TaskRunResult(start.run_id, start.attempt, state, outputs, error)


def _why(child_ex: Execution) -> str | None:
    return next((f"{t.id}: {t.error}" for t in child_ex.taskRuns
                 if t.state == State.FAILED and t.error), None) or child_ex.error


def _launch(runner: Any, ex: Execution, task: sf.Subflow, child: sf.ChildPlan, slot: Any) \
        -> tuple[Any, Execution, Path]:
    """The child's runner and its created execution (raises TaskFailed)."""
    from kflow.model.loader import load_flow_file
    from kflow.runner.local import LocalRunner, new_execution_id

    key = f"{child.namespace}.{child.flow_id}"
    chain = [*getattr(runner, "ancestry", []), f"{runner.flow.namespace}.{runner.flow.id}"]
    if key in chain:
        raise TaskFailed(f"recursive subflow: {' -> '.join([*chain, key])}")
    dirs = search_dirs(runner)
    path = find_flow(dirs, child.namespace, child.flow_id)
    if path is None:
        where = ", ".join(str(d) for d in dirs) or "(no folder: set KFLOW_FLOWS)"
        raise TaskFailed(f"flow {key} not found among the flow files of {where}")
    try:
        child_flow = load_flow_file(path).flow
    except FlowInvalid as exc:
        raise TaskFailed(f"subflow {key} ({path}) is invalid: {exc}") from None
    child_runner = LocalRunner(child_flow, storage_root=runner.storage_root, env=runner.env,
                               events=_ChildEvents(runner.events, task.id), flow_dir=path.parent,
                               clock=runner.clock, kv_store=runner.renderer.kv)
    child_runner.ancestry = chain
    inputs = _local_files(child_flow, child.inputs, runner.storage_for(ex.id))
    try:
        child_ex = child_runner.create(inputs, labels=child.labels, trigger=child.trigger,
                                       execution_id=new_execution_id())
    except InputsInvalid as exc:
        raise TaskFailed(f"subflow {key}: inputs.{exc.input_id}: {exc}") from None
    _forward_kills(slot, child_runner)
    return child_runner, child_ex, path


def _local_files(child_flow: Any, inputs: dict[str, Any], storage: Any) -> dict[str, Any]:
    """FILE inputs given as the parent's kestra:// URIs: handed to the child as the files themselves
    (each execution's storage only resolves its own URIs; the child gets its own copy)."""
    from kflow.runner.storage import SCHEME, StorageError

    file_ids = {i.id for i in child_flow.inputs if str(getattr(i, "type", "")).upper().endswith("FILE")}
    out = dict(inputs)
    for key, value in inputs.items():
        if key in file_ids and isinstance(value, str) and value.startswith(SCHEME):
            try:
                out[key] = str(storage.resolve(value))
            except StorageError:
                pass  # not the parent's: the child reports it
    return out


def _each_item(runner: Any, ex: Execution, start: StartTaskRun, task: Any, slot: Any) -> TaskRunResult:
    from concurrent.futures import ThreadPoolExecutor

    from kflow.runner.storage import StorageError
    from kflow.tasks.flow import foreach_item as fei

    storage = runner.storage_for(ex.id)
    try:
        items_uri = str(runner.renderer.render(task.items, start.context)).strip()
        text = storage.resolve(items_uri).read_text(encoding="utf-8")
    except (StorageError, OSError, UnicodeDecodeError) as exc:
        raise TaskFailed(f"items: {exc}") from None
    folder = storage.task_dir(task.id, start.run_id)
    launched = []
    for i, uri in enumerate(fei.write_batches(storage, task, start.run_id, text)):
        taskrun = {**(start.context.get("taskrun") or {}), "items": uri, "iteration": i}
        child = sf.plan(task, runner.renderer, {**start.context, "taskrun": taskrun})
        launched.append(_launch(runner, ex, task, child, slot))
    recording = getattr(runner.events, "recorder", None) is not None
    workers = task.concurrencyLimit or max(len(launched), 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        ended = list(pool.map(lambda item: _execute(item[0], item[1], item[2], recording), launched))
    results = [(c.id, c.state.value, c.outputs, _why(c)) for c in ended]
    state, outputs, error = fei.merged(task, results)
    merged_file = folder / "subflow-outputs.jsonl"
    merged_file.write_text(fei.merged_lines(outputs["outputs"]))
    outputs["subflowOutputs"] = storage.uri_for(merged_file)
    return TaskRunResult(start.run_id, start.attempt, state, outputs, error)


def _execute(child_runner: Any, child_ex: Execution, path: Path, recording: bool) -> Execution:
    if not recording:
        return child_runner.execute(child_ex)
    from kflow.runner.recording import execute_recorded

    return execute_recorded(child_runner, child_ex, flow_path=path,
                            flow_source=path.read_text(encoding="utf-8"), raw_inputs=None)


def _forward_kills(slot: Any, child_runner: Any) -> None:
    """A kill or timeout of the Subflow task run kills its child execution too."""
    kill, terminate = slot.kill, slot.terminate

    def on_kill(reason: str) -> None:
        kill(reason)
        child_runner.request_kill(reason)

    def on_terminate(reason: str, grace: float) -> None:
        terminate(reason, grace)
        child_runner.request_kill(reason)

    slot.kill, slot.terminate = on_kill, on_terminate
