"""Concurrency limits under bursts, and operator crashes in the middle of executions."""

from __future__ import annotations

import itertools
import random
import time

import pytest
from clusterlib import poll
from operator_harness import apply, execution, flow_manifest, get, pods, runs

pytestmark = pytest.mark.cluster


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _all_done(cluster, ns: str, names: list[str]) -> list[dict] | None:
    items = [get(cluster, ns, "executions", n) for n in names]
    states = [(i.get("status") or {}).get("state") for i in items]
    if all(s in ("SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED") for s in states):
        return items
    return None


def test_limit_one_executions_never_overlap_and_run_in_creation_order(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("serial", """
id: serial
namespace: t
concurrency:
  limit: 1
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 0.5"]
"""))
    names = [f"s{i}" for i in range(1, 6)]
    # One apply: a burst of five, created in this order.
    cluster.kubectl("-n", namespace, "apply", "-f", "-",
                    input="\n---\n".join(__import__("yaml").safe_dump(execution(n, "serial")) for n in names))
    items = poll("five executions done", lambda: _all_done(cluster, namespace, names), 240, every=1)
    assert [i["status"]["state"] for i in items] == ["SUCCESS"] * 5
    def running_since(item: dict) -> float:
        return next(_ts(h["date"]) for h in item["status"]["histories"] if h["state"] == "RUNNING")

    # startDate is the creation (Kestra's); a queued execution starts running later.
    spans = sorted((running_since(i), _ts(i["status"]["endDate"]), i["metadata"]["name"]) for i in items)
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert start >= end, f"executions overlapped: {spans}"
    running_at = {i["metadata"]["name"]: next(_ts(h["date"]) for h in i["status"]["histories"]
                                              if h["state"] == "RUNNING") for i in items}
    assert sorted(names, key=running_at.get) == names
    queued = [i for i in items if "QUEUED" in [h["state"] for h in i["status"]["histories"]]]
    assert len(queued) >= 3


def test_cancel_behaviour_cancels_over_the_limit(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("solo", """
id: solo
namespace: t
concurrency:
  limit: 1
  behavior: CANCEL
tasks:
  - id: work
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 2"]
"""))
    apply(cluster, namespace, execution("c1", "solo"))
    poll("c1 running", lambda: (get(cluster, namespace, "executions", "c1").get("status") or {})
         .get("state") == "RUNNING", 60)
    apply(cluster, namespace, execution("c2", "solo"))
    items = poll("both done", lambda: _all_done(cluster, namespace, ["c1", "c2"]), 120, every=0.5)
    assert [i["status"]["state"] for i in items] == ["SUCCESS", "CANCELLED"]
    assert pods(cluster, namespace, "kflow.dev/execution=c2") == []


FIVE = """
id: five
namespace: t
tasks:
""" + "".join(f"""  - id: step{i}
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 0.3; echo '::{{\\"outputs\\": {{\\"n\\": {i}}}}}::'"]
""" for i in range(1, 6))


# Real containers take seconds per pod on the shared 2-core machine: 10 executions (50 pods), more time.
@pytest.mark.timeout(900)
def test_operator_killed_ten_times_loses_and_duplicates_nothing(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("five", FIVE))
    names = [f"x{i:02d}" for i in range(10)]
    import yaml

    cluster.kubectl("-n", namespace, "apply", "-f", "-",
                    input="\n---\n".join(yaml.safe_dump(execution(n, "five")) for n in names))
    rng = random.Random(20261126)
    try:
        for _ in range(10):
            time.sleep(rng.uniform(0.3, 2.5))
            operator.kill()
            time.sleep(rng.uniform(0.0, 1.0))
            operator.start()
    finally:
        if operator.proc is None or operator.proc.poll() is not None:
            operator.start()
    items = poll("ten executions done", lambda: _all_done(cluster, namespace, names), 800, every=2)
    assert [i["status"]["state"] for i in items] == ["SUCCESS"] * 10
    all_pods = pods(cluster, namespace)
    for item in items:
        by_id = runs(item)
        assert sorted(by_id) == [f"step{i}" for i in range(1, 6)]
        assert all(tr["attempts"] == 1 for tr in by_id.values()), by_id
        assert [by_id[f"step{i}"]["outputs"]["vars"] for i in range(1, 6)] == [{"n": i} for i in range(1, 6)]
        mine = [p for p in all_pods if p.metadata.labels["kflow.dev/execution"] == item["metadata"]["name"]]
        per_attempt = sorted((p.metadata.labels["kflow.dev/task"], p.metadata.labels["kflow.dev/attempt"])
                             for p in mine)
        assert per_attempt == [(f"step{i}", "1") for i in range(1, 6)], per_attempt
