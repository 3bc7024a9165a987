"""The kopf namespace-discovery fix (kflow.k8s.kopf_fixes), against kopf's own observer code."""

from __future__ import annotations

import asyncio

from kopf._cogs.structs import references
from kopf._core.reactor import observation

from kflow.k8s import kopf_fixes


def _discover(event_type: str | None, name: str) -> set:
    insights = references.Insights()
    event = {"type": event_type, "object": {"metadata": {"name": name}}}
    asyncio.run(observation.process_discovered_namespace_event(
        raw_event=event, namespaces=["team-*"], insights=insights))
    return set(insights.namespaces)


def test_a_namespace_seen_only_in_the_watch_listing_is_watched():
    assert kopf_fixes.install()  # the operator module installs it on import; installing twice is harmless
    assert kopf_fixes.install()
    # A namespace created between kopf's first listing and its watch's listing arrives as a listing item.
    assert _discover(None, "team-a") == {"team-a"}
    assert _discover("ADDED", "team-b") == {"team-b"}
    assert _discover(None, "other") == set()  # the pattern still decides
