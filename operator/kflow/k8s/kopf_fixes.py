"""A fix to kopf's namespace discovery, installed when the operator module is imported (before kopf runs).

With a namespace pattern (`--namespace 'team-*'`) kopf lists the namespaces once, then starts a namespace
watch that lists them a second time and ignores that listing (kopf 1.44-1.45:
kopf/_core/reactor/observation.py, process_discovered_namespace_event returns on `type is None`). A
namespace created between the two listings is never watched until something about it changes, at the
latest its deletion: its Executions sit CREATED. Seen in our tests, whose namespaces are created right
after the operator's liveness probe answers. The fix lets the second listing count too (adding a
namespace that is already known changes nothing).
"""

from __future__ import annotations

from typing import Any


def install() -> bool:
    """True when the fix is in place (False: this kopf has no such function; nothing changed)."""
    try:
        from kopf._core.reactor import observation
    except ImportError:
        return False
    original = getattr(observation, "process_discovered_namespace_event", None)
    if original is None:
        return False
    if getattr(original, "kflow_fix", False):
        return True

    async def process_discovered_namespace_event(*, raw_event: Any, **kwargs: Any) -> None:
        if raw_event.get("type") is None:  # an item of the watch's initial listing
            raw_event = {**raw_event, "type": "ADDED"}
        await original(raw_event=raw_event, **kwargs)

    process_discovered_namespace_event.kflow_fix = True  # type: ignore[attr-defined]
    observation.process_discovered_namespace_event = process_discovered_namespace_event
    return True
