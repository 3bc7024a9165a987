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
    """Run the resilience tests (they kill and restart cluster processes) after everything else."""
    disruptive = [i for i in items if i.nodeid.split("::")[0].endswith("test_cluster_resilience.py")]
    if disruptive:
        items[:] = [i for i in items if i not in disruptive] + disruptive
