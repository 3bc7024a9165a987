"""Messages for unknown types and properties: say when Kestra has it but kflow does not, and suggest
the closest name kflow knows (difflib)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Kestra core types (io.kestra.plugin.core.*, and their pre-0.17 io.kestra.core.* names) kflow lacks.
KESTRA_CORE = frozenset({
    "io.kestra.plugin.core.flow.Dag", "io.kestra.plugin.core.flow.Subflow", "io.kestra.plugin.core.flow.Flow",
    "io.kestra.plugin.core.flow.ForEachItem", "io.kestra.plugin.core.flow.WorkingDirectory",
    "io.kestra.plugin.core.flow.Template", "io.kestra.plugin.core.flow.Loop", "io.kestra.plugin.core.flow.Exit",
    "io.kestra.plugin.core.flow.WaitFor", "io.kestra.plugin.core.flow.LoopUntil",
    "io.kestra.plugin.core.execution.Assert", "io.kestra.plugin.core.execution.Count",
    "io.kestra.plugin.core.execution.Exit", "io.kestra.plugin.core.execution.SetVariables",
    "io.kestra.plugin.core.execution.UnsetVariables", "io.kestra.plugin.core.execution.PurgeExecutions",
    "io.kestra.plugin.core.execution.Resume", "io.kestra.plugin.core.state.Set", "io.kestra.plugin.core.state.Get",
    "io.kestra.plugin.core.state.Delete", "io.kestra.plugin.core.log.Fetch", "io.kestra.plugin.core.log.PurgeLogs",
    "io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.core.http.SseRequest",
    "io.kestra.plugin.core.trigger.Toggle", "io.kestra.plugin.core.trigger.ScheduleOnDates",
    "io.kestra.plugin.core.templating.TemplatedTask", "io.kestra.plugin.core.namespace.UploadFiles",
    "io.kestra.plugin.core.namespace.DownloadFiles", "io.kestra.plugin.core.namespace.DeleteFiles",
    "io.kestra.plugin.core.storage.LocalFiles", "io.kestra.plugin.core.storage.Reverse",
    "io.kestra.plugin.core.storage.DeduplicateItems", "io.kestra.plugin.core.storage.FilterItems",
    "io.kestra.plugin.core.debug.Echo", "io.kestra.plugin.core.flow.Pause",
    "io.kestra.core.tasks.flows.Flow", "io.kestra.core.tasks.flows.Dag", "io.kestra.core.tasks.flows.Template",
    "io.kestra.core.tasks.flows.WorkingDirectory", "io.kestra.core.tasks.flows.Worker",
    "io.kestra.core.tasks.flows.ForEachItem", "io.kestra.core.tasks.flows.Subflow",
    "io.kestra.core.tasks.scripts.Bash", "io.kestra.core.tasks.scripts.Python", "io.kestra.core.tasks.scripts.Node",
    "io.kestra.core.tasks.states.Set", "io.kestra.core.tasks.storages.LocalFiles",
})


def _is_kestra(name: str) -> bool:
    # Every io.kestra.plugin.<package>.* outside core is a Kestra plugin; core types are listed.
    if name in KESTRA_CORE:
        return True
    return name.startswith("io.kestra.plugin.") and not name.startswith("io.kestra.plugin.core.")


def unknown_type(name: str, known: Iterable[str]) -> str:
    head = (f"Invalid type: {name} (a Kestra type not supported by kflow)" if _is_kestra(name)
            else f"Invalid type: {name}")
    return head + closest(name, known, "type")


def closest(name: str, known: Iterable[str], what: str) -> str:
    known = list(known)
    # Whole dotted names share long prefixes, so compare them strictly; then the last segment alone
    # (`Retrun` -> Return) within the same package when there is one.
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.94)
    if not match and "." in name:
        pkg, _, leaf = name.rpartition(".")
        leaves = {k.rpartition(".")[2]: k for k in sorted(known, key=lambda k: not k.startswith(pkg))}
        close = difflib.get_close_matches(leaf, list(leaves), n=1, cutoff=0.75)
        match = [leaves[close[0]]] if close else []
    elif not match:
        match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean the {what} `{match[0]}`?" if match else ""
