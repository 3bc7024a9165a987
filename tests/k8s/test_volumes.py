"""An execution gets its own PVC only when its pods share files (k8s/volumes.py); otherwise an emptyDir."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest

from kflow.k8s.config import OperatorConfig
from kflow.k8s.resources import task_pod
from kflow.k8s.volumes import needs_claim
from kflow.model.loader import load_flow_text

SH = "{id: %s, type: io.kestra.plugin.scripts.shell.Commands, commands: ['true']}"


def _flow(tasks: str, extra: str = ""):
    return load_flow_text(f"id: f\nnamespace: t\n{extra}tasks:\n{textwrap.indent(tasks, '  ')}\n", "f.yaml").flow


@pytest.mark.parametrize("tasks,keep,claim", [
    (f"- {SH % 'a'}", False, False),                                   # one pod: nothing to share
    (f"- {SH % 'a'}", True, True),                                     # kept after the end
    (f"- {SH % 'a'}\n- {SH % 'b'}", False, True),                      # two pods may pass files
    ("- {id: l, type: io.kestra.plugin.core.log.Log, message: hi}", False, False),
    ("- id: each\n  type: io.kestra.plugin.core.flow.ForEach\n  values: [1, 2]\n  tasks:\n"
     f"    - {SH % 'a'}", False, True),                                  # one task, several pods
    (f"- {SH % 'a'}\n- id: s\n  type: io.kestra.plugin.core.flow.Subflow\n  namespace: t\n  flowId: c",
     False, True),                                                      # a child may read its files
])
def test_needs_claim(tasks, keep, claim):
    assert needs_claim(_flow(tasks), keep) is claim


def test_without_a_claim_the_pod_gets_an_empty_dir_and_no_affinity():
    flow = _flow(f"- {SH % 'a'}")
    body = {"metadata": {"name": "e1", "namespace": "ns", "uid": "u"}, "apiVersion": "kflow.dev/v1alpha1",
            "kind": "Execution"}
    kw = dict(flow_name="f", task=flow.tasks[0], task_run_id="a", attempt=1, worker_spec={"workdir": "/w"},
              timeout=timedelta(seconds=5), config=OperatorConfig())
    without = task_pod(body, claim=False, **kw)["spec"]
    assert without["volumes"][0] == {"name": "storage", "emptyDir": {}} and "affinity" not in without
    with_claim = task_pod(body, **kw)["spec"]
    assert with_claim["volumes"][0]["persistentVolumeClaim"] == {"claimName": "e1-storage"}


@pytest.mark.cluster
def test_a_one_task_execution_runs_without_a_volume_claim(operator, namespace):
    from operator_harness import apply, execution, flow_manifest, pods, runs, wait_state

    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("one", f"id: one\nnamespace: t\ntasks:\n  - {SH % 'a'}\n"))
    apply(cluster, namespace, execution("solo", "one", keepVolume=False))
    apply(cluster, namespace, execution("kept", "one", keepVolume=True))
    for name in ("solo", "kept"):
        ex = wait_state(cluster, namespace, name, 120)
        assert ex["status"]["state"] == "SUCCESS" and runs(ex)["a"]["state"] == "SUCCESS", ex["status"]
    claims = [c.metadata.name for c in cluster.core.list_namespaced_persistent_volume_claim(namespace).items]
    assert claims == ["kept-storage"]
    [kept_pod] = pods(cluster, namespace, "kflow.dev/execution=kept")
    assert kept_pod.spec.volumes[0].persistent_volume_claim.claim_name == "kept-storage"
