"""The zoomcamp taxi flows, unchanged, run by `kflow run` against the test server.

The flows keep their own `pluginDefaults` (localhost:5432/ny_taxi); a forced global default
(`--plugin-defaults`) points them at a fresh test database, and the fake `wget` of the taxi fixture
serves the release files from 127.0.0.1.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "flows" / "02_postgres_taxi.yaml"
SCHEDULED = REPO / "flows" / "02_postgres_taxi_scheduled.yaml"
PG_TASKS = {"yellow_table", "yellow_create_staging_table", "green_table", "green_create_staging_table",
            "truncate_table", "green_copy_in_to_staging_table", "yellow_copy_in_to_staging_table",
            "yellow_add_unique_id_and_filename", "green_add_unique_id_and_filename", "yellow_merge_data",
            "green_merge_data"}


def kflow_cmd() -> list[str]:
    exe = shutil.which("kflow")
    return [exe] if exe else [sys.executable, "-m", "kflow.cli"]


class FlowRun:
    def __init__(self, rc: int, stdout: str, stderr: str):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        try:
            self.data = json.loads(stdout)
        except ValueError:
            self.data = {}

    @property
    def state(self) -> str:
        return self.data.get("state", f"<no JSON, exit {self.rc}>: {self.stderr[-3000:]}")

    def task(self, task_id: str) -> dict:
        runs = [t for t in self.data.get("taskRuns", []) if t["taskId"] == task_id]
        assert runs, f"no task run {task_id}: {self.stdout[-3000:]} {self.stderr[-3000:]}"
        return runs[-1]

    def states(self) -> dict[str, str]:
        return {t["taskId"]: t["state"] for t in self.data.get("taskRuns", [])}

    def failed(self) -> list[dict]:
        return [t for t in self.data.get("taskRuns", []) if t["state"] == "FAILED"]


@pytest.fixture
def run_flow(tmp_path, taxi_server):
    """run_flow(db, taxi=..., year=..., month=..., flow=FLOW, password=..., url=...) -> FlowRun."""

    def run(db, flow: Path = FLOW, url: str | None = None, password: str | None = None, **inputs) -> FlowRun:
        defaults = tmp_path / f"defaults-{len(list(tmp_path.glob('defaults-*')))}.yaml"
        defaults.write_text(
            "- type: io.kestra.plugin.jdbc.postgresql\n"
            "  forced: true\n"
            "  values:\n"
            f"    url: {url or db.jdbc_url}\n"
            f"    username: {db.user}\n"
            f"    password: {json.dumps(password or db.password)}\n")
        cmd = [*kflow_cmd(), "run", str(flow), "--json", "--plugin-defaults", str(defaults),
               "--storage", str(tmp_path / "storage")]
        for k, v in inputs.items():
            cmd += ["-i", f"{k}={v}"]
        res = subprocess.run(cmd, env=taxi_server.env(), capture_output=True, text=True, timeout=600,
                             cwd=tmp_path)
        return FlowRun(res.returncode, res.stdout, res.stderr)

    return run


def _count(db, table: str) -> int:
    return db.scalar(f"SELECT count(*) FROM {table}")


def _by_file(db, table: str) -> dict[str, int]:
    return dict(db.rows(f"SELECT filename, count(*) FROM {table} GROUP BY filename ORDER BY filename"))


def _corrupt(taxi_server, taxi: str, year: int, month: int, rows: int, line: int, text: str) -> None:
    """Serve the month with line `line` (1-based, header = 1) replaced by `text`."""
    from fixtures import taxi_data

    good = taxi_server.add_month(taxi, year, month, rows=rows, seed=99)
    lines = gzip.decompress(good.read_bytes()).decode().splitlines(keepends=True)
    lines[line - 1] = text + "\n"
    taxi_server.put(taxi, taxi_data.file_name(taxi, year, month) + ".gz",
                    gzip.compress("".join(lines).encode()))


def test_flows_validate():
    res = subprocess.run([*kflow_cmd(), "validate", "-v", str(FLOW), str(SCHEDULED)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_green_month_loads_and_merge_is_idempotent(pg_db, taxi_server, run_flow):
    taxi_server.add_month("green", 2019, 1, rows=100_000, seed=1)
    first = run_flow(pg_db, taxi="green", year="2019", month="01")
    assert first.state == "SUCCESS", first.failed() or first.state
    assert first.rc == 0
    assert first.data["labels"].get("file") == "green_tripdata_2019-01.csv"
    assert first.data["labels"].get("taxi") == "green"
    states = first.states()
    assert all(states[t] == "SKIPPED" for t in states if t.startswith("yellow_")), states
    assert first.data["outputs"]["green_copy_in_to_staging_table"]["rowCount"] == 100_000
    assert _count(pg_db, "public.green_tripdata") == 100_000
    assert _count(pg_db, "public.green_tripdata_staging") == 100_000
    assert _by_file(pg_db, "public.green_tripdata") == {"green_tripdata_2019-01.csv": 100_000}
    assert pg_db.scalar("SELECT count(DISTINCT unique_row_id) FROM public.green_tripdata") == 100_000

    again = run_flow(pg_db, taxi="green", year="2019", month="01")
    assert again.state == "SUCCESS", again.failed()
    assert _count(pg_db, "public.green_tripdata") == 100_000  # MERGE inserted nothing

    taxi_server.add_month("green", 2019, 2, rows=20_000, seed=2)
    feb = run_flow(pg_db, taxi="green", year="2019", month="02")
    assert feb.state == "SUCCESS", feb.failed()
    assert _by_file(pg_db, "public.green_tripdata") == {"green_tripdata_2019-01.csv": 100_000,
                                                        "green_tripdata_2019-02.csv": 20_000}
    assert _count(pg_db, "public.green_tripdata_staging") == 20_000  # truncated per run


def test_yellow_month_loads(pg_db, taxi_server, run_flow, tmp_path):
    taxi_server.add_month("yellow", 2019, 1, rows=100_000, seed=3)
    res = run_flow(pg_db, taxi="yellow", year="2019", month="01")
    assert res.state == "SUCCESS", res.failed() or res.state
    states = res.states()
    assert all(states[t] == "SKIPPED" for t in states if t.startswith("green_")), states
    assert states["purge_files"] == "SUCCESS"
    assert _by_file(pg_db, "public.yellow_tripdata") == {"yellow_tripdata_2019-01.csv": 100_000}
    # values went through typed columns: timestamps inside the month, ids 1-265
    lo, hi = pg_db.rows("SELECT min(tpep_pickup_datetime), max(tpep_pickup_datetime) FROM yellow_tripdata")[0]
    assert lo >= datetime(2019, 1, 1) and hi < datetime(2019, 2, 1)
    outside = "SELECT count(*) FROM yellow_tripdata WHERE pulocationid::int NOT BETWEEN 1 AND 265"
    assert pg_db.scalar(outside) == 0
    # purge_files removed the downloaded CSV from internal storage
    assert not [p for p in (tmp_path / "storage").rglob("*.csv")]
    # a second month adds its rows, the first stays
    taxi_server.add_month("yellow", 2019, 2, rows=5_000, seed=4)
    res = run_flow(pg_db, taxi="yellow", year="2019", month="02")
    assert res.state == "SUCCESS", res.failed()
    assert _by_file(pg_db, "public.yellow_tripdata") == {"yellow_tripdata_2019-01.csv": 100_000,
                                                         "yellow_tripdata_2019-02.csv": 5_000}


# --- failures: each fails the task with a clear message and leaves the final table unchanged ---------

@pytest.fixture
def loaded_green(pg_db, taxi_server, run_flow):
    taxi_server.add_month("green", 2019, 1, rows=3_000, seed=5)
    res = run_flow(pg_db, taxi="green", year="2019", month="01")
    assert res.state == "SUCCESS", res.failed()
    return pg_db.rows("SELECT unique_row_id FROM public.green_tripdata ORDER BY 1")


def _unchanged(db, before) -> bool:
    return db.rows("SELECT unique_row_id FROM public.green_tripdata ORDER BY 1") == before


def test_malformed_csv_row_fails_copy_in(pg_db, taxi_server, run_flow, loaded_green):
    _corrupt(taxi_server, "green", 2019, 2, rows=2_000, line=1234,
             text="2,2019-02-03 10:00:00,2019-02-03 10:10:00,N,1,7,8,one,1.2,6.5,0,0.5,0,0,,0.3,7.3,2,1,0")
    res = run_flow(pg_db, taxi="green", year="2019", month="02")
    assert res.rc == 1 and res.state == "FAILED"
    failed = res.failed()
    assert [t["taskId"] for t in failed] == ["green_copy_in_to_staging_table"]
    msg = failed[0]["error"]
    assert 'invalid input syntax for type integer: "one"' in msg and "line 1234" in msg, msg
    assert res.states().get("green_merge_data") in (None, "CREATED")  # never ran
    assert _unchanged(pg_db, loaded_green)
    assert _count(pg_db, "public.green_tripdata_staging") == 0  # the COPY was rolled back


def test_wrong_column_list_fails_copy_in(pg_db, taxi_server, run_flow, loaded_green, tmp_path):
    flow = tmp_path / "wrong_columns.yaml"
    text = FLOW.read_text()
    assert "columns: [VendorID,lpep_pickup_datetime," in text
    flow.write_text(text.replace("columns: [VendorID,lpep_pickup_datetime,",
                                 "columns: [VendorID,pickup_datetime,"))
    taxi_server.add_month("green", 2019, 2, rows=1_000, seed=6)
    res = run_flow(pg_db, flow=flow, taxi="green", year="2019", month="02")
    assert res.rc == 1 and res.state == "FAILED"
    failed = res.failed()
    assert [t["taskId"] for t in failed] == ["green_copy_in_to_staging_table"]
    error = failed[0]["error"]
    assert 'column "pickup_datetime" of relation "green_tripdata_staging" does not exist' in error
    assert _unchanged(pg_db, loaded_green)


def test_file_with_wrong_layout_fails_copy_in(pg_db, taxi_server, run_flow, loaded_green):
    from fixtures import taxi_data

    yellow = taxi_server.add_month("yellow", 2019, 3, rows=500, seed=7)
    taxi_server.put("green", taxi_data.file_name("green", 2019, 3) + ".gz", yellow.read_bytes())
    res = run_flow(pg_db, taxi="green", year="2019", month="03")
    assert res.rc == 1
    failed = res.failed()
    assert [t["taskId"] for t in failed] == ["green_copy_in_to_staging_table"]
    assert "COPY green_tripdata_staging" in failed[0]["error"]
    assert _unchanged(pg_db, loaded_green)


def test_unreachable_server_fails_first_postgres_task(pg_db, taxi_server, run_flow, loaded_green):
    taxi_server.add_month("green", 2019, 2, rows=1_000, seed=8)
    res = run_flow(pg_db, url="jdbc:postgresql://127.0.0.1:1/ny_taxi", taxi="green", year="2019", month="02")
    assert res.rc == 1 and res.state == "FAILED"
    failed = res.failed()
    assert [t["taskId"] for t in failed] == ["green_table"]
    assert "could not connect to PostgreSQL at 127.0.0.1:1/ny_taxi" in failed[0]["error"]
    assert _unchanged(pg_db, loaded_green)


def test_wrong_password_fails_and_never_shows_it(pg_db, taxi_server, run_flow, loaded_green):
    taxi_server.add_month("green", 2019, 2, rows=1_000, seed=9)
    wrong = "Wr0ng-Pa55word"
    res = run_flow(pg_db, password=wrong, taxi="green", year="2019", month="02")
    assert res.rc == 1 and res.state == "FAILED"
    failed = res.failed()
    assert [t["taskId"] for t in failed] == ["green_table"]
    assert 'password authentication failed for user "root"' in failed[0]["error"]
    assert wrong not in res.stdout and wrong not in res.stderr
    assert _unchanged(pg_db, loaded_green)


# --- the scheduled flow: dates come from trigger.date --------------------------------------------

def test_scheduled_flow_uses_trigger_date(pg_db, taxi_server, tmp_path):
    from kflow.model.loader import load_flow_file
    from kflow.runner.local import LocalRunner

    defaults = [{"type": "io.kestra.plugin.jdbc.postgresql", "forced": True,
                 "values": {"url": pg_db.jdbc_url, "username": pg_db.user, "password": pg_db.password}}]
    loaded = load_flow_file(SCHEDULED, defaults)
    flow = loaded.flow
    assert flow.concurrency.limit == 1
    crons = {t.id: t.cron for t in flow.triggers}
    assert crons == {"green_schedule": "0 9 1 * *", "yellow_schedule": "0 10 1 * *"}
    taxi_server.add_month("green", 2019, 3, rows=2_000, seed=10)
    runner = LocalRunner(flow, storage_root=tmp_path / "storage", env=taxi_server.env())
    date = datetime(2019, 3, 1, 9, 0, tzinfo=UTC)
    ex = runner.run({"taxi": "green"}, trigger={"date": date.isoformat(), "id": "green_schedule",
                                                "type": "io.kestra.plugin.core.trigger.Schedule"})
    assert ex.state.value == "SUCCESS", [(t.taskId, t.error) for t in ex.taskRuns if t.error]
    assert _by_file(pg_db, "public.green_tripdata") == {"green_tripdata_2019-03.csv": 2_000}
