"""Fixtures for the GCP tests: the emulators (scripts/gcp-emulators.sh), a service-account key made
for the test, Google's own clients to look at what the flows wrote, and `kflow run` in a fresh home."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
for folder in (TESTS, Path(__file__).parent):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from gcp_support import clients, kflow_cmd, make_service_account, start_emulators  # noqa: E402

from fixtures.taxi_server import TaxiServer  # noqa: E402


@pytest.fixture(scope="session")
def gcp_env() -> dict[str, str]:
    return start_emulators()


@pytest.fixture(scope="session")
def service_account() -> dict[str, str]:
    return make_service_account()


@pytest.fixture(scope="session")
def taxi_cache(tmp_path_factory) -> Path:
    base = os.environ.get("KFLOW_CACHE")
    if base:
        path = Path(base) / "taxi-data"
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("taxi-cache")


@pytest.fixture
def taxi_server(tmp_path, taxi_cache):
    with TaxiServer(tmp_path / "taxi-server", cache_dir=taxi_cache) as server:
        yield server


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    data: dict

    @property
    def state(self) -> str:
        return self.data.get("state", f"<no JSON, exit {self.rc}>: {self.stderr[-3000:]}")

    def task(self, task_id: str) -> dict:
        runs = [t for t in self.data.get("taskRuns", []) if t["taskId"] == task_id]
        assert runs, f"no task run {task_id}: {self.stdout[-2000:]} {self.stderr[-2000:]}"
        return runs[-1]

    def states(self) -> dict[str, str]:
        return {t["taskId"]: t["state"] for t in self.data.get("taskRuns", [])}

    def failed(self) -> list[dict]:
        return [t for t in self.data.get("taskRuns", []) if t["state"] == "FAILED"]


class Kflow:
    """`kflow run` with its own KFLOW_HOME (KV store, history), the emulators' endpoints and the fake wget."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home = home
        self.env = env

    def run(self, flow: Path | str, *args: str, **inputs: str) -> Run:
        cmd = [*kflow_cmd(), "run", str(flow), "--json", *args]
        for k, v in inputs.items():
            cmd += ["-i", f"{k}={v}"]
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=900, cwd=self.home)
        try:
            data = json.loads(res.stdout)
        except ValueError:
            data = {}
        return Run(res.returncode, res.stdout, res.stderr, data)

    def settings(self, **values: str) -> None:
        """KV entries of the `zoomcamp` namespace, written to the store as a user does from the UI (the
        key must not pass through an execution's inputs, which the history keeps)."""
        from datetime import UTC, datetime

        from kflow.kv.local import FileKVStore
        from kflow.kv.model import kv_set

        store = FileKVStore(self.home / "kv")
        for key, value in values.items():
            kv_set(store, "zoomcamp", key, value, datetime.now(UTC), kv_type="STRING")

    def everything_written(self) -> str:
        """Every file kflow wrote under its home except the KV store (history, logs, outputs)."""
        parts = []
        for path in self.home.rglob("*"):
            if path.is_file() and "kv" not in path.relative_to(self.home).parts:
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)


@pytest.fixture
def kflow(tmp_path, gcp_env, taxi_server) -> Kflow:
    home = tmp_path / "home"
    home.mkdir()
    env = taxi_server.env(dict(os.environ))
    env.update(gcp_env)
    env["KFLOW_HOME"] = str(home)
    return Kflow(home, env)


@pytest.fixture
def names() -> dict[str, str]:
    """A bucket and a dataset of this test alone (the emulators are shared by the whole session)."""
    tag = uuid.uuid4().hex[:10]
    return {"bucket": f"kflow-test-{tag}", "dataset": f"zoomcamp_{tag}", "project": "kflow-test"}


@pytest.fixture
def gcs(gcp_env):
    return clients(gcp_env)[0]


@pytest.fixture
def bq(gcp_env):
    return clients(gcp_env)[1]
