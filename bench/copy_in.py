"""CopyIn vs `psql \\copy` on the same 1,000,000-row yellow taxi CSV, plus the whole taxi flow's rows/s.

    scripts/postgres.sh start
    python bench/copy_in.py [--rows 1000000] [--repeat 3] [--no-flow]

Both loads go into identical fresh tables of one throw-away database (checked identical after),
alternating order; the best of `--repeat` runs of each is reported, with the ratio
CopyIn / psql (target <= 1.15). The flow part runs flows/02_postgres_taxi.yaml unchanged on the
same month through `kflow run` (the fake wget of tests/fixtures serves the file) and reports
rows/s end to end (download + gunzip + DDL + COPY + md5 + MERGE).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fixtures import taxi_data  # noqa: E402
from fixtures.taxi_server import TaxiServer  # noqa: E402
from kflow.runner.storage import ExecutionStorage  # noqa: E402

HOST = "127.0.0.1"
PORT = int(os.environ.get("KFLOW_PG_PORT", "55432"))
USER = PASSWORD = "root"
COLUMNS = taxi_data.YELLOW_COLUMNS
DDL = """CREATE TABLE {name} (
    VendorID text, tpep_pickup_datetime timestamp, tpep_dropoff_datetime timestamp,
    passenger_count integer, trip_distance double precision, RatecodeID text, store_and_fwd_flag text,
    PULocationID text, DOLocationID text, payment_type integer, fare_amount double precision,
    extra double precision, mta_tax double precision, tip_amount double precision,
    tolls_amount double precision, improvement_surcharge double precision, total_amount double precision,
    congestion_surcharge double precision)"""


class BenchContext:
    """The minimal RunContext CopyIn needs (literal properties, real storage)."""

    def __init__(self, root: Path):
        self.execution_id = uuid.uuid4().hex[:22]
        self.task_id = "yellow_copy_in_to_staging_table"
        self.task_run_id = uuid.uuid4().hex[:22]
        self.attempt = 1
        self.storage = ExecutionStorage(root, "zoomcamp", "bench", self.execution_id)
        self.workdir = self.storage.work_dir(self.task_run_id, 1)
        self.env = dict(os.environ)
        self.logs: list[str] = []

    def render(self, value, extra=None):
        return value

    def render_value(self, value, extra=None):
        return value

    def log(self, level, message):
        self.logs.append(f"{level} {message}")

    def run_process(self, *a, **kw):
        raise NotImplementedError


def cache_dir() -> Path:
    base = os.environ.get("KFLOW_CACHE")
    path = Path(base) / "bench" if base else REPO / ".cache" / "bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dataset(rows: int, seed: int) -> tuple[Path, Path]:
    """(csv.gz, csv) for yellow 2019-01 with `rows` rows, generated once and cached."""
    folder = cache_dir() / f"{rows}-{seed}"
    gz = folder / (taxi_data.file_name("yellow", 2019, 1) + ".gz")
    csv = folder / taxi_data.file_name("yellow", 2019, 1)
    if not gz.exists():
        print(f"generating {rows:,} yellow rows -> {gz}", flush=True)
        taxi_data.write_month(folder, "yellow", 2019, 1, rows, seed)
    if not csv.exists():
        with gzip.open(gz, "rb") as src, open(csv.with_suffix(".tmp"), "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        csv.with_suffix(".tmp").replace(csv)
    return gz, csv


def admin(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, dbname=dbname,
                           autocommit=True, connect_timeout=5)


def time_copy_in(db: str, csv: Path, table: str, work: Path) -> tuple[float, int]:
    from kflow.tasks.postgresql.copy_tasks import CopyIn

    ctx = BenchContext(work)
    uri = ctx.storage.put("extract", uuid.uuid4().hex[:22], csv)  # a copy, like the extract's output file
    task = CopyIn.model_validate({
        "id": ctx.task_id, "type": "io.kestra.plugin.jdbc.postgresql.CopyIn",
        "url": f"jdbc:postgresql://{HOST}:{PORT}/{db}", "username": USER, "password": PASSWORD,
        "format": "CSV", "from": uri, "table": table, "header": True, "columns": COLUMNS,
    })
    started = time.perf_counter()
    out = task.run(ctx)
    elapsed = time.perf_counter() - started
    ctx.storage.resolve(uri).unlink()
    return elapsed, out["rowCount"]


def time_psql(db: str, csv: Path, table: str) -> tuple[float, int]:
    psql = shutil.which("psql")
    if not psql:
        sys.exit("psql not found: scripts/postgres.sh start installs the PostgreSQL client")
    cmd = [psql, "-X", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(PORT), "-U", USER, "-d", db, "-c",
           f"\\copy {table} ({', '.join(COLUMNS)}) FROM '{csv}' WITH (FORMAT CSV, HEADER TRUE)"]
    env = dict(os.environ, PGPASSWORD=PASSWORD)
    started = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if res.returncode:
        sys.exit(f"psql failed: {res.stderr}")
    return elapsed, int(res.stdout.strip().split()[-1])


def bench_copy(rows: int, seed: int, repeat: int) -> dict:
    _gz, csv = dataset(rows, seed)
    db = f"kflow_bench_{uuid.uuid4().hex[:8]}"
    with admin() as conn:
        conn.execute(f"CREATE DATABASE {db}")
    work = Path(tempfile.mkdtemp(prefix="kflow-bench-"))
    try:
        with admin(db) as conn:
            conn.execute(DDL.format(name="public.via_copyin"))
            conn.execute(DDL.format(name="public.via_psql"))
        copy_times, psql_times = [], []
        for i in range(repeat):
            order = ("copyin", "psql") if i % 2 == 0 else ("psql", "copyin")
            for which in order:
                with admin(db) as conn:
                    conn.execute(f"TRUNCATE public.via_{which}")
                    conn.execute("CHECKPOINT")
                if which == "copyin":
                    t, n = time_copy_in(db, csv, "public.via_copyin", work)
                    copy_times.append(t)
                else:
                    t, n = time_psql(db, csv, "public.via_psql")
                    psql_times.append(t)
                assert n == rows, f"{which} loaded {n} rows, expected {rows}"
                print(f"  run {i + 1} {which:6s} {t:7.3f}s", flush=True)
        with admin(db) as conn:
            diff = conn.execute("SELECT (SELECT count(*) FROM (SELECT * FROM via_copyin EXCEPT ALL "
                                "SELECT * FROM via_psql) a) + (SELECT count(*) FROM (SELECT * FROM via_psql "
                                "EXCEPT ALL SELECT * FROM via_copyin) b)").fetchone()[0]
            counts = conn.execute("SELECT (SELECT count(*) FROM via_copyin), (SELECT count(*) FROM via_psql)"
                                  ).fetchone()
        best_copy, best_psql = min(copy_times), min(psql_times)
        median_ratio = statistics.median(copy_times) / statistics.median(psql_times)
        return {"rows": rows, "file_bytes": csv.stat().st_size, "copyin_s": round(best_copy, 3),
                "psql_s": round(best_psql, 3), "ratio": round(best_copy / best_psql, 3),
                "median_ratio": round(median_ratio, 3),
                "copyin_rows_per_s": round(rows / best_copy), "psql_rows_per_s": round(rows / best_psql),
                "tables_identical": diff == 0 and counts[0] == counts[1] == rows,
                "copyin_runs": [round(t, 3) for t in copy_times],
                "psql_runs": [round(t, 3) for t in psql_times]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def bench_flow(rows: int, seed: int) -> dict:
    """Run flows/02_postgres_taxi.yaml unchanged through `kflow run` on the same month."""
    kflow = shutil.which("kflow")
    if not kflow:
        return {"error": "kflow CLI not found"}
    gz, _csv = dataset(rows, seed)
    db = f"kflow_bench_{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="kflow-bench-flow-"))
    with admin() as conn:
        conn.execute(f"CREATE DATABASE {db}")
    try:
        defaults = work / "defaults.yaml"
        defaults.write_text(
            "- type: io.kestra.plugin.jdbc.postgresql\n  forced: true\n  values:\n"
            f"    url: jdbc:postgresql://{HOST}:{PORT}/{db}\n"
            f"    username: {USER}\n    password: {PASSWORD}\n")
        with TaxiServer(work / "server") as server:
            target = server.files / "yellow" / gz.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(gz, target)
            cmd = [kflow, "run", str(REPO / "flows" / "02_postgres_taxi.yaml"), "-i", "taxi=yellow",
                   "-i", "year=2019", "-i", "month=01", "--json", "--plugin-defaults", str(defaults)]
            started = time.perf_counter()
            res = subprocess.run(cmd, env=server.env(), capture_output=True, text=True, cwd=work)
            elapsed = time.perf_counter() - started
        if res.returncode != 0:
            return {"error": f"kflow run exited {res.returncode}: {res.stdout[-2000:]} {res.stderr[-2000:]}"}
        with admin(db) as conn:
            loaded = conn.execute("SELECT count(*) FROM public.yellow_tripdata").fetchone()[0]
        tasks = {}
        try:
            for tr in json.loads(res.stdout).get("taskRuns", []):
                tasks[tr["taskId"]] = tr.get("state")
        except ValueError:
            pass
        return {"rows": loaded, "seconds": round(elapsed, 2), "rows_per_s": round(loaded / elapsed),
                "command": " ".join(cmd[1:]), "task_states": tasks}
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--no-flow", action="store_true", help="skip the whole-flow measurement")
    p.add_argument("--json", action="store_true", help="print the results as JSON only")
    args = p.parse_args()
    try:
        admin().close()
    except psycopg.Error as e:
        sys.exit(f"PostgreSQL not reachable at {HOST}:{PORT} ({e}); run scripts/postgres.sh start")
    result = {"copy": bench_copy(args.rows, args.seed, args.repeat)}
    if not args.no_flow:
        result["flow"] = bench_flow(args.rows, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c = result["copy"]
    print(f"\nyellow CSV: {c['rows']:,} rows, {c['file_bytes'] / 1e6:.1f} MB")
    print(f"CopyIn task : {c['copyin_s']:.3f}s ({c['copyin_rows_per_s']:,} rows/s)  runs {c['copyin_runs']}")
    print(f"psql \\copy  : {c['psql_s']:.3f}s ({c['psql_rows_per_s']:,} rows/s)  runs {c['psql_runs']}")
    print(f"ratio CopyIn/psql = {c['ratio']:.3f} best-of-{len(c['copyin_runs'])} "
          f"({c['median_ratio']:.3f} on medians; target <= 1.15)  tables identical: {c['tables_identical']}")
    if "flow" in result:
        f = result["flow"]
        if "error" in f:
            print(f"whole flow  : not measured ({f['error']})")
        else:
            print(f"whole flow  : {f['rows']:,} rows in {f['seconds']:.2f}s = {f['rows_per_s']:,} rows/s "
                  f"(kflow {f['command']})")
    return 0 if c["tables_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
