"""The execution state machine: pure (no I/O, no clock of its own, no Kubernetes).

`Engine.step(execution, now)` walks the flow's task tree against the execution's task runs, advances
everything that can advance (flowable and inline tasks are evaluated here) and returns actions for
the adapter: start a runnable task run, wake me at T, log a line, kill a task run. Results come back
through `Engine.apply`. The only state is the Execution object handed in, which these methods update.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kflow.engine import ending, exits
from kflow.engine.context import base_context, outputs_map, task_run_context, with_view
from kflow.engine.errorlogs import error_logs
from kflow.engine.labels import with_system_labels
from kflow.engine.retry import effective_retry, in_place, next_attempt_at
from kflow.engine.state import TERMINAL, Attempt, Execution, State, TaskRun
from kflow.errors import TaskFailed
from kflow.expr import RenderError, truthy
from kflow.model.common import is_template
from kflow.model.durations import parse_duration
from kflow.model.flow import Flow
from kflow.model.inputs import resolve_inputs
from kflow.tasks.base import RunnableTask, Task


@dataclass(frozen=True)
class StartTaskRun:
    run_id: str
    task: RunnableTask
    attempt: int
    context: dict[str, Any]
    timeout: timedelta | None


@dataclass(frozen=True)
class Wake:
    at: datetime


@dataclass(frozen=True)
class LogLine:
    run_id: str
    task_id: str
    level: str
    message: str


@dataclass(frozen=True)
class KillTaskRun:
    run_id: str


Action = StartTaskRun | Wake | LogLine | KillTaskRun


@dataclass
class TaskRunResult:
    run_id: str
    attempt: int
    state: State
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int | None = None
    preview: list[Any] | None = None  # first rows of a stored result, shown in status only


class Engine:
    def __init__(self, flow: Flow, renderer: Any, envs: dict[str, str] | None = None):
        self.flow = flow
        self.renderer = renderer
        self.envs = envs or {}
        self.tasks: dict[str, Task] = {t.id: t for t in flow.all_tasks()}
        self.retries = {t.id: effective_retry(flow.retry, t.retry) for t in self.tasks.values()}
        self._memo: _Memo | None = None
        self._ends: dict[str, State] = {}  # execution id -> final state while afterExecution runs

    def _memo_for(self, ex: Execution) -> _Memo:
        """Indexes of `ex`'s task runs, kept from one step to the next while only the engine adds runs."""
        memo = self._memo
        if memo is None or memo.runs is not ex.taskRuns or memo.count != len(ex.taskRuns):
            memo = self._memo = _Memo(ex.taskRuns)
        return memo

    # ---- lifecycle -----------------------------------------------------------------------------
    def create_execution(self, execution_id: str, inputs: dict[str, Any], now: datetime,
                         labels: dict[str, str] | None = None,
                         trigger: dict[str, Any] | None = None) -> Execution:
        """A new execution with typed inputs; raises InputsInvalid and creates nothing on bad input."""
        resolved = resolve_inputs(self.flow.inputs, inputs,
                                  render=lambda v, ctx: self.renderer.render_value(v, ctx))
        ex = Execution(id=execution_id, namespace=self.flow.namespace, flowId=self.flow.id,
                       flowRevision=self.flow.revision, inputs=resolved,
                       labels=with_system_labels({**self.flow.labels, **(labels or {})}, execution_id),
                       trigger=trigger, startDate=now)
        ex.set_state(State.CREATED, now)
        return ex

    def start(self, ex: Execution, now: datetime) -> None:
        if ex.state in (State.CREATED, State.QUEUED, State.RESTARTED):
            ex.set_state(State.RUNNING, now)

    def queue(self, ex: Execution, now: datetime) -> None:
        ex.set_state(State.QUEUED, now)

    def cancel(self, ex: Execution, now: datetime, state: State = State.CANCELLED,
               reason: str | None = None) -> None:
        ex.error = reason
        ex.set_state(state, now)

    def kill(self, ex: Execution, now: datetime) -> list[Action]:
        actions: list[Action] = []
        for tr in ex.taskRuns:
            if tr.state.terminal:
                continue
            if tr.state == State.RUNNING and isinstance(self.tasks.get(tr.taskId), RunnableTask):
                actions.append(KillTaskRun(tr.id))
            if tr.attempts and not tr.attempts[-1].state.terminal:
                tr.attempts[-1].state = State.KILLED
                tr.attempts[-1].endDate = now
            tr.state, tr.endDate = State.KILLED, now
        self._memo = None
        if not ex.state.terminal:
            # Kestra runs afterExecution on a killed execution too (KILLING until it has run); a kill
            # while it runs ends it at once.
            after = self.flow.afterExecution and ex.state != State.KILLING
            ex.set_state(State.KILLING if after else State.KILLED, now)
        return actions

    def _after_kill(self, ex: Execution, now: datetime) -> list[Action]:
        walk = Walk(self, ex, now)
        walk.after_state = State.KILLED
        if walk.sequence(self.flow.afterExecution, None, "afterExecution").terminal:
            ex.set_state(State.KILLED, now)
        return walk.finish_actions()

    def apply(self, ex: Execution, result: TaskRunResult, now: datetime) -> None:
        """Record a runnable attempt's outcome. Stale or repeated results are ignored (idempotent)."""
        tr = self._memo_for(ex).by_id.get(result.run_id)
        if tr is None or tr.state != State.RUNNING or len(tr.attempts) != result.attempt:
            return
        task = self.tasks[tr.taskId]
        attempt = tr.attempts[-1]
        attempt.state, attempt.endDate, attempt.exitCode = result.state, now, result.exit_code
        if result.outputs:  # a secret a task outputs is masked, as in its logs (README: secrets)
            tr.outputs = {**tr.outputs, **self.renderer.mask_deep(result.outputs)}
        tr.error = self.renderer.mask(result.error) if result.error else result.error
        if result.state == State.FAILED and self.retry_later(ex, tr, now):
            self._memo_for(ex).changed(tr)
            return
        _finish(task, tr, result.state, now, self.retries.get(task.id))
        self._memo_for(ex).changed(tr)

    def retry_later(self, ex: Execution, tr: TaskRun, now: datetime) -> bool:
        """After a failed attempt: schedule the next one (RETRYING) if the task's retry allows it."""
        retry = in_place(self.retries.get(tr.taskId))
        if retry is None or not tr.attempts:
            return False
        at = next_attempt_at(retry, len(tr.attempts), tr.attempts[0].startDate, now, f"{ex.id}/{tr.id}")
        if at is None:
            return False
        tr.state, tr.wakeAt = State.RETRYING, at
        return True

    # ---- the walk ------------------------------------------------------------------------------
    def step(self, ex: Execution, now: datetime) -> list[Action]:
        if ex.state.terminal or ex.state == State.QUEUED:
            return []
        if ex.state == State.KILLING:
            return self._after_kill(ex, now)
        if ex.state in (State.CREATED, State.RESTARTED):
            ex.set_state(State.RUNNING, now)
        walk = Walk(self, ex, now)
        flow = self.flow
        if flow.sla and ex.id not in self._ends:
            breached = self._max_duration(walk)
            if breached is not None:
                return breached
        status = walk.block(flow.tasks, flow.errors, flow.finally_, None)
        if walk.exited is not None:
            status = exits.settle(walk, status)
        if status.terminal:
            status = self._end_state(walk, status)
        if status.terminal and flow.afterExecution:
            walk.after_state = status
            after = walk.sequence(flow.afterExecution, None, "afterExecution")
            if not after.terminal:
                status = State.RUNNING
        if status.terminal:
            self._ends.pop(ex.id, None)
            ex.set_state(status, now)
        else:
            ex.set_state(State.PAUSED if walk.paused else State.RUNNING, now)
        return walk.finish_actions()

    def _end_state(self, walk: Walk, status: State) -> State:
        return ending.end_state(self, walk, status)

    def _max_duration(self, walk: Walk) -> list[Action] | None:
        return ending.max_duration(self, walk)

    def next_execution(self, ex: Execution, execution_id: str, now: datetime) -> Execution:
        """The execution that retries `ex` (which ended RETRIED): same inputs, labels and trigger."""
        return ending.next_execution(ex, execution_id, now)


