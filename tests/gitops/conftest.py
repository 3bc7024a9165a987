"""Fixtures of the GitOps tests: the test cluster, kflow's operator, Flux's controllers and a git server.

The cluster is the one of `make cluster-up` (a missing cluster is a failure, never a skip). The Flux
binaries come from tests/gitops/build.sh (`make test` runs it first; a cold build takes longer than a
test's timeout). Everything started here is stopped at the end of the session, also when tests fail.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "cluster"), str(HERE.parent / "k8s"), str(HERE)]

from clusterlib import REPO, Cluster, cluster, poll  # noqa: E402, F401  (cluster: the session fixture)
from fluxlib import PREFIX, Flux, build  # noqa: E402
from gitserver import GitServer  # noqa: E402
from operator_harness import LOGS, Operator  # noqa: E402

KFLOW_CRDS = ("flows.kflow.dev", "executions.kflow.dev", "crontriggers.kflow.dev")


@pytest.fixture(scope="session")
def flux(cluster: Cluster) -> Iterator[Flux]:  # noqa: F811  (the fixture, by name)
    f = Flux(cluster, build())
    try:
        f.start()
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="session")
def gitops_operator(cluster: Cluster) -> Iterator[Operator]:  # noqa: F811
    # The operator watches kflow's kinds from its start: the CRDs must exist before (Flux applies the
    # same files again later; applying identical CRDs changes nothing).
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    for crd in KFLOW_CRDS:
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s", timeout=90)
    op = Operator(cluster, namespaces=f"{PREFIX}-*")
    try:
        op.start()
        yield op
    finally:
        op.stop()


@pytest.fixture(scope="session")
def git_server() -> Iterator[GitServer]:
    root = Path(tempfile.mkdtemp(prefix="kflow-git-"))
    LOGS.mkdir(parents=True, exist_ok=True)
    with GitServer(root, LOGS / "gitserver.log") as server:
        yield server
