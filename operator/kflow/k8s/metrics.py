"""Prometheus metrics of the operator (`kflow operator --metrics ADDRESS:PORT`, chart `metrics.*`).

Series (one registry of this process; prometheus_client's own text format):
- kflow_executions{namespace, flow, state}: executions this operator sees, by state (the executions watch);
- kflow_queued_executions{namespace, flow}: those waiting for a concurrency slot (QUEUED or CREATED);
- kflow_executions_ended_total{namespace, flow, state}: executions this process drove to their end;
- kflow_task_run_duration_seconds{namespace, flow, state}: task runs that ended, start to end (histogram);
- kflow_reconcile_duration_seconds / kflow_reconcile_errors_total{namespace}: driver passes;
- kflow_api_requests_total{operation, code}: Kubernetes API calls of the operator's client (code: the HTTP
  status, or "error" for a connection failure); kopf's watches are not counted;
- kflow_crontrigger_schedule_lag_seconds{namespace, trigger}: how late the last tick's Execution was created.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)
DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, float("inf"))

EXECUTIONS_ENDED = Counter("kflow_executions_ended_total", "Executions this operator process drove to their end",
                           ["namespace", "flow", "state"], registry=REGISTRY)
TASK_RUN_SECONDS = Histogram("kflow_task_run_duration_seconds", "Task runs that ended, from start to end",
                             ["namespace", "flow", "state"], buckets=DURATION_BUCKETS, registry=REGISTRY)
RECONCILE_SECONDS = Histogram("kflow_reconcile_duration_seconds", "One driver pass over an Execution",
                              buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf")),
                              registry=REGISTRY)
RECONCILE_ERRORS = Counter("kflow_reconcile_errors_total", "Driver passes that failed (retried)", ["namespace"],
                           registry=REGISTRY)
API_REQUESTS = Counter("kflow_api_requests_total", "Kubernetes API calls of the operator's client",
                       ["operation", "code"], registry=REGISTRY)
SCHEDULE_LAG = Gauge("kflow_crontrigger_schedule_lag_seconds", "Delay between a tick and its Execution's creation",
                     ["namespace", "trigger"], registry=REGISTRY)


class ExecutionStates:
    """kflow_executions and kflow_queued_executions, read from the executions watch at scrape time."""

    def __init__(self, executions: dict[tuple[str, str], dict[str, tuple[str | None, str]]]):
        self.executions = executions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        states = GaugeMetricFamily("kflow_executions", "Executions by flow and state", labels=["namespace", "flow",
                                                                                              "state"])
        queued = GaugeMetricFamily("kflow_queued_executions", "Executions waiting to start (QUEUED or CREATED)",
                                   labels=["namespace", "flow"])
        for (namespace, flow), by_name in list(self.executions.items()):
            tally = Tally((state or "CREATED") for state, _ in list(by_name.values()))
            for state, count in sorted(tally.items()):
                states.add_metric([namespace, flow, state], count)
            queued.add_metric([namespace, flow], tally.get("QUEUED", 0) + tally.get("CREATED", 0))
        yield states
        yield queued


def serve(address: str, executions: dict[Any, Any]) -> None:
    """Serve /metrics on `address` (HOST:PORT or PORT) from a thread of this process."""
    host, _, port = address.rpartition(":")
    REGISTRY.register(ExecutionStates(executions))
    start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)


def ended_task_runs(status_runs: list[dict[str, Any]]) -> set[str]:
    return {r["id"] for r in status_runs if r.get("endDate")}
