"""What the verbs print: timestamped progress lines of a run, in aligned columns, coloured on a terminal
only (NO_COLOR honoured), and the JSON shape of an execution."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Any

from kflow.engine.state import Execution, State, TaskRun

COLOURS = {State.SUCCESS: "32", State.WARNING: "33", State.FAILED: "31", State.KILLED: "35",
           State.RUNNING: "36", State.RETRYING: "33", State.PAUSED: "34", State.SKIPPED: "2",
           State.CANCELLED: "35", State.KILLING: "35", State.RESTARTED: "36"}
MARKS = {State.SUCCESS: "ok", State.SKIPPED: "--", State.WARNING: "!!"}
LEVEL_COLOURS = {"ERROR": "31", "WARN": "33", "WARNING": "33", "DEBUG": "2", "TRACE": "2"}


def use_colour(stream: Any) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Paint:
    def __init__(self, stream: Any):
        self.on = use_colour(stream)

    def __call__(self, text: str, code: str | None) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.on and code else text

    def state(self, state: State, width: int = 0) -> str:
        return self(state.value.ljust(width), COLOURS.get(state))


def label(tr: TaskRun) -> str:
    """The task id, with the value of its ForEach iteration."""
    return tr.taskId + (f"[{tr.value}]" if tr.value is not None else "")


def duration(tr: TaskRun) -> str:
    if tr.startDate and tr.endDate:
        return f"{(tr.endDate - tr.startDate).total_seconds():.2f}s"
    return ""


def clock() -> str:
    return datetime.now().strftime("%H:%M:%S.%f")[:-3]


class ConsoleEvents:
    """Runner events as lines: `HH:MM:SS.mmm MARK task STATE duration attempt`, logs under their task."""

    def __init__(self, out: Any, quiet: bool = False):
        self.out = out
        self.quiet = quiet
        self.paint = Paint(out)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def header(self, text: str) -> None:
        if not self.quiet:
            self._print(f"{self.paint(clock(), '2')} {text}")

    def notice(self, text: str) -> None:
        print(f"{clock()} {text}", file=sys.stderr, flush=True)

    def task_started(self, ex: Execution, tr: TaskRun) -> None:
        if self.quiet:
            return
        attempt = f"attempt {len(tr.attempts)}" if tr.attempts else ""
        self._print(f"{self.paint(clock(), '2')}  > {label(tr):<40} {self.paint.state(tr.state, 9)} "
                    f"{'':>8} {attempt}")

    def task_ended(self, ex: Execution, tr: TaskRun) -> None:
        if self.quiet:
            return
        attempt = f"attempt {len(tr.attempts)}" if tr.attempts else ""
        mark = MARKS.get(tr.state, "XX")
        line = (f"{self.paint(clock(), '2')} {mark:>2} {label(tr):<40} {self.paint.state(tr.state, 9)} "
                f"{duration(tr):>8} {attempt}").rstrip()
        if tr.error and tr.state in (State.FAILED, State.WARNING, State.KILLED):
            line += f"\n{'':>16}{self.paint(tr.error, '31')}"
        self._print(line)

    def log(self, task_id: str, run_id: str, level: str, message: str) -> None:
        if self.quiet:
            return
        for text in str(message).splitlines() or [""]:
            self._print(f"{self.paint(clock(), '2')}      [{task_id}] "
                        f"{self.paint(f'{level:<5}', LEVEL_COLOURS.get(level.upper()))} {text}")

    def execution_changed(self, ex: Execution) -> None: ...

    def final(self, ex: Execution) -> None:
        if ex.state == State.PAUSED:
            paused = [label(tr) for tr in ex.taskRuns if tr.state == State.PAUSED]
            self._print(f"{'' if self.quiet else chr(10)}Execution {ex.id} is {self.paint.state(ex.state)} at "
                        f"{', '.join(paused)}: `kflow resume {ex.id} [-i NAME=VALUE]` goes on, "
                        f"`kflow kill {ex.id}` ends it")
            return
        took = (ex.endDate - ex.startDate).total_seconds() if ex.endDate and ex.startDate else 0.0
        self._print(f"{'' if self.quiet else chr(10)}Execution {ex.id} ended {self.paint.state(ex.state)} "
                    f"in {took:.2f}s")
        if ex.error:
            self._print(f"  {ex.error}")


def execution_json(ex: Execution) -> dict[str, Any]:
    """`kflow run --json`: the execution, outputs by task id (inside ForEach, by value)."""
    from kflow.history import ExecutionRecord

    outputs = ExecutionRecord(execution=ex).outputs()
    return {
        "id": ex.id, "namespace": ex.namespace, "flowId": ex.flowId, "state": ex.state.value,
        "labels": ex.labels, "inputs": ex.inputs, "outputs": outputs, "flowOutputs": ex.outputs,
        "error": ex.error,
        "startDate": ex.startDate.isoformat() if ex.startDate else None,
        "endDate": ex.endDate.isoformat() if ex.endDate else None,
        "taskRuns": [{
            "id": tr.id, "taskId": tr.taskId, "value": tr.value, "state": tr.state.value,
            "attempts": len(tr.attempts), "startDate": tr.startDate.isoformat() if tr.startDate else None,
            "endDate": tr.endDate.isoformat() if tr.endDate else None, "error": tr.error,
        } for tr in ex.taskRuns],
    }
