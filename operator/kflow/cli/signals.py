"""Ctrl-C and SIGTERM on a local run: the first kills the execution the way Kestra's kill does (every
running task's process group gets SIGTERM, then SIGKILL after a grace period; the execution ends KILLED,
recorded, with its final state printed), the second exits at once."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class KillOnSignal:
    def __init__(self, runner: Any, console: Any):
        self.runner = runner
        self.console = console
        self.recorder: Any = None
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def attach(self, recorder: Any) -> None:
        self.recorder = recorder

    def __enter__(self) -> KillOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._old.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signum is not None:
            # Second signal: no grace, no bookkeeping (the history keeps the last state it recorded).
            for slot in list(self.runner._slots.values()):
                slot.kill_now()
            os._exit(128 + signum)
        self.signum = signum
        self.console.notice(f"{name}: killing the execution (press Ctrl-C again to exit at once)")
        # Off the handler: it may have interrupted this thread inside a lock the kill needs.
        threading.Thread(target=self._kill, args=(name,), daemon=True).start()

    def _kill(self, name: str) -> None:
        if self.recorder is not None:
            self.recorder.log(None, None, "WARN", f"execution killed by {name}")
        self.runner.request_kill(f"killed by {name}")

    @property
    def exit_code(self) -> int | None:
        return None if self.signum is None else 128 + self.signum