LOOP_TYPE = "io.kestra.plugin.core.flow.Loop"


def _finish(task: Task, tr: TaskRun, state: State, now: datetime, retry: Any = None) -> None:
    retry = retry if retry is not None else task.retry
    if state == State.SUCCESS and retry is not None and retry.warningOnRetry and len(tr.attempts) > 1:
        state = State.WARNING
    # Kestra applies both: an allowed failure becomes WARNING, and an allowed warning SUCCESS.
    if state == State.FAILED and task.allowFailure:
        state = State.WARNING
    if state == State.WARNING and task.allowWarning:
        state = State.SUCCESS
    if tr.attempts and not tr.attempts[-1].state.terminal:
        tr.attempts[-1].state, tr.attempts[-1].endDate = state, now
    tr.state, tr.endDate, tr.wakeAt = state, now, None


class _Memo:
    """Lookups over an execution's task runs (append-only; their ids and places never change)."""

    def __init__(self, runs: list[TaskRun]):
        self.runs = runs
        self.count = len(runs)
        self.index = {(tr.parentId, tr.taskId, tr.iteration): tr for tr in runs}
        self.by_id = {tr.id: tr for tr in runs}
        self.done: dict[tuple[Any, ...], tuple[int, State]] = {}  # see Walk.sequence
        # `outputs` and `tasks` expression views, replaced (never edited) when a task run changes.
        self.views: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.base: dict[str, Any] | None = None
        self.base_key: tuple[Any, ...] = ()

    def changed(self, tr: TaskRun) -> None:
        """`tr`'s state or outputs changed: new views, unless none were built yet."""
        if self.views is not None:
            outputs, states = self.views
            if tr.outputs:
                outputs = with_view(outputs, tr, tr.outputs)
            self.views = (outputs, with_view(states, tr, {"state": tr.state.value}))

    def add(self, tr: TaskRun) -> None:
        self.runs.append(tr)
        self.count += 1
        self.index[(tr.parentId, tr.taskId, tr.iteration)] = tr
        self.by_id[tr.id] = tr


