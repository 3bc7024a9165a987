"""`errorLogs()`: the ERROR lines of the execution's failed task runs, for `errors`/`finally` handlers.

The engine keeps no log store; a failed task run's error is the ERROR line it logged when it failed,
so that is what is returned (Kestra returns the ERROR-level log entries of the failed tasks).
"""

from __future__ import annotations

from typing import Any

from kflow.engine.state import Execution, State, iso


def error_logs(ex: Execution) -> list[dict[str, Any]]:
    return [{"taskId": tr.taskId, "taskRunId": tr.id, "level": "ERROR", "message": tr.error,
             "timestamp": iso(tr.endDate)}
            for tr in ex.taskRuns if tr.state == State.FAILED and tr.error]
