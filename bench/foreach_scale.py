"""Scale inside one execution: a ForEach of engine tasks, on the operator and on the local engine.

Kestra's benchmark 3 (kestra.io/docs/performance/benchmark): a ForEach over `{{ range(1, 100) }}` (100
values, concurrencyLimit 0) whose body is one OutputValues task; Kestra counts 200 task runs (it counts
the ForEach once per iteration) and reports ~5 s on OSS, ~8 s on EE. kflow records the same work as 101
task runs (one ForEach run, one body run per value). Two sizes by default: 100 values (Kestra's case) and
1,999 values (2,000 kflow task runs).

For each size:
- operator: one Execution on the cluster, driven by a dedicated operator process watching only the
  bench's namespace (as the other benches); time from the create call to the watch seeing the
  Execution terminal, the number of task runs in its status, its status size, and the operator's RSS
  before and its peak (VmHWM) after, plus its CPU seconds;
- local: the same flow run in this process by the local engine (LocalRunner, imports warmed), median of 3.
Target: ForEach over 100 values <= 1 s on the operator.

Run (control plane up: `make cluster-up`): python bench/foreach_scale.py [--values 100 1999] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from kubernetes import client, config, watch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "cluster"))
sys.path.insert(0, str(REPO / "tests" / "k8s"))
sys.path.insert(0, str(REPO / "bench"))


def flow_spec(values: int) -> dict:
    return {"id": f"fe{values}", "namespace": "bench", "tasks": [
        {"id": "foreach", "type": "io.kestra.plugin.core.flow.ForEach", "values": f"{{{{ range(1, {values}) }}}}",
         "concurrencyLimit": 0, "tasks": [
             {"id": "output", "type": "io.kestra.plugin.core.output.OutputValues", "values": {"some": "value"}}]}]}


def run_on_cluster(custom: client.CustomObjectsApi, ns: str, flow: str) -> tuple[float, dict]:
    name = f"{flow}-{uuid.uuid4().hex[:5]}"
    final: dict = {}
    ready = threading.Event()

    def wait() -> None:
        w = watch.Watch()
        ready.set()
        for ev in w.stream(custom.list_namespaced_custom_object, "kflow.dev", "v1alpha1", ns, "executions",
                           field_selector=f"metadata.name={name}", timeout_seconds=900):
            obj = ev["object"]
            if (obj.get("status") or {}).get("state") in ("SUCCESS", "WARNING", "FAILED", "KILLED"):
                final.update(obj)
                w.stop()

    t = threading.Thread(target=wait, daemon=True)
    t.start()
    ready.wait()
    time.sleep(0.5)
    t0 = time.perf_counter()
    custom.create_namespaced_custom_object("kflow.dev", "v1alpha1", ns, "executions", {
        "apiVersion": "kflow.dev/v1alpha1", "kind": "Execution", "metadata": {"name": name},
        "spec": {"flowRef": {"name": flow}}})
    t.join(900)
    return time.perf_counter() - t0, final


def run_local(values: int, rounds: int) -> tuple[float, int]:
    import yaml

    from kflow.engine.state import State
    from kflow.model.loader import load_flow_text
    from kflow.runner.local import LocalRunner

    flow = load_flow_text(yaml.safe_dump(flow_spec(values)), "bench").flow
    times, count = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        LocalRunner(load_flow_text(yaml.safe_dump(flow_spec(3)), "bench").flow, storage_root=Path(tmp)).run({})
        for _ in range(rounds):
            runner = LocalRunner(flow, storage_root=Path(tmp))
            t0 = time.perf_counter()
            ex = runner.run({})
            times.append(time.perf_counter() - t0)
            assert ex.state == State.SUCCESS, ex.state
            count = len(ex.taskRuns)
    return statistics.median(times), count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--values", type=int, nargs="+", default=[100, 1999])
    parser.add_argument("--rounds", type=int, default=3, help="executions per size (medians)")
    args = parser.parse_args()
    import logging

    import yaml
    from clusterlib import Cluster
    from operator_harness import Operator, flow_manifest
    from throughput import ProcStats

    logging.disable(logging.INFO)  # the local engine logs every task run
    cluster = Cluster()
    cluster.kubectl("apply", "-f", str(REPO / "crds"))
    config.load_kube_config(cluster.kubeconfig)
    custom = client.CustomObjectsApi()
    ns = cluster.new_namespace()
    for values in args.values:
        cluster.kubectl("-n", ns, "apply", "-f", "-",
                        input=yaml.safe_dump(flow_manifest(f"fe{values}", flow_spec(values))))
    results = []
    for values in args.values:  # a fresh operator per size: its peak RSS is that size's
        op = Operator(cluster, extra_env={"KFLOW_KEEP_VOLUME": "false"}, namespaces=ns)
        op.start()
        proc = ProcStats(op.proc.pid)
        try:
            time.sleep(1)
            rss0 = proc.peak_rss_mib()
            cpu0 = proc.cpu()
            runs = []
            for _ in range(args.rounds):
                took, final = run_on_cluster(custom, ns, f"fe{values}")
                status = final.get("status") or {}
                runs.append((took, status.get("state"), len(status.get("taskRuns") or []),
                             len(json.dumps(status, separators=(",", ":")))))
                print(f"{values} values: {took:.2f} s {runs[-1][1:]}", flush=True)
            cpu = proc.cpu() - cpu0
            peak = proc.peak_rss_mib()
        finally:
            op.stop()
        local, local_runs = run_local(values, args.rounds)
        results.append((values, runs, rss0, peak, cpu, local, local_runs))
    cluster.delete_namespace(ns)
    print(f"\nmedians of {args.rounds} execution(s) each, one 2-core machine")
    for values, runs, rss0, peak, cpu, local, local_runs in results:
        took = statistics.median(r[0] for r in runs)
        trs = runs[0][2]
        print(f"ForEach over {values} values of OutputValues ({trs} kflow task runs, {2 * values} as Kestra "
              f"counts): operator {took:.2f} s create -> {runs[0][1]} ({trs / took:.0f} task runs/s), "
              f"status {runs[0][3] / 1024:.0f} KiB")
        print(f"    operator RSS {rss0:.0f} MiB at start, peak {peak:.0f} MiB; CPU {cpu / len(runs):.2f} s "
              f"per execution")
        print(f"    local engine (kflow run, in process): {local * 1000:.0f} ms ({local_runs} task runs); "
              f"operator / local {took / local:.1f}")
    print("targets: ForEach over 100 values <= 1 s (Kestra OSS ~5 s, EE ~8 s, 4 vCPU)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
