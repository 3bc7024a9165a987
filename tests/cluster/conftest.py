"""Fixtures for tests against the local control plane started by `make cluster-up`.

The cluster is never started here and a missing cluster is a failure, not a skip:
CI must run `make cluster-up` first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clusterlib import Cluster, cluster  # noqa: F401  (the session fixture)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:  # noqa: F811  (the fixture, by name)
    ns = cluster.new_namespace()
    yield ns
    cluster.delete_namespace(ns)


def pytest_collection_modifyitems(config, items):
    """Run the resilience tests (they kill and restart cluster processes) after everything else, and
    the hygiene test (it takes the whole cluster down and starts a new one) last."""
    order = ("test_cluster_resilience.py", "test_cluster_hygiene.py")

    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i + 1 for i, name in enumerate(order) if path.endswith(name)), 0)

    items.sort(key=rank)  # stable: everything else keeps its order
