"""Fixtures shared by the tests of kflow's Kubernetes side (CRDs, chart, operator).

`cluster` and `namespace` are those of tests/cluster (the local control plane of `make cluster-up`): a
missing cluster is a failure, never a skip. `crds` applies the generated CRDs once per session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))

from clusterlib import REPO, STATE, Cluster, poll
from kubernetes import client

CRD_NAMES = ("flows.kflow.dev", "executions.kflow.dev", "crontriggers.kflow.dev")


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    if not (STATE / "kubeconfig").exists() or not (STATE / "env").exists():
        pytest.fail(f"local cluster is not up ({STATE}/kubeconfig missing): run `make cluster-up` first")
    c = Cluster()
    try:
        client.VersionApi(c.api).get_code(_request_timeout=10)
    except Exception as e:
        pytest.fail(f"local cluster at {STATE} is not answering ({e}): run `make cluster-up`")
    return c


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    from operator_harness import SESSION_PREFIX

    ns = cluster.new_namespace(prefix=SESSION_PREFIX)
    yield ns
    cluster.delete_namespace(ns)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:
    """The committed CRDs (crds/), applied and served. They are cluster-wide and left in place."""
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    for name in CRD_NAMES:
        poll(f"CRD {name} established", lambda n=name: cluster.kubectl(
            "get", "crd", n, "-o", 'jsonpath={.status.conditions[?(@.type=="Established")].status}',
            check=False).stdout == "True", 30)
    # Discovery lags a little behind Established.
    poll("flows, executions and crontriggers served",
         lambda: cluster.kubectl("get", "flows,executions,crontriggers", "-A", check=False).returncode == 0, 30)
    return cluster

from operator_harness import operator  # noqa: E402, F401  (the operator process fixture)

from fixtures.postgres import pg_db, pg_server  # noqa: E402, F401  (the test PostgreSQL)
