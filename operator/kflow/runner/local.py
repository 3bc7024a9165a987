"""The embedded default: run a flow on this machine, runnable tasks as local processes.

An adapter around the pure engine: it feeds the engine results and the clock, and carries out the
actions it returns (start a task run in a thread or a worker process, wait for a timer, log).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import string
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kflow.engine.machine import Engine, KillTaskRun, LogLine, StartTaskRun, TaskRunResult, Wake
from kflow.engine.state import Execution, State, TaskRun
from kflow.expr import Renderer
from kflow.kv.local import FileKVStore, default_kv_root
from kflow.model.durations import format_duration
from kflow.model.flow import Flow
from kflow.model.loader import load_flow_file
from kflow.runner.context import TaskRunContext
from kflow.runner.file_reader import LocalFiles
from kflow.runner.process import ProcessSlot
from kflow.runner.storage import ExecutionStorage
from kflow.worker import RESULT_KEY, build_spec

_ALPHABET = string.ascii_letters + string.digits


def new_execution_id() -> str:
    """Kestra's shape: a random 128-bit number in base 62 (22 characters), from one urandom call."""
    n = int.from_bytes(secrets.token_bytes(16), "big")
    out = []
    for _ in range(22):
        n, r = divmod(n, 62)
        out.append(_ALPHABET[r])
    return "".join(out)


def default_storage_root() -> Path:
    return Path(os.environ.get("KFLOW_HOME") or Path.home() / ".kflow") / "storage"


def envs_from(environ: dict[str, str]) -> dict[str, str]:
    """`envs.<name>`: environment variables prefixed ENV_, prefix stripped and lower-cased."""
    return {k[4:].lower(): v for k, v in environ.items() if k.startswith("ENV_")}


class Events:
    """Callbacks for progress; the CLI prints them, tests may record them."""

    def task_started(self, ex: Execution, tr: TaskRun) -> None: ...
    def task_ended(self, ex: Execution, tr: TaskRun) -> None: ...
    def log(self, task_id: str, run_id: str, level: str, message: str) -> None: ...
    def execution_changed(self, ex: Execution) -> None: ...  # after each engine step (history records it)