class Walk:
    """One pass over the task tree; flowable task modules call back into it."""

    def __init__(self, engine: Engine, ex: Execution, now: datetime):
        self.engine = engine
        self.ex = ex
        self.now = now
        self.renderer = engine.renderer
        self.actions: list[Action] = []
        self.wakes: list[datetime] = []
        self.after_state: State | None = None
        self.paused = False
        self.memo = engine._memo_for(ex)
        self.exited: State | None = exits.exited(engine, ex)  # an Exit task ran (engine/exits.py)
        self.index = self.memo.index
        self.by_id = self.memo.by_id

    @property
    def _base(self) -> dict[str, Any]:
        ex, memo = self.ex, self.memo
        key = (ex.state, ex.labels, ex.inputs, ex.trigger)
        if memo.base is None or len(key) != len(memo.base_key) or \
                any(a is not b for a, b in zip(key, memo.base_key, strict=True)):
            memo.base, memo.base_key = base_context(self.engine.flow, ex, self.engine.envs), key
        return memo.base

    @property
    def _outputs(self) -> dict[str, Any]:
        if self.memo.views is None:
            self.memo.views = outputs_map(self.ex)  # on first use: many passes render nothing
        return self.memo.views[0]

    @property
    def _states(self) -> dict[str, Any]:
        if self.memo.views is None:
            self.memo.views = outputs_map(self.ex)
        return self.memo.views[1]

    # -- contexts and rendering
    def context(self, tr: TaskRun) -> dict[str, Any]:
        ctx = task_run_context(self._base, self._outputs, self._states, self.ex, tr,
                               self.engine.tasks[tr.taskId].TYPE, self.by_id)
        if self.after_state is not None:
            ctx["execution"] = {**ctx["execution"], "state": self.after_state.value,
                                "outputs": self.ex.outputs}
        if tr.branch in ("errors", "finally", "afterExecution"):
            ctx["__errorLogs"] = error_logs(self.ex)
        if self.engine.__dict__.setdefault("_has_loop", any(t.TYPE == LOOP_TYPE for t in self.engine.tasks.values())):
            from kflow.tasks.flow.loop import with_item  # `item.value` inside a Loop (tasks/flow/loop.py)

            ctx = with_item(self.engine.tasks, self.by_id, tr, ctx)
        return ctx

    def flow_context(self) -> dict[str, Any]:
        return {**self._base, "outputs": self._outputs, "tasks": self._states}

    def render(self, value: Any, tr: TaskRun) -> Any:
        """Every string inside `value` rendered to a string."""
        if isinstance(value, str) and "{" not in value:
            return value
        return self.renderer.render_deep(value, self.context(tr))

    def render_value(self, value: Any, tr: TaskRun) -> Any:
        """Typed rendering: a lone expression keeps its type (lists for ForEach, bools for If)."""
        if isinstance(value, str) and "{" not in value:
            return value
        return self.renderer.render_value(value, self.context(tr))

    def outputs_changed(self, tr: TaskRun | None = None) -> None:
        """Refresh the expression views of `tr` (state and outputs) after it changed; all without `tr`."""
        if tr is None:
            self.memo.views = None
        else:
            self.memo.changed(tr)

    # -- side channels
    def log(self, tr: TaskRun, level: str, message: str) -> None:
        self.actions.append(LogLine(tr.id, tr.taskId, level, self.renderer.mask(message)))

    def wake(self, at: datetime) -> None:
        self.wakes.append(at)

    def set_labels(self, labels: dict[str, str]) -> None:
        self.ex.labels = {**self.ex.labels, **labels}  # a new dict: the cached base context sees it

    def finish_actions(self) -> list[Action]:
        if self.wakes:
            self.actions.append(Wake(min(self.wakes)))
        return self.actions

    # -- structure
    def block(self, tasks: list[Task], errors: list[Task], finally_: list[Task],
              parent: TaskRun | None) -> State:
        """A task list with its `errors` and `finally` handlers."""
        return self.handlers(self.sequence(tasks, parent, "tasks"), errors, finally_, parent)

    def handlers(self, status: State, errors: list[Task], finally_: list[Task],
                 parent: TaskRun | None) -> State:
        if not status.terminal:
            return status
        if status == State.FAILED and errors:
            handled = self.sequence(errors, parent, "errors")
            if not handled.terminal:
                return handled
        if finally_:
            done = self.sequence(finally_, parent, "finally")
            if not done.terminal:
                return done
            if done == State.FAILED:
                return State.FAILED
            if done == State.WARNING and status == State.SUCCESS:
                return State.WARNING
        return status

    def sequence(self, tasks: list[Task], parent: TaskRun | None, branch: str,
                 iteration: int | None = None) -> State:
        """Run `tasks` one after the other; stop at the first failure."""
        if not tasks:
            return State.SUCCESS
        parent_id = parent.id if parent else None
        # Task runs never leave a terminal state, so a finished prefix needs no second look. Task ids are
        # unique in a flow: the first id and the length name the list (Parallel passes one-task groups).
        key = (parent_id, branch, iteration, tasks[0].id, len(tasks))
        start, status = self.memo.done.get(key, (0, State.SUCCESS))
        for i in range(start, len(tasks)):
            task = tasks[i]
            if task.disabled:
                continue
            tr = self.index.get((parent_id, task.id, iteration))
            if tr is None:
                if self.exited is not None:
                    return State.RUNNING  # after an Exit nothing new starts (engine/exits.py)
                tr = self.create(task, parent, branch, iteration)
            state = self.advance(task, tr)
            if state not in TERMINAL:
                self.memo.done[key] = (i, status)
                return State.RUNNING
            if state in (State.FAILED, State.KILLED):
                self.memo.done[key] = (i, status)
                return state
            if state == State.WARNING:
                status = State.WARNING
        self.memo.done[key] = (len(tasks), status)
        return status

    def create(self, task: Task, parent: TaskRun | None, branch: str, iteration: int | None) -> TaskRun:
        suffix = parent.id[len(parent.taskId):] if parent else ""
        if iteration is not None:
            assert parent is not None and parent.items is not None
            value = parent.items[iteration]
            # A flowable re-running the same tasks (WaitFor) shows the latest iteration's outputs as
            # `outputs.<task>`, not nested by value as ForEach does.
            flat = getattr(self.engine.tasks.get(parent.taskId), "FLAT_ITERATIONS", False)
            value_path = list(parent.valuePath) if flat else [*parent.valuePath, value]
            suffix += f".{iteration}"
        else:
            value = parent.value if parent else None
            value_path = list(parent.valuePath) if parent else []
        tr = TaskRun(id=task.id + suffix, taskId=task.id, parentId=parent.id if parent else None,
                     branch=branch, value=value, valuePath=value_path, iteration=iteration,
                     startDate=self.now)
        self.memo.add(tr)
        if task.runIf is not True and task.runIf != "true":
            try:
                run = truthy(self.render(task.runIf, tr))
            except RenderError as exc:
                self.fail(task, tr, str(exc))
                return tr
            if not run:
                tr.state, tr.endDate = State.SKIPPED, self.now
        self.outputs_changed(tr)
        return tr

    def fail(self, task: Task, tr: TaskRun, message: str) -> None:
        tr.error = self.renderer.mask(message)
        self.log(tr, "ERROR", message)
        if task.kind == "inline" and tr.attempts:
            tr.attempts[-1].state, tr.attempts[-1].endDate = State.FAILED, self.now
            if self.engine.retry_later(self.ex, tr, self.now):
                self.outputs_changed(tr)
                return
        _finish(task, tr, State.FAILED, self.now, self.engine.retries.get(task.id))
        self.outputs_changed(tr)

    def advance(self, task: Task, tr: TaskRun) -> State:
        if tr.state in TERMINAL:
            return tr.state
        try:
            if task.kind == "inline":
                if tr.state == State.RETRYING and tr.wakeAt is not None and self.now < tr.wakeAt:
                    self.wake(tr.wakeAt)
                    return tr.state
                # One attempt per evaluation, as Kestra counts them for worker tasks too.
                tr.attempts.append(Attempt(state=State.RUNNING, startDate=self.now))
                tr.state = State.RUNNING
                result = task.evaluate(self, tr)  # type: ignore[attr-defined]
                tr.outputs = self.renderer.mask_deep(result or {})
                _finish(task, tr, State.SUCCESS, self.now, self.engine.retries.get(task.id))
                self.outputs_changed(tr)
            elif task.kind == "flowable":
                before = tr.state
                if tr.state == State.CREATED:
                    tr.state = State.RUNNING
                state = task.resolve(self, tr)  # type: ignore[attr-defined]
                if state.terminal:
                    _finish(task, tr, state, self.now)
                elif state == State.PAUSED:
                    tr.state = State.PAUSED
                    self.paused = True
                elif tr.state == State.PAUSED:
                    tr.state = State.RUNNING
                if tr.state is not before:
                    self.outputs_changed(tr)
            elif tr.state == State.CREATED:
                self._start_attempt(task, tr)
            elif tr.state == State.RETRYING:
                assert tr.wakeAt is not None
                if self.now >= tr.wakeAt:
                    self._start_attempt(task, tr)
                else:
                    self.wake(tr.wakeAt)
        except (TaskFailed, RenderError) as exc:
            self.fail(task, tr, str(exc))
        return tr.state

    def _start_attempt(self, task: Task, tr: TaskRun) -> None:
        timeout = None
        if task.timeout:
            raw = self.render(task.timeout, tr) if is_template(task.timeout) else task.timeout
            try:
                timeout = parse_duration(raw)
            except ValueError as exc:
                raise TaskFailed(f"timeout: {exc}") from None
        tr.attempts.append(Attempt(state=State.RUNNING, startDate=self.now))
        tr.state, tr.wakeAt = State.RUNNING, None
        self.outputs_changed(tr)
        assert isinstance(task, RunnableTask)
        self.actions.append(StartTaskRun(tr.id, task, len(tr.attempts), self.context(tr), timeout))
