"""The scheduled taxi flow, unchanged, on this machine: `kflow run --trigger-date` sets trigger.date (so the
January 2019 file is loaded), and `kflow backfill --local` runs a range of ticks in order, each recorded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
SCHEDULED = REPO / "flows" / "02_postgres_taxi_scheduled.yaml"


def _defaults(tmp_path: Path, db) -> Path:
    path = tmp_path / "defaults.yaml"
    path.write_text("- type: io.kestra.plugin.jdbc.postgresql\n  forced: true\n  values:\n"
                    f"    url: {db.jdbc_url}\n    username: {db.user}\n    password: {json.dumps(db.password)}\n")
    return path


def _kflow(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args], env={**env, "NO_COLOR": "1"}, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_run_with_trigger_date_loads_that_month(pg_db, taxi_server, tmp_path):
    taxi_server.add_month("green", 2019, 1, rows=1_500, seed=3)
    storage = tmp_path / "storage"
    res = _kflow("run", str(SCHEDULED), "-i", "taxi=green", "--trigger-date", "2019-01-01T09:00:00",
                 "--plugin-defaults", str(_defaults(tmp_path, pg_db)), "--storage", str(storage),
                 env=taxi_server.env(), cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "ended SUCCESS" in res.stdout and "file=green_tripdata_2019-01.csv" in res.stdout
    rows = dict(pg_db.rows("SELECT filename, count(*) FROM public.green_tripdata GROUP BY filename"))
    assert rows == {"green_tripdata_2019-01.csv": 1_500}
    doc = json.loads(_kflow("get", "@latest", "-o", "json", "--storage", str(storage), env=taxi_server.env(),
                            cwd=tmp_path).stdout)
    assert doc["trigger"] == {"date": "2019-01-01T09:00:00+00:00", "next": "2019-02-01T09:00:00+00:00",
                              "previous": "2018-12-01T09:00:00+00:00", "id": "green_schedule",
                              "type": "io.kestra.plugin.core.trigger.Schedule"}
    bad = _kflow("run", str(SCHEDULED), "--trigger-date", "January", env=taxi_server.env(), cwd=tmp_path)
    assert bad.returncode == 2 and "--trigger-date: expected an ISO-8601 date" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_backfill_local_runs_the_ticks_in_order(pg_db, taxi_server, tmp_path):
    for month in (2, 3):
        taxi_server.add_month("green", 2019, month, rows=800 + month, seed=month)
    storage = tmp_path / "storage"
    res = _kflow("backfill", "--local", str(SCHEDULED), "--trigger", "green_schedule", "--start", "2019-02-01",
                 "--end", "2019-03-31", "--plugin-defaults", str(_defaults(tmp_path, pg_db)),
                 "--storage", str(storage), env=taxi_server.env(), cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "2 tick(s) of zoomcamp.02_postgres_taxi_scheduled trigger green_schedule" in res.stdout
    assert "1 at a time" in res.stdout  # the flow's concurrency limit
    rows = dict(pg_db.rows("SELECT filename, count(*) FROM public.green_tripdata GROUP BY filename"))
    assert rows == {"green_tripdata_2019-02.csv": 802, "green_tripdata_2019-03.csv": 803}
    listed = json.loads(_kflow("list", "-o", "json", "--storage", str(storage), env=taxi_server.env(),
                               cwd=tmp_path).stdout)
    # newest first: March ran after February, one at a time
    assert [d["trigger"]["date"][:10] for d in listed] == ["2019-03-01", "2019-02-01"]
    assert listed[1]["endDate"] <= listed[0]["startDate"]
    assert all(d["state"] == "SUCCESS" and d["inputs"]["taxi"] == "green" for d in listed)
