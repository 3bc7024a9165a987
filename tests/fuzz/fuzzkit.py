"""Helpers of the fuzz tests: example counters, the per-example hang guard, scaled example counts."""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

COUNTS: Counter[str] = Counter()
# Per-example ceiling: hypothesis' deadline reports slow examples; the alarm below stops a real hang.
DEADLINE_MS = 5000  # generous: this 2-core machine is shared (load 10-20); a real hang is stopped by `no_hang`
HANG_SECONDS = 15.0


def scale(n: int) -> int:
    """An example count, times KFLOW_FUZZ_SCALE (e.g. 10 for a long local run)."""
    return max(1, int(n * float(os.environ.get("KFLOW_FUZZ_SCALE", "1"))))


def count(test: str) -> None:
    COUNTS[test] += 1


class Hang(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception` in the code under test swallows it."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    def fire(_sig: int, _frame: object) -> None:
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
