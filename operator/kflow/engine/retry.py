"""When the next attempt of a failed task run may start (pure; `random` is seeded per attempt)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from kflow.model.common import Retry
from kflow.model.durations import parse_duration


def next_attempt_at(retry: Retry, attempts_done: int, first_start: datetime, now: datetime,
                    seed: str) -> datetime | None:
    """None when no attempt is left; `attempts_done` counts attempts made so far (>= 1)."""
    limit = retry.attempts_limit
    if limit is not None and attempts_done >= limit:
        return None
    if retry.type == "constant":
        delay = parse_duration(retry.interval or "PT0S")
    elif retry.type == "exponential":
        # Geometric growth as the Kestra docs describe (30s, 1m, 2m, 4m ...), capped by maxInterval.
        base = parse_duration(retry.interval or "PT0S")
        factor = retry.delayFactor or 2.0
        delay = base * (factor ** (attempts_done - 1))
        if retry.maxInterval:
            delay = min(delay, parse_duration(retry.maxInterval))
    else:
        low = parse_duration(retry.minInterval or "PT0S").total_seconds()
        high = parse_duration(retry.maxInterval or "PT0S").total_seconds()
        rng = random.Random(hashlib.sha256(f"{seed}:{attempts_done}".encode()).digest())
        delay = timedelta(seconds=rng.uniform(low, high))
    at = now + delay
    if retry.maxDuration and at > first_start + parse_duration(retry.maxDuration):
        return None
    if limit is None and not retry.maxDuration:
        return None  # neither bound given: Kestra would retry forever; we refuse to
    return at


def effective_retry(flow_retry: Retry | None, task_retry: Retry | None) -> Retry | None:
    """A task's own `retry` wins; a flow-level `retry` covers every task that has none (Kestra retries
    the failed task run itself for RETRY_FAILED_TASK, and the whole execution for CREATE_NEW_EXECUTION)."""
    return task_retry if task_retry is not None else flow_retry


def in_place(retry: Retry | None) -> Retry | None:
    """The policy that makes new attempts of the same task run (None for CREATE_NEW_EXECUTION)."""
    return retry if retry is not None and retry.behavior == "RETRY_FAILED_TASK" else None
