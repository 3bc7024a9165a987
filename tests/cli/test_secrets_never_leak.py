"""Secrets never leak from `kflow run` (issue 17, point 5): a flow puts `secret('X')` (Kestra's
base64 `SECRET_X` environment variables) into a Log, a shell's env and echo, a task output, SQL
(url, password, query, result), an HTTP Request and a Download; then stdout, stderr and everything
under KFLOW_HOME (storage, history, outputs, logs) are scanned for the values, plain, base64 and
URL-encoded. Values a task outputs are masked (`******`), like the logs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clilib import kflow

from fixtures import secret_scan as ss
from fixtures.postgres import pg_db, pg_server  # noqa: F401

pytestmark = pytest.mark.postgres


def _run(tmp_path: Path, values: dict[str, str], db, http: str, extra_env: dict[str, str] | None = None):
    role = ss.pg_role(db, values["PG_PASSWORD"])
    try:
        flow = tmp_path / "leaky.yaml"
        flow.write_text(ss.flow_yaml("leaky", http=http, pg_host=db.host, pg_port=db.port, pg_db=db.name,
                                     pg_user=role))
        home = tmp_path / "home"
        env = {"KFLOW_HOME": str(home), **ss.b64(values), **(extra_env or {})}
        result = kflow("run", str(flow), "--json", cwd=tmp_path, env=env, timeout=120)
    finally:
        ss.drop_role(db, role)
    return result, home


def test_kflow_run_leaks_no_secret(tmp_path: Path, pg_db):  # noqa: F811
    values = ss.new_secrets()
    server = ss.Recorder("127.0.0.1")
    try:
        result, home = _run(tmp_path, values, pg_db, server.url)
    finally:
        server.close()
    assert result.returncode == 0, result.stdout + result.stderr
    server.check(values)
    doc = json.loads(result.stdout)
    outputs = doc["outputs"]
    # the mask stands where a secret was: outputs (a shell's, Return's, the SQL result, the URL)
    assert outputs["shell"]["vars"]["leak"] == "******"
    assert outputs["out"]["value"] == "******"
    assert outputs["pg"]["row"] == {"tok": "******", "who": outputs["pg"]["row"]["who"]}
    assert outputs["request"]["uri"].endswith("/echo?token=******&plain=******"), outputs["request"]

    scan = ss.Scanner(values)
    scan.text("stdout", result.stdout)
    scan.text("stderr", result.stderr)
    scan.tree(home)
    scan.tree(tmp_path / "leaky.yaml")  # the flow names secret('X') only: nothing to find
    print(scan.report())
    assert scan.objects > 5 and scan.bytes > 1000, scan.report()
    assert not scan.findings, scan.report()
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*") if p.is_file())
    assert "token ****** weird ******" in logs + result.stdout + result.stderr


def test_the_scan_finds_a_planted_leak(tmp_path: Path):
    values = {"A": ss.random_secret("A", odd=True), "B": ss.random_secret("B")}
    home = tmp_path / "home"
    (home / "storage" / "x").mkdir(parents=True)
    from urllib.parse import quote

    (home / "storage" / "x" / "leak.txt").write_text(f"?q={quote(values['A'], safe='')}")
    scan = ss.Scanner(values)
    scan.tree(home)
    scan.text("stdout", "all good, " + ss.forms(values["B"])["base64"])
    assert scan.findings == [("A", "url", str(home / "storage" / "x" / "leak.txt")), ("B", "base64", "stdout")]