class LocalRunner:
    def __init__(self, flow: Flow, *, storage_root: Path | None = None, env: dict[str, str] | None = None,
                 events: Events | None = None, flow_dir: Path | None = None,
                 clock: Callable[[], datetime] | None = None, kv_store: Any = None):
        self.flow = flow
        self.env = dict(os.environ if env is None else env)
        if flow_dir is not None:
            self.env.setdefault("KFLOW_FLOW_DIR", str(flow_dir))
        self.storage_root = storage_root or default_storage_root()
        self.events = events or Events()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.renderer = Renderer(secrets=self.env, now=self.clock)
        self.renderer.kv = kv_store if kv_store is not None else FileKVStore(default_kv_root(self.env))
        self.renderer.files = LocalFiles(self.storage_root, self.env)
        self.engine = Engine(flow, self.renderer, envs_from(self.env))
        self._slots: dict[str, ProcessSlot] = {}
        self._kill_reason: str | None = None
        self._results: queue.Queue[TaskRunResult | None] = queue.Queue()
        self.kill_grace = 3.0  # seconds between SIGTERM and SIGKILL of a killed task's process group

    def request_kill(self, reason: str = "killed") -> None:
        """Kill the execution (from a signal handler or another thread): every running task's process
        group gets SIGTERM, then SIGKILL after `kill_grace`; the drive loop then ends it KILLED."""
        self._kill_reason = self._kill_reason or reason
        for slot in list(self._slots.values()):
            slot.terminate("killed", self.kill_grace)
        self._results.put(None)  # wakes the drive loop if it waits for a timer

    def create(self, inputs: dict[str, Any], labels: dict[str, str] | None = None,
               trigger: dict[str, Any] | None = None, execution_id: str | None = None) -> Execution:
        """Validate inputs and create the execution (raises InputsInvalid, nothing created)."""
        from kflow.errors import InputsInvalid
        from kflow.runner.file_inputs import stage_file_inputs

        execution_id = execution_id or new_execution_id()
        staged = stage_file_inputs(self.flow, inputs, self.storage_for(execution_id), base=Path.cwd(),
                                   env=self.env)
        try:
            return self.engine.create_execution(execution_id, staged.inputs, self.clock(),
                                                labels=labels, trigger=trigger)
        except InputsInvalid:
            staged.discard()
            raise

    def storage_for(self, execution_id: str) -> ExecutionStorage:
        flow = self.flow
        root = self.storage_root / flow.namespace.replace(".", "/") / flow.id / "executions" / execution_id
        return ExecutionStorage(root, flow.namespace, flow.id, execution_id)

    def run(self, inputs: dict[str, Any] | None = None, *, labels: dict[str, str] | None = None,
            trigger: dict[str, Any] | None = None, execution_id: str | None = None) -> Execution:
        ex = self.create(inputs or {}, labels, trigger, execution_id)
        return self.execute_with_retries(ex)

    def execute_with_retries(self, ex: Execution) -> Execution:
        """`execute`, then each new execution a CREATE_NEW_EXECUTION retry asks for (the one ending
        RETRIED is kept in `self.retried`); returns the last execution."""
        self.retried: list[Execution] = []
        ex = self.execute(ex)
        while ex.state == State.RETRIED and ex.retryAt is not None and self._kill_reason is None:
            self.retried.append(ex)
            self.events.log("", "", "INFO", f"execution {ex.id} RETRIED: a new execution starts at "
                                              f"{ex.retryAt.isoformat()}")
            delay = (ex.retryAt - self.clock()).total_seconds()
            if delay > 0:
                time.sleep(delay)
            ex = self.execute(self.engine.next_execution(ex, new_execution_id(), self.clock()))
        return ex

    def execute(self, ex: Execution) -> Execution:
        """Drive `ex` to its end; task runs start as the engine asks, results go back to it."""
        flow = self.flow
        root = self.storage_root / flow.namespace.replace(".", "/") / flow.id / "executions" / ex.id
        storage = ExecutionStorage(root, flow.namespace, flow.id, ex.id)
        try:
            return self._drive(ex, storage)
        finally:
            storage.close()

    def _drive(self, ex: Execution, storage: ExecutionStorage) -> Execution:
        results = self._results
        slots = self._slots
        running = 0
        # a restarted or resumed execution: what had ended before is not reported again
        seen: dict[str, tuple[State, int]] = {tr.id: (tr.state, len(tr.attempts)) for tr in ex.taskRuns
                                              if tr.state.terminal}
        killed = False
        while True:
            now = self.clock()
            if self._kill_reason is not None and not killed:
                killed = True
                if not ex.state.terminal:
                    ex.error = ex.error or self._kill_reason
                    self.engine.kill(ex, now)
                    self.request_kill()  # slots started since the request
            actions = self.engine.step(ex, now)
            wake_at: datetime | None = None
            starts = [a for a in actions if isinstance(a, StartTaskRun)]
            for action in actions:
                if isinstance(action, LogLine):
                    self.events.log(action.task_id, action.run_id, action.level, action.message)
                elif isinstance(action, Wake):
                    wake_at = action.at
                elif isinstance(action, KillTaskRun) and action.run_id in slots:
                    slots[action.run_id].kill("killed")
            self._report(ex, seen)
            done: TaskRunResult | None = None
            for start in starts:
                slot = slots[start.run_id] = ProcessSlot()
                if self._kill_reason is not None and not killed:
                    slot.killed_reason = "killed"  # a kill came in after this step: never spawn it
                running += 1
                if len(starts) == 1 and running == 1:
                    # Nothing else in flight: run it on this thread, no thread or queue hand-off.
                    done = self._attempt(ex, start, storage, slot)
                else:
                    threading.Thread(target=lambda s=start, sl=slot: results.put(
                        self._attempt(ex, s, storage, sl)), daemon=True).start()
            if ex.state.terminal and running == 0:
                return ex
            if running == 0 and wake_at is None and not starts:
                if ex.state == State.PAUSED:
                    return ex  # paused until someone resumes it (`kflow resume`): the caller says so
                continue
            if done is None:
                timeout = None if wake_at is None else max((wake_at - self.clock()).total_seconds(), 0)
                try:
                    done = results.get(timeout=timeout)
                except queue.Empty:
                    continue
                if done is None:  # a kill request
                    continue
            result: TaskRunResult | None = done
            while result is not None:
                running -= 1
                slots.pop(result.run_id, None)
                self.engine.apply(ex, result, self.clock())
                result = None
                if running:
                    try:
                        result = results.get_nowait()
                    except queue.Empty:
                        pass

    def _report(self, ex: Execution, seen: dict[str, tuple[State, int]]) -> None:
        if type(self.events) is Events:
            return  # nobody listens
        self.events.execution_changed(ex)
        for tr in ex.taskRuns:
            key = (tr.state, len(tr.attempts))
            before = seen.get(tr.id)
            if before == key:
                continue
            seen[tr.id] = key
            if (tr.state == State.RUNNING and (before is None or before[1] != key[1])) or \
                    (before is None and not tr.state.terminal):
                self.events.task_started(ex, tr)
            if tr.state.terminal:
                if before is None and tr.state != State.SKIPPED:
                    self.events.task_started(ex, tr)
                self.events.task_ended(ex, tr)

    def _attempt(self, ex: Execution, start: StartTaskRun, storage: ExecutionStorage,
                 slot: ProcessSlot) -> TaskRunResult:
        task = start.task
        from kflow.errors import TaskFailed
        from kflow.runner.workdirs import shared_workdir

        try:  # inside a WorkingDirectory: its shared folder (runner/workdirs.py)
            shared = shared_workdir(self, ex, start, storage)
        except TaskFailed as exc:
            return TaskRunResult(start.run_id, start.attempt, State.FAILED, {}, self.renderer.mask(str(exc)))
        workdir = shared or storage.lend_work_dir(start.run_id, start.attempt)
        timer = None
        if start.timeout is not None:
            timer = threading.Timer(start.timeout.total_seconds(), slot.kill, ("timeout",))
            timer.daemon = True
            timer.start()
        try:
            if getattr(task, "child_execution", False):  # Subflow: a child execution (runner/subflows.py)
                from kflow.runner.subflows import run_child

                result = run_child(self, ex, start, slot)
            elif task.isolate:
                result = self._in_worker(ex, start, storage, workdir, slot)
            else:
                result = self._in_thread(ex, start, storage, workdir, slot)
        finally:
            storage.returned(workdir)
            if timer is not None:
                timer.cancel()
        if slot.killed_reason == "timeout" and result.state != State.SUCCESS:
            result.state = State.FAILED
            result.error = f"Timeout after {format_duration(start.timeout or timedelta())}"
        elif slot.killed_reason == "killed":
            result.state = State.KILLED
            result.error = self._kill_reason or "killed"  # not the exit code the kill caused
        return result

    def _log(self, start: StartTaskRun) -> Callable[[str, str], None]:
        return lambda level, message: self.events.log(start.task.id, start.run_id, level, message)

    def _in_thread(self, ex: Execution, start: StartTaskRun, storage: ExecutionStorage, workdir: Path,
                   slot: ProcessSlot) -> TaskRunResult:
        from kflow.errors import TaskFailed

        ctx = TaskRunContext(renderer=self.renderer, context=start.context, execution_id=ex.id,
                             task_id=start.task.id, task_run_id=start.run_id, attempt=start.attempt,
                             workdir=workdir, storage=storage, env=self.env, log=self._log(start), slot=slot,
                             while_running=storage.tidy)
        try:
            outputs = start.task.run(ctx)
            return TaskRunResult(start.run_id, start.attempt, State.SUCCESS, outputs)
        except TaskFailed as exc:
            return TaskRunResult(start.run_id, start.attempt, State.FAILED, exc.outputs,
                                 self.renderer.mask(str(exc)), exc.exit_code)
        except Exception as exc:  # a task bug fails its task run; the runner carries on
            return TaskRunResult(start.run_id, start.attempt, State.FAILED, {},
                                 self.renderer.mask(f"internal error: {type(exc).__name__}: {exc}"))

    def _in_worker(self, ex: Execution, start: StartTaskRun, storage: ExecutionStorage, workdir: Path,
                   slot: ProcessSlot) -> TaskRunResult:
        spec = build_spec(start.task, start.context, execution_id=ex.id, task_run_id=start.run_id,
                          attempt=start.attempt, workdir=workdir, storage=storage, kv=self.renderer.kv)
        final: dict[str, Any] = {}
        log = self._log(start)

        def on_line(line: str, is_err: bool) -> None:
            if line.startswith("::{") and line.endswith("}::"):
                try:
                    message = json.loads(line[2:-2])
                except ValueError:
                    log("INFO", line)
                    return
                if RESULT_KEY in message:
                    final.update(message[RESULT_KEY])
                for entry in message.get("logs") or []:
                    log(entry.get("level", "INFO"), self.renderer.mask(str(entry.get("message", ""))))
                return
            log("ERROR" if is_err else "INFO", self.renderer.mask(line))

        env = {**self.env, "PYTHONPATH": os.pathsep.join(filter(None, [_package_root(),
                                                                        self.env.get("PYTHONPATH")]))}
        code = slot.run([sys.executable, "-m", "kflow.worker"], env=env, cwd=workdir, on_line=on_line,
                        stdin=json.dumps(spec).encode(), while_running=storage.tidy)
        if not final:
            return TaskRunResult(start.run_id, start.attempt, State.FAILED, {},
                                 f"task process ended with exit code {code} before reporting a result",
                                 code)
        return TaskRunResult(start.run_id, start.attempt, State(final["state"]), final.get("outputs") or {},
                             final.get("error"), final.get("exitCode"))


def _package_root() -> str:
    return str(Path(__file__).resolve().parents[2])


def run_flow_file(path: str | Path, inputs: dict[str, Any] | None = None, *,
                  plugin_defaults: list[dict[str, Any]] | None = None, storage_root: Path | None = None,
                  env: dict[str, str] | None = None, events: Events | None = None,
                  labels: dict[str, str] | None = None) -> Execution:
    loaded = load_flow_file(path, plugin_defaults)
    runner = LocalRunner(loaded.flow, storage_root=storage_root, env=env, events=events,
                         flow_dir=Path(path).resolve().parent)
    return runner.run(inputs or {}, labels=labels)


def elapsed(start: float) -> float:
    return time.perf_counter() - start
