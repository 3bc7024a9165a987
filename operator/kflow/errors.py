"""Errors every layer shares: each names where the problem is."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One validation problem: `path` is the dotted/indexed location (`tasks[2].retry.interval`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class FlowInvalid(Exception):
    """A flow (or another document) failed validation; carries every problem found."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = problems
        self.source = source
        super().__init__("; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{p}" for p in self.problems]


class InputsInvalid(Exception):
    """Execution inputs were rejected (Kestra's `Invalid input for ...` wording)."""

    def __init__(self, input_id: str, message: str):
        self.input_id = input_id
        super().__init__(message)


class TaskFailed(Exception):
    """A task run attempt failed for a reason the user should read (no traceback)."""

    def __init__(self, message: str, exit_code: int | None = None, outputs: dict | None = None):
        self.exit_code = exit_code
        self.outputs = outputs or {}
        super().__init__(message)
