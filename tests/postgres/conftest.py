"""Fixtures for the PostgreSQL tests: a real server (scripts/postgres.sh), one database per test,
the synthetic taxi files served over HTTP with a fake `wget`."""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
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

HOST = "127.0.0.1"
PORT = int(os.environ.get("KFLOW_PG_PORT", "55432"))
USER = "root"
PASSWORD = "root"


@dataclass(frozen=True)
class Database:
    name: str
    host: str = HOST
    port: int = PORT
    user: str = USER
    password: str = PASSWORD

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.name}"

    def connection_props(self) -> dict[str, str]:
        return {"url": self.jdbc_url, "username": self.user, "password": self.password}

    def connect(self, **kw) -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, dbname=self.name, user=self.user,
                               password=self.password, autocommit=True, **kw)

    def execute(self, sql: str) -> None:
        """Run a script (several statements allowed)."""
        with self.connect() as conn:
            conn.execute(sql)

    def scalar(self, sql: str, params=None):
        with self.connect() as conn:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def rows(self, sql: str, params=None) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()


def _admin() -> psycopg.Connection:
    return psycopg.connect(host=HOST, port=PORT, dbname="postgres", user=USER, password=PASSWORD,
                           autocommit=True, connect_timeout=5)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The test server must be running: FAIL (never skip) with the way to start it."""
    try:
        with _admin() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.Error as e:
        pytest.fail(
            f"PostgreSQL is not reachable at {HOST}:{PORT} as {USER}/{PASSWORD}: {e}\n"
            f"Start the test server with `scripts/postgres.sh start` (port override: KFLOW_PG_PORT).",
            pytrace=False,
        )
    return version


@pytest.fixture
def pg_db(pg_server) -> Database:
    """A fresh database for one test, dropped afterwards."""
    name = f"kflow_t_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(name)
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
