"""System labels Kestra puts on every execution (the `system.` prefix is reserved to them)."""

from __future__ import annotations

CORRELATION_ID = "system.correlationId"


def with_system_labels(labels: dict[str, str], execution_id: str) -> dict[str, str]:
    """`system.correlationId` is the execution's own id unless it was given (a subflow or a retry
    inherits its parent's), as in Kestra >= 0.20."""
    if labels.get(CORRELATION_ID):
        return labels
    return {**labels, CORRELATION_ID: execution_id}
