"""Backfill throughput and operator memory: an hourly CronTrigger backfilled over one year (8,760 ticks).

The flow is one Return task (evaluated inside the operator: no pods), `maxActive: 20`; with `--pods` it is one
shell task instead (one task pod per execution; run it over fewer days, e.g. `--pods --days 7` = 168
executions, and extrapolate: the bench prints the full-year time at the rate measured). The bench starts its
own operator process watching only its namespace, and samples every 0.5 s:
- the trigger's status.backfill (created / active / succeeded), its max `active` (must stay <= 20);
- the operator's RSS (VmRSS of /proc/<pid>/status), reported around 0, 4,000 (or half the ticks,
  when fewer) and all executions.
At the end it checks, from the executions themselves, that no more than 20 were active at once (interval
[first history entry, endDate] of each), and prints executions created per second.

Backfill executions are never deleted by history limits (they are the record `reprocess` decides from):
all 8,760 accumulate, each with its flow-snapshot ConfigMap.

Run (control plane up: `make cluster-up`): python bench/backfill.py [--days 365] [--max-active 20] [--pods]
"""

from __future__ import annotations

import argparse
import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
from clusterlib import Cluster  # noqa: E402

FLOW = {"apiVersion": "kflow.dev/v1alpha1", "kind": "Flow", "metadata": {"name": "hourly"},
        "spec": {"id": "hourly", "namespace": "bench", "tasks": [
            {"id": "r", "type": "io.kestra.plugin.core.debug.Return", "format": "{{ trigger.date }}"}]}}
SHELL_TASK = {"id": "r", "type": "io.kestra.plugin.scripts.shell.Commands", "commands": ["echo {{ trigger.date }}"]}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def other_operators(mine: int) -> int:
    n = 0
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != mine:
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            n += b"kflow.cli operator" in cmd or b"kflow operator" in cmd
    return n


