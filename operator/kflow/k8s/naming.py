"""Deterministic, DNS-1123-safe names: creating the same thing twice always hits the same name (409)."""

from __future__ import annotations

import hashlib
import re

LABEL_PREFIX = "kflow.dev"
L_FLOW = f"{LABEL_PREFIX}/flow"
L_EXECUTION = f"{LABEL_PREFIX}/execution"
L_TASK = f"{LABEL_PREFIX}/task"
L_TASK_RUN = f"{LABEL_PREFIX}/task-run"
L_ATTEMPT = f"{LABEL_PREFIX}/attempt"
L_MANAGED = "app.kubernetes.io/managed-by"
A_TASK_RUN_ID = f"{LABEL_PREFIX}/task-run-id"


def dns_label(text: str, limit: int = 63) -> str:
    """Lower-case, [a-z0-9-], at most `limit` chars; a hash suffix keeps truncated names unique."""
    clean = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "x"
    if len(clean) <= limit and clean == text:
        return clean
    digest = hashlib.sha1(text.encode()).hexdigest()[:8]
    if len(clean) + 9 <= limit and clean != text:
        return f"{clean}-{digest}"
    return f"{clean[: limit - 9].rstrip('-')}-{digest}"


def label_value(text: str) -> str:
    """A valid label value (63 chars, alphanumeric at both ends)."""
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-._")
    if len(clean) > 63:
        clean = clean[:54].rstrip("-._") + "-" + hashlib.sha1(text.encode()).hexdigest()[:8]
    return clean


def pod_name(execution: str, task_run_id: str, attempt: int) -> str:
    return dns_label(f"{execution}-{task_run_id}-{attempt}")


def pvc_name(execution: str) -> str:
    return dns_label(f"{execution}-storage")


def flow_snapshot_name(execution: str) -> str:
    return dns_label(f"{execution}-flow")


def outputs_name(execution: str, task_run_id: str) -> str:
    return dns_label(f"{execution}-out-{task_run_id}")
