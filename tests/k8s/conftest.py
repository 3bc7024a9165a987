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

from clusterlib import REPO, Cluster, cluster, poll  # noqa: F401  (cluster: the session fixture)

CRD_NAMES = ("flows.kflow.dev", "executions.kflow.dev", "crontriggers.kflow.dev")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:  # noqa: F811  (the fixture, by name)
    from operator_harness import SESSION_PREFIX

    ns = cluster.new_namespace(prefix=SESSION_PREFIX)
    yield ns
    cluster.delete_namespace(ns)


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:  # noqa: F811
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


@pytest.fixture
def pod_pg(pg_db):  # noqa: F811  (the fixture, by name)
    """The test database as task pods reach it: at the node's address (scripts/postgres.sh listens there)."""
    import dataclasses

    from clusterlib import node_address

    return dataclasses.replace(pg_db, host=node_address())


@pytest.fixture
def products_url():
    """flows/data served on the node's address, where task pods (real containers) can download it."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from clusterlib import node_address

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((node_address(), 0), functools.partial(Quiet, directory=str(REPO / "flows" / "data")))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{node_address()}:{server.server_address[1]}/products.json"
    server.shutdown()
    server.server_close()
