"""The 2026 zoomcamp module-2 flows (non-GCP, non-AI) validate, and the Postgres-free ones run offline.
(The Postgres taxi flows run in tests/postgres/test_zoomcamp_2026.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FLOWS = ["01_hello_world.yaml", "02_python.yaml", "03_getting_started_data_pipeline.yaml",
         "04_postgres_taxi.yaml", "05_postgres_taxi_scheduled.yaml"]


def kflow(*args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "kflow.cli", args[0], *(["--storage", str(tmp / "st")] if args[0] == "run" else []),
           *args[1:]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)


def test_every_2026_flow_validates(tmp_path: Path) -> None:
    res = kflow("validate", *(str(REPO / "flows" / f) for f in FLOWS), tmp=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_getting_started_2026_uses_duckdb_queries(tmp_path: Path) -> None:
    res = kflow("run", "flows/03_getting_started_data_pipeline.yaml", "--json", tmp=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    doc = json.loads(res.stdout)
    results = doc["outputs"]["query"]["outputs"]
    assert len(results) == 1  # INSTALL/LOAD give no result set; the SELECT gives the one stored file
    assert results[0]["uri"].endswith(".ion") and results[0]["size"] > 5
    from kflow.runner.storage import ExecutionStorage
    from kflow.tasks.ion import read_rows

    storage = ExecutionStorage(tmp_path / "st" / "zoomcamp" / "03_getting_started_data_pipeline" / "executions"
                               / doc["id"], "zoomcamp", "03_getting_started_data_pipeline", doc["id"])
    rows = list(read_rows(storage.resolve(results[0]["uri"])))
    assert set(rows[0]) == {"brand", "avg_price"}
    assert [r["avg_price"] for r in rows] == sorted((r["avg_price"] for r in rows), reverse=True)


def test_hello_world_2026(tmp_path: Path) -> None:
    res = kflow("run", "flows/01_hello_world.yaml", "-i", "name=Ada", "--json", tmp=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    doc = json.loads(res.stdout)
    assert doc["state"] == "SUCCESS"
    assert doc["outputs"]["generate_output"] == {"value": "I was generated during this workflow."}
    assert [t["taskId"] for t in doc["taskRuns"]][-1] == "goodbye_message"


class _Hub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path == "/v2/repositories/kestra/kestra/"
        body = json.dumps({"name": "kestra", "pull_count": 31337} if found else {}).encode()
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_python_2026_reads_the_docker_hub_api_without_pip(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = f"http://127.0.0.1:{server.server_address[1]}/v2/repositories"
        res = kflow("run", "flows/02_python.yaml", "-i", f"docker_hub_api={api}", "--json", tmp=tmp_path)
    finally:
        server.shutdown()
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads(res.stdout)["outputs"]["collect_stats"]["vars"] == {"downloads": 31337}
