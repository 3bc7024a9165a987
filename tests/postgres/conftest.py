"""Fixtures for the PostgreSQL tests: a real server (scripts/postgres.sh), one database per test,
the synthetic taxi files served over HTTP with a fake `wget`."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from fixtures.taxi_server import TaxiServer  # noqa: E402


def _load_harness():
    # Loaded under its own name: other test folders may have a `harness` module too.
    name = "kflow_pg_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("harness.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


HarnessContext = _load_harness().HarnessContext

from fixtures.postgres import HOST, PASSWORD, PORT, USER, Database, pg_db, pg_server  # noqa: E402, F401


@pytest.fixture
def harness(tmp_path):
    def make(task_id: str = "task", **variables) -> HarnessContext:
        return HarnessContext(tmp_path, task_id=task_id, variables=variables)

    return make


@pytest.fixture(scope="session")
def taxi_cache(tmp_path_factory) -> Path:
    """Generated files are reused across the session (and across runs when KFLOW_CACHE is set)."""
    base = os.environ.get("KFLOW_CACHE")
    if base:
        path = Path(base) / "taxi-data"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("taxi-cache")


@pytest.fixture
def taxi_server(tmp_path, taxi_cache):
    """HTTP server with the month files + `bin_dir` holding the fake wget (prepend it to PATH)."""
    with TaxiServer(tmp_path / "taxi-server", cache_dir=taxi_cache) as server:
        yield server
