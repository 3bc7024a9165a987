"""Issue 14 task types on the cluster where they behave differently there: the KV store (ConfigMaps and
Secrets that outlive executions and operator restarts), Subflow (a child Execution), WorkingDirectory."""

from __future__ import annotations

import base64
import json

import pytest
from operator_harness import apply, execution, flow_manifest, pods, reconfigured, runs, wait_state

pytestmark = pytest.mark.cluster

KV_WRITER = """
id: kv-writer
namespace: company.team
inputs:
  - {id: num, type: INT}
tasks:
  - id: remember
    type: io.kestra.plugin.core.kv.Set
    key: last_run
    value: "{{ inputs.num * 2 }}"
    kvType: NUMBER
  - id: short
    type: io.kestra.plugin.core.kv.Set
    key: short_lived
    value: gone soon
    ttl: PT1S
"""

KV_READER = """
id: kv-reader
namespace: company.team
tasks:
  - id: in_engine
    type: io.kestra.plugin.core.output.OutputValues
    values:
      next: "{{ kv('last_run') + 1 }}"
      short: "{{ kv('short_lived', errorOnMissing=false) ?? 'expired' }}"
  - id: in_pod
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo '::{"outputs":{"seen":"{{ kv('last_run') }}"}}::'
  - id: keep_secret
    type: io.kestra.plugin.core.kv.Set
    key: token
    value: "{{ secret('KV_TOKEN') }}"
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "token={{ kv('token') }}"
"""


def test_kv_set_then_read_by_another_flow_after_an_operator_restart(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("kv-writer", KV_WRITER))
    apply(cluster, namespace, flow_manifest("kv-reader", KV_READER))
    apply(cluster, namespace, execution("w1", "kv-writer", {"num": 21}))
    assert wait_state(cluster, namespace, "w1")["status"]["state"] == "SUCCESS"
    listed = json.loads(cluster.kubectl("-n", namespace, "get", "configmaps", "-l", "kflow.dev/kv",
                                        "-o", "json").stdout)["items"]
    by_key = {cm["metadata"]["annotations"]["kflow.dev/kv-key"]: cm for cm in listed}
    assert set(by_key) == {"last_run", "short_lived"}
    assert by_key["last_run"]["data"]["value"] == "42"
    assert not by_key["last_run"]["metadata"].get("ownerReferences")  # outlives its execution
    operator.kill()
    operator.start()
    secret = base64.b64encode(b"tok-3141592").decode()
    with reconfigured(operator, SECRET_KV_TOKEN=secret):
        apply(cluster, namespace, execution("r1", "kv-reader"))
        ex = wait_state(cluster, namespace, "r1", 180)
        log = operator.log_path.read_text()
    assert ex["status"]["state"] == "SUCCESS", ex["status"]
    tr = runs(ex)
    assert tr["in_engine"]["outputs"]["values"] == {"next": "43", "short": "expired"}
    assert tr["in_pod"]["outputs"]["vars"] == {"seen": "42"}
    # A value that came from a secret is stored as a Secret, and masked where the engine logs it.
    secrets = json.loads(cluster.kubectl("-n", namespace, "get", "secrets", "-l", "kflow.dev/kv",
                                         "-o", "json").stdout)["items"]
    assert [s["metadata"]["annotations"]["kflow.dev/kv-key"] for s in secrets] == ["token"]
    assert "tok-3141592" not in cluster.kubectl("-n", namespace, "get", "configmaps", "-o", "yaml").stdout
    assert "token=******" in log and "tok-3141592" not in log


SUB_CHILD = """
id: child
namespace: company.team
inputs:
  - {id: num, type: INT}
tasks:
  - id: double
    type: io.kestra.plugin.core.debug.Return
    format: "{{ inputs.num * 2 }}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ inputs.num > 100 }}"
    errorMessage: too big
outputs:
  - id: doubled
    type: INT
    value: "{{ outputs.double.value }}"
"""

SUB_PARENT = """
id: parent
namespace: company.team
inputs:
  - {id: num, type: INT}
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: company.team
    flowId: child
    wait: true
    transmitFailed: true
    inputs:
      num: "{{ inputs.num }}"
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "child said {{ outputs.call.outputs.doubled }}"
"""


def _local(tmp_path, flows: dict[str, str], main: str, inputs: dict):
    import textwrap

    from kflow.model.loader import load_flow_file
    from kflow.runner.local import LocalRunner

    for name, text in flows.items():
        (tmp_path / f"{name}.yaml").write_text(textwrap.dedent(text))
    path = tmp_path / f"{main}.yaml"
    runner = LocalRunner(load_flow_file(path).flow, storage_root=tmp_path / "st", flow_dir=tmp_path)
    return runner.run(inputs)