def live_executions(cluster: Cluster, ns: str) -> set[str]:
    """The CronTrigger's executions of live ticks (not the backfill's): maxActive does not count them."""
    return {e["metadata"]["name"] for e in cluster.custom.list_namespaced_custom_object(
        "kflow.dev", "v1alpha1", ns, "executions", label_selector="!kflow.dev/backfill")["items"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--max-active", type=int, default=20)
    ap.add_argument("--keep", action="store_true", help="keep the namespace afterwards")
    ap.add_argument("--pods", action="store_true", help="the flow is one shell task (a pod per execution)")
    ap.add_argument("--pod-ttl", type=int, default=None,
                    help="the operator's podTTLSeconds: finished task pods deleted this long after their end")
    args = ap.parse_args()
    flow = FLOW
    if args.pods:
        flow = {**FLOW, "spec": {**FLOW["spec"], "tasks": [SHELL_TASK]}}
    cluster = Cluster()
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    ns = cluster.new_namespace(prefix="bench")
    env = {**cluster.env, "KUBECONFIG": cluster.kubeconfig, "PYTHONUNBUFFERED": "1",
           "KFLOW_RUNTIME_IMAGE": "kflow:dev", "KFLOW_KEEP_VOLUME": "false",
           **({"KFLOW_POD_TTL_SECONDS": str(args.pod_ttl)} if args.pod_ttl is not None else {})}
    log = open(REPO / ".cluster" / "logs" / "bench-backfill-operator.log", "w")  # noqa: SIM115 (outlives us)
    op = subprocess.Popen([sys.executable, "-m", "kflow.cli", "operator", "-n", ns, "--liveness",
                           "http://127.0.0.1:18731/healthz"], env=env, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True)
    try:
        time.sleep(3)
        print(f"namespace {ns}; operator pid {op.pid}; other kflow operators running: {other_operators(op.pid)}")
        end = datetime(2023, 1, 1, tzinfo=UTC) + timedelta(days=args.days) - timedelta(hours=1)
        trigger = {"apiVersion": "kflow.dev/v1alpha1", "kind": "CronTrigger", "metadata": {"name": "h"},
                   "spec": {"flowRef": {"name": "hourly"}, "cron": "0 * * * *",
                            "backfill": {"start": "2023-01-01T00:00:00Z", "end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                         "maxActive": args.max_active}}}
        rss0 = rss_mb(op.pid)
        cluster.kubectl("-n", ns, "apply", "-f", "-", input=yaml.safe_dump_all([flow, trigger]))
        t0 = time.monotonic()
        samples: list[tuple[float, int, int, float]] = []  # (t, created, active, rss)
        marks: dict[int, tuple[float, float]] = {}
        total = None
        pods_alive = 0  # --pods: most task pods not yet ended at one sample
        while True:
            if args.pods:  # the backfill's pods: not those of the trigger's live ticks (an hour may strike)
                live = live_executions(cluster, ns)
                alive = [p for p in cluster.core.list_namespaced_pod(ns, label_selector="kflow.dev/execution").items
                         if p.status.phase not in ("Succeeded", "Failed")
                         and p.metadata.labels.get("kflow.dev/execution") not in live]
                pods_alive = max(pods_alive, len(alive))
            obj = cluster.custom.get_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "crontriggers", "h")
            bf = (obj.get("status") or {}).get("backfill") or {}
            created, active, done = bf.get("created") or 0, bf.get("active") or 0, bf.get("succeeded") or 0
            total = bf.get("total") or total
            now, rss = time.monotonic() - t0, rss_mb(op.pid)
            samples.append((now, created, active, rss))
            for mark in (0, min(4000, (total or 8000) // 2), total or 10**9):
                if created >= mark and mark not in marks:
                    marks[mark] = (now, rss)
            if total and done + (bf.get("failed") or 0) >= total:
                break
            if now > 3600:
                print("timeout after 1 h")
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - t0
        print(f"ticks: {total}; all finished after {elapsed:.1f} s -> {total / elapsed:.1f} executions/s "
              f"(created and run){'; one task pod each' if args.pods else ''}")
        year = 8760 / (total / elapsed)
        print(f"  a 365-day hourly backfill (8,760 ticks) at this rate: {year / 60:.1f} min")
        print(f"operator RSS before the backfill: {rss0:.1f} MB")
        for mark, (t, rss) in sorted(marks.items()):
            print(f"  at {mark:>5} executions created (t={t:6.1f} s): RSS {rss:.1f} MB")
        print(f"  peak RSS during the run: {max(s[3] for s in samples):.1f} MB; at the end {rss_mb(op.pid):.1f} MB")
        rate = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.pairwise(samples) if b[0] > a[0]]
        half = len(rate) // 2
        print(f"  creation rate, first half {sum(rate[:half]) / max(half, 1):.1f}/s, second half "
              f"{sum(rate[half:]) / max(len(rate) - half, 1):.1f}/s")
        print(f"max active seen in status.backfill.active: {max(s[2] for s in samples)} (limit {args.max_active})")
        if args.pods:
            print(f"most task pods not ended at one sample: {pods_alive} (limit {args.max_active})")
        items = cluster.custom.list_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "executions",
                                                             label_selector="kflow.dev/backfill=true")["items"]
        print(f"executions of live (not backfill) ticks during the run: {len(live_executions(cluster, ns))}")
        events = []
        for e in items:
            hist = (e.get("status") or {}).get("histories") or []
            if hist and e["status"].get("endDate"):
                events += [(hist[0]["date"], 1), (e["status"]["endDate"], -1)]
        level = peak = 0
        for _, step in sorted(events, key=lambda x: (x[0], x[1])):
            level += step
            peak = max(peak, level)
        print(f"backfill executions listed: {len(items)}; max overlap of [first history, endDate]: {peak}")
        return 0 if peak <= args.max_active else 1
    finally:
        if not args.keep:  # while our operator runs: it removes the CronTrigger's finalizer
            cluster.delete_namespace(ns)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and ns in cluster.kubectl("get", "ns", "-o", "name", check=False).stdout:
                time.sleep(1)
        os.killpg(op.pid, signal.SIGTERM)
        try:
            op.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(op.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
