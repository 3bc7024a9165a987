"""The 2026 cohort's Postgres taxi flows (If branches, `duckdb`-free) on `kflow run`, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
TAXI = REPO / "flows" / "04_postgres_taxi.yaml"
SCHEDULED = REPO / "flows" / "05_postgres_taxi_scheduled.yaml"


def _defaults(tmp_path: Path, db) -> Path:
    path = tmp_path / "defaults.yaml"
    path.write_text("- type: io.kestra.plugin.jdbc.postgresql\n  forced: true\n  values:\n"
                    f"    url: {db.jdbc_url}\n    username: {db.user}\n    password: {json.dumps(db.password)}\n")
    return path


def test_2026_taxi_flow_loads_a_green_month_through_its_if_branch(pg_db, taxi_server, tmp_path):
    taxi_server.add_month("green", 2019, 1, rows=3_000, seed=21)
    cmd = [sys.executable, "-m", "kflow.cli", "run", str(TAXI), "--json", "--plugin-defaults",
           str(_defaults(tmp_path, pg_db)), "--storage", str(tmp_path / "storage"), "-i", "taxi=green",
           "-i", "year=2019", "-i", "month=01"]
    res = subprocess.run(cmd, env=taxi_server.env(), capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(res.stdout)
    states = {t["taskId"]: t["state"] for t in doc["taskRuns"]}
    assert states["if_green_taxi"] == "SUCCESS" and states["green_merge_data"] == "SUCCESS"
    assert "yellow_merge_data" not in states
    assert pg_db.scalar("SELECT count(*) FROM public.green_tripdata") == 3_000
    assert dict(pg_db.rows("SELECT filename, count(*) FROM public.green_tripdata GROUP BY 1")) == \
        {"green_tripdata_2019-01.csv": 3_000}


def test_2026_scheduled_flow_takes_its_month_from_the_trigger_date(pg_db, taxi_server, tmp_path):
    from kflow.model.loader import load_flow_file
    from kflow.runner.local import LocalRunner

    defaults = [{"type": "io.kestra.plugin.jdbc.postgresql", "forced": True,
                 "values": {"url": pg_db.jdbc_url, "username": pg_db.user, "password": pg_db.password}}]
    flow = load_flow_file(SCHEDULED, defaults).flow
    assert {t.id: t.cron for t in flow.triggers} == {"green_schedule": "0 9 1 * *", "yellow_schedule": "0 10 1 * *"}
    taxi_server.add_month("yellow", 2019, 4, rows=1_500, seed=22)
    runner = LocalRunner(flow, storage_root=tmp_path / "storage", env=taxi_server.env())
    date = datetime(2019, 4, 1, 10, 0, tzinfo=UTC)
    ex = runner.run({"taxi": "yellow"}, trigger={"date": date.isoformat(), "id": "yellow_schedule",
                                                 "type": "io.kestra.plugin.core.trigger.Schedule"})
    assert ex.state.value == "SUCCESS", [(t.taskId, t.error) for t in ex.taskRuns if t.error]
    assert dict(pg_db.rows("SELECT filename, count(*) FROM public.yellow_tripdata GROUP BY 1")) == \
        {"yellow_tripdata_2019-04.csv": 1_500}