def test_subflow_child_is_an_owned_execution_with_the_same_outcome_as_locally(operator, namespace, tmp_path):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("child", SUB_CHILD))
    apply(cluster, namespace, flow_manifest("parent", SUB_PARENT))
    apply(cluster, namespace, execution("p1", "parent", {"num": 21}))
    apply(cluster, namespace, execution("p2", "parent", {"num": 500}))
    ok = wait_state(cluster, namespace, "p1", 180)
    bad = wait_state(cluster, namespace, "p2", 180)
    local_ok = _local(tmp_path, {"child": SUB_CHILD, "parent": SUB_PARENT}, "parent", {"num": 21})
    local_bad = _local(tmp_path, {"child": SUB_CHILD, "parent": SUB_PARENT}, "parent", {"num": 500})
    for remote, local in ((ok, local_ok), (bad, local_bad)):
        assert remote["status"]["state"] == local.state.value
        remote_runs = runs(remote)
        assert {k: v["state"] for k, v in remote_runs.items()} == {t.id: t.state.value for t in local.taskRuns}
        for tr in local.taskRuns:
            want = {k: v for k, v in tr.outputs.items() if k != "executionId"}
            got = {k: v for k, v in (remote_runs[tr.id].get("outputs") or {}).items() if k != "executionId"}
            assert got == want, tr.id
    assert runs(ok)["call"]["outputs"]["executionId"] == "p1-call-1"
    assert runs(ok)["use"]["outputs"] == {"value": "child said 42"}
    assert "maybe_fail: too big" in runs(bad)["call"]["error"]
    children = json.loads(cluster.kubectl("-n", namespace, "get", "executions", "-l", "kflow.dev/parent-execution=p1",
                                          "-o", "json").stdout)["items"]
    assert [c["metadata"]["name"] for c in children] == ["p1-call-1"]
    child = children[0]
    assert child["status"]["state"] == "SUCCESS" and child["status"]["outputs"] == {"doubled": 42}
    assert child["metadata"]["ownerReferences"][0]["name"] == "p1"
    assert child["status"]["labels"]["system.correlationId"] == "p1"


WD_FLOW = """
id: wd
namespace: company.team
tasks:
  - id: shared
    type: io.kestra.plugin.core.flow.WorkingDirectory
    inputFiles:
      seed.txt: seeded
    outputFiles:
      - "*.csv"
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - printf 'a,b\\n1,2\\n3,4\\n' > data.csv
          - cp seed.txt copy.txt
      - id: read
        type: io.kestra.plugin.scripts.python.Script
        script: |
          import csv
          rows = list(csv.DictReader(open("data.csv")))
          print('::{"outputs":{"rows":%d,"seed":"%s"}}::' % (len(rows), open("copy.txt").read()))
  - id: after
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.read.vars.rows }} {{ outputs.shared.outputFiles['data.csv'] is defined }}"
"""


def test_working_directory_shell_then_python_share_a_folder_on_the_volume(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("wd", WD_FLOW))
    apply(cluster, namespace, execution("wd1", "wd"))
    ex = wait_state(cluster, namespace, "wd1", 180)
    assert ex["status"]["state"] == "SUCCESS", [(t["id"], t["state"], t.get("error")) for t in ex["status"]["taskRuns"]]
    tr = runs(ex)
    assert tr["read"]["outputs"]["vars"] == {"rows": 2, "seed": "seeded"}
    assert tr["after"]["outputs"] == {"value": "2 true"}
    assert tr["shared"]["outputs"]["outputFiles"]["data.csv"].startswith("kestra:///company/team/wd/executions/wd1/")
    # one pod per child (and one storing the outputFiles), all on the execution's volume
    task_pods = {p.metadata.labels["kflow.dev/task"]: p for p in pods(cluster, namespace)}
    assert set(task_pods) == {"write", "read", "shared"}
    claims = {v.persistent_volume_claim.claim_name for p in task_pods.values() for v in p.spec.volumes
              if v.persistent_volume_claim}
    assert claims == {"wd1-storage"}


CONTROL_FLOW = """
id: control
namespace: company.team
tasks:
  - id: poll
    type: io.kestra.plugin.core.flow.WaitFor
    condition: "{{ outputs.count.vars.n >= 2 }}"
    checkFrequency: {interval: PT0.2S, maxIterations: 5}
    tasks:
      - id: count
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo '::{"outputs":{"n":{{ outputs.poll.iterationCount ?? 0 }}}}::'
  - id: graph
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {id: last, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.first.value }}+"}
        dependsOn: [first]
      - task: {id: first, type: io.kestra.plugin.core.debug.Return, format: "{{ outputs.count.vars.n }}"}
  - id: stop
    type: io.kestra.plugin.core.execution.Exit
    state: WARNING
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"""


def test_waitfor_dag_and_exit_on_the_cluster(operator, namespace):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("control", CONTROL_FLOW))
    apply(cluster, namespace, execution("c1", "control"))
    ex = wait_state(cluster, namespace, "c1", 180)
    assert ex["status"]["state"] == "WARNING", ex["status"]
    tr = runs(ex)
    assert tr["poll"]["outputs"] == {"iterationCount": 3}
    assert tr["last"]["outputs"] == {"value": "2+"}
    assert "never" not in tr
