"""Does an execution need its own volume? Decided from the flow (pure).

The per-execution PersistentVolumeClaim is how task pods hand files to each other (and to a kept volume
after the end). A flow whose pods never share files needs none: at most one task of it runs in a pod, that
task runs once (no ForEach/Loop/WaitFor around it, no ForEachItem with its split and merge pods, no
WorkingDirectory), no Subflow child may read its files, and the volume is not kept after the end
(`keepVolume`). Such a task gets an `emptyDir`:
no claim, no provisioning, no binding, no clean-up (most of a one-task execution's API traffic).
"""

from __future__ import annotations

from typing import Any

from kflow.tasks.base import RunnableTask

REPEATING = ("io.kestra.plugin.core.flow.ForEach", "io.kestra.plugin.core.flow.Loop",
             "io.kestra.plugin.core.flow.WaitFor", "io.kestra.plugin.core.flow.ForEachItem",
             "io.kestra.plugin.core.flow.WorkingDirectory", "io.kestra.plugin.core.flow.EachSequential",
             "io.kestra.plugin.core.flow.EachParallel")


def needs_claim(flow: Any, keep_volume: bool) -> bool:
    if keep_volume:
        return True
    tasks = flow.all_tasks()
    if any(t.TYPE in REPEATING for t in tasks) or flow.retry is not None:
        return True
    if any(getattr(t, "child_execution", False) for t in tasks):  # a child may read the parent's files
        return True
    pods = [t for t in tasks if isinstance(t, RunnableTask) and not getattr(t, "child_execution", False)]
    return len(pods) > 1
