"""Script task pods without the init container (k8s/inline_prepare.py): the operator prepares the task
itself and the pod's one container writes the files and runs run.sh. Pure: scripts are run with /bin/sh
here, against what `kflow worker prepare` + run.sh (today's two containers) do with the same spec."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from kflow import worker
from kflow.expr import Renderer
from kflow.k8s import inline_prepare
from kflow.k8s.config import OperatorConfig
from kflow.k8s.resources import WORKER_SPEC_ENV, task_pod
from kflow.model.loader import load_flow_text
from kflow.runner.storage import ExecutionStorage
from kflow.tasks.flow import working_directory as wdir

BODY = {"metadata": {"name": "e1", "namespace": "ns", "uid": "u"}, "apiVersion": "kflow.dev/v1alpha1",
        "kind": "Execution"}
SHELL = "io.kestra.plugin.scripts.shell.Commands"


def _task(**props: Any) -> Any:
    body = {"id": "f", "namespace": "t", "tasks": [{"id": "t1", "type": SHELL, "commands": ["true"], **props}]}
    return load_flow_text(yaml.safe_dump(body), "f.yaml").flow.tasks[0]


def _spec(tmp: Path, task: Any, attempt: int = 1) -> dict[str, Any]:
    storage = ExecutionStorage(tmp / "storage", "t", "f", "e1")
    return worker.build_spec(task, {"flow": {"namespace": "t", "id": "f"}, "envs": {"color": "blue"},
                             "taskrun": {"attemptsCount": attempt - 1}},
                             execution_id="e1", task_run_id="t1", attempt=attempt,
                             workdir=tmp / "storage" / "work" / f"t1-{attempt}", storage=storage)


def _tree(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def _run(argv: list[str], tmp: Path) -> tuple[int, str, str]:
    term = tmp / "termination-log"
    term.unlink(missing_ok=True)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], "KFLOW_TERMINATION_LOG": str(term)})
    return proc.returncode, proc.stdout, term.read_text() if term.exists() else ""


def _both(tmp: Path, spec: dict[str, Any], monkeypatch) -> tuple[Any, Any]:
    """(today's pod, the init-less pod): exit code, stdout, termination message and the working
    directory's files after the run, the same spec and working directory for both."""
    workdir = Path(spec["workdir"])
    script = inline_prepare.script_for(spec)
    assert script is not None
    monkeypatch.setenv(WORKER_SPEC_ENV, json.dumps(spec, default=str))
    monkeypatch.setenv("KFLOW_PYTHON", "python")  # what the init container is told
    monkeypatch.setenv("KFLOW_TERMINATION_LOG", str(tmp / "prepare-log"))
    assert worker.pod_prepare() == 0
    old = (*_run(["/bin/sh", str(workdir / ".kflow" / "run.sh")], tmp), _tree(workdir))
    shutil.rmtree(workdir)
    new = (*_run(["/bin/sh", "-c", script], tmp), _tree(workdir))
    return old, new


def test_the_one_container_pod_does_what_the_init_container_and_run_sh_did(tmp_path, monkeypatch):
    task = _task(
        inputFiles={"data.txt": "it's \"quoted\"\n%s \\n $(nope) `nope`\nno trailing newline",
                    "sub/dir/b.json": '{"a": 1}', "where.txt": "{{ workingDir }}"},
        outputFiles=["out*.txt", "sub/**"], env={"WD": "{{ workingDir }}/x"},
        commands=["cat data.txt", "echo made > out1.txt", "echo \"$WD\" > sub/wd.txt", "echo \"$(cat where.txt)\"",
                  "echo '::{\"outputs\":{\"n\":{{ taskrun.attemptsCount }}}}::'", "exit 3"])
    spec = _spec(tmp_path, task)
    old, new = _both(tmp_path, spec, monkeypatch)
    assert new == old
    code, stdout, message, tree = new
    workdir = spec["workdir"]
    assert code == 3
    assert stdout.startswith("it's \"quoted\"\n%s \\n $(nope) `nope`\nno trailing newline" + workdir + "\n")
    assert tree["data.txt"] == b"it's \"quoted\"\n%s \\n $(nope) `nope`\nno trailing newline"
    assert tree["sub/wd.txt"] == f"{workdir}/x\n".encode()
    # the protocol lines: the outputs and the files the command wrote (not the staged inputFiles)
    protocol = [line for line in message.splitlines() if line.startswith("::{")]
    assert '::{"outputs":{"n":0}}::' in protocol and '::{"kflow.files":["out1.txt","sub/wd.txt"]}::' in protocol


def test_a_python_script_calls_the_pods_python_not_the_operators(tmp_path, monkeypatch):
    task = load_flow_text(yaml.safe_dump({"id": "f", "namespace": "t", "tasks": [{
        "id": "t1", "type": "io.kestra.plugin.scripts.python.Script", "script": "print('hi')"}]}), "f.yaml").flow.tasks[0]
    spec = _spec(tmp_path, task)
    script = inline_prepare.script_for(spec)
    assert script is not None
    assert f"python {spec['workdir']}/.inputs/script_t1.py" in script and str(Path(os.sys.executable)) not in script
    workdir = Path(spec["workdir"])
    monkeypatch.setenv(WORKER_SPEC_ENV, json.dumps(spec, default=str))
    monkeypatch.setenv("KFLOW_PYTHON", "python")
    monkeypatch.setenv("KFLOW_TERMINATION_LOG", str(tmp_path / "prepare-log"))
    assert worker.pod_prepare() == 0
    prepared = _tree(workdir)
    shutil.rmtree(workdir)
    # only the files: running needs `python` on PATH; the files are what the pod runs
    subprocess.run(["/bin/sh", "-c", script.replace("\nexec /bin/sh ", "\n: ")], check=True)
    assert _tree(workdir) == prepared


@pytest.mark.parametrize("content", [
    "it's", "''", "a\nb", "no newline", "trailing\n\n\n", "\\ \\\\ \\n %s %% %b", "$HOME `id` $(id) ${x:-y}",
    "-n", "--", "", "unicode é ✓ 𝄞", "\t tab\r\ncrlf", "!#&;|<>*?[]~",
])
def test_file_contents_are_written_byte_for_byte(tmp_path, content):
    spec = _spec(tmp_path, _task(inputFiles={"f.txt": content, "it's a name.txt": "x"}))
    script = inline_prepare.script_for(spec)
    assert script is not None
    code, _, _ = _run(["/bin/sh", "-c", script], tmp_path)
    assert code == 0
    assert (Path(spec["workdir"]) / "f.txt").read_bytes() == content.encode()
    assert (Path(spec["workdir"]) / "it's a name.txt").read_text() == "x"


def test_the_temporary_directory_never_reaches_the_pod(tmp_path):
    spec = _spec(tmp_path, _task(inputFiles={"w.txt": "{{ workingDir }} {{ outputDir }}"}, env={"A": "{{ workingDir }}"}))
    script = inline_prepare.script_for(spec)
    assert script is not None and "kflow-inline" not in script
    wd = spec["workdir"]
    assert f"export WORKING_DIR={wd}\n" in script and f"export A={wd}\n" in script
    assert f"cd {wd} || exit 125" in script
    assert f"printf '%s' '{wd} {wd}' > '{wd}/w.txt'" in script
    # a template that changed the path (no longer the temporary path as a whole): the pod prepares it
    assert inline_prepare.script_for(_spec(tmp_path, _task(inputFiles={"w.txt": "{{ workingDir | upper }}"}))) is None
    # the last part of the path is the pod's own
    named = inline_prepare.script_for(_spec(tmp_path, _task(inputFiles={"w.txt": "{{ workingDir | split('/') | last }}"})))
    assert named is not None and "printf '%s' 't1-1' >" in named


FALLBACKS = {
    "FILE inputs to stage": ({"stageInputs": [{"name": "x"}]}, {}),
    "WorkingDirectory files": ({wdir.SPEC_KEY: {"inputFiles": {"a": "b"}}}, {}),
    "a KV snapshot": ({"kv": {"k": "v"}}, {}),
    "namespace files env": ({"env": {"KFLOW_NAMESPACE_FILES": "/kflow/namespace-files"}}, {}),
    "namespaceFiles": ({}, {"namespaceFiles": {"enabled": True}}),
    "secret()": ({}, {"commands": ["echo {{ secret('A') }}"]}),
    "envs": ({}, {"commands": ["echo {{ envs.color }}"]}),  # renders here too: the rule decides
    "kv()": ({}, {"commands": ["echo {{ kv('k') }}"]}),
    "a render error": ({}, {"commands": ["echo {{ outputs.nope.value }}"]}),
    "a kestra:// file to localize": ({}, {"commands": ["cat kestra:///t/f/e1/x.txt"]}),
    "a kestra:// inputFile": ({}, {"inputFiles": {"a.txt": "kestra:///t/f/e1/x.txt"}}),
    "a NUL": ({}, {"inputFiles": {"a.txt": "a\u0000b"}}),
    "over the size cap": ({}, {"inputFiles": {"big.txt": "x" * (inline_prepare.MAX_SCRIPT + 1)}}),
}


@pytest.mark.parametrize("spec_extra,props", FALLBACKS.values(), ids=FALLBACKS.keys())
def test_the_init_container_prepares_what_the_operator_cannot(tmp_path, spec_extra, props):
    assert inline_prepare.script_for(_spec(tmp_path, _task())) is not None  # the same task without it
    assert inline_prepare.script_for({**_spec(tmp_path, _task(**props)), **spec_extra}) is None


def test_the_size_cap_counts_the_whole_script(tmp_path):
    spec = _spec(tmp_path, _task(inputFiles={"big.txt": "x" * 1000}))
    size = len(inline_prepare.script_for(spec).encode())
    assert inline_prepare.script_for(spec, limit=size) is not None
    assert inline_prepare.script_for(spec, limit=size - 1) is None
    assert inline_prepare.MAX_SCRIPT < 128 * 1024  # Linux MAX_ARG_STRLEN


def test_links_and_non_utf8_files_are_not_inlined(tmp_path):
    wd = tmp_path / "w"
    (wd / ".kflow").mkdir(parents=True)
    (wd / "ok.txt").write_text("fine")
    assert inline_prepare._collect(wd, "nope", "/real") == ([".kflow"], {"ok.txt": "fine"})
    (wd / "latin1.txt").write_bytes("é".encode("latin-1"))
    assert inline_prepare._collect(wd, "nope", "/real") is None
    (wd / "latin1.txt").unlink()
    (wd / "link").symlink_to(wd / "ok.txt")
    assert inline_prepare._collect(wd, "nope", "/real") is None


def _pod_script(spec: dict[str, Any], task: Any, **kw: Any) -> str | None:
    args = {"extra_volumes": [], "config": OperatorConfig(), "secret_keys": [], "renderer": Renderer(secrets={}), **kw}
    return asyncio.run(inline_prepare.pod_script(spec, task, args.pop("extra_volumes"), args.pop("config"),
                                                 args.pop("secret_keys"), args.pop("renderer"), **args))


def test_the_operator_inlines_only_pods_without_secrets_volumes_or_a_shared_folder(tmp_path):
    task = _task()
    spec = _spec(tmp_path, task)
    assert _pod_script(spec, task) is not None
    # the Secret's environment keys (ENV_*) are no secrets: the container still gets them
    assert _pod_script(spec, task, config=OperatorConfig(secrets_from="s"), secret_keys=["ENV_COLOR"]) is not None
    assert _pod_script(spec, task, config=OperatorConfig(secrets_from="s"), secret_keys=["SECRET_A"]) is None
    assert _pod_script(spec, task, config=OperatorConfig(secrets_from="s"), secret_keys=None) is None
    assert _pod_script(spec, task, renderer=Renderer(secrets={"SECRET_A": "c2VjcmV0LXZhbHVl"})) is None
    assert _pod_script(spec, task, extra_volumes=[({"name": "v"}, "/m")]) is None
    assert _pod_script(spec, task, shared=True) is None
    log = load_flow_text("id: f\nnamespace: t\ntasks:\n  - {id: l, type: io.kestra.plugin.core.log.Log, message: hi}\n",
                         "f.yaml").flow.tasks[0]
    assert _pod_script(spec, log) is None


def test_an_inlined_pod_has_one_container_running_the_script(tmp_path):
    task = _task(inputFiles={"a.txt": "x"})
    spec = _spec(tmp_path, task)
    script = inline_prepare.script_for(spec)
    kw = dict(flow_name="f", task=task, task_run_id="t1", attempt=1, worker_spec=spec, timeout=timedelta(seconds=5),
              config=OperatorConfig())
    pod = task_pod(BODY, inline=script, **kw)["spec"]
    assert "initContainers" not in pod
    [main] = pod["containers"]
    assert main["command"] == ["/bin/sh", "-c", script] and main["image"] == "ubuntu"
    assert WORKER_SPEC_ENV not in json.dumps(pod)  # the spec (the task's context) was the init container's
    assert pod["activeDeadlineSeconds"] == 5
    before = task_pod(BODY, **kw)["spec"]
    assert [c["name"] for c in before["initContainers"]] == ["prepare"]
    assert before["containers"][0]["command"] == ["/bin/sh", f"{spec['workdir']}/.kflow/run.sh"]


def test_preparing_in_the_operator_takes_milliseconds(tmp_path):
    import time

    spec = _spec(tmp_path, _task(inputFiles={f"f{i}.txt": "x" * 100 for i in range(20)}, outputFiles=["*.out"]))
    inline_prepare.script_for(spec)
    t0 = time.perf_counter()
    for _ in range(10):
        assert inline_prepare.script_for(spec) is not None
    assert (time.perf_counter() - t0) / 10 < 0.05


# ---- on the cluster ------------------------------------------------------------------------------
INLINE_FLOW = """
id: inline
namespace: t
tasks:
  - id: make
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      data.txt: |
        it's "quoted" 100%
        line 2
    outputFiles: ["out*.txt"]
    commands:
      - cat data.txt
      - tr a-z A-Z < data.txt > out.txt
      - echo '::{"outputs":{"lines":'$(wc -l < data.txt)'}}::'
  - id: read
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      in.txt: "{{ outputs.make.outputFiles['out.txt'] }}"
    commands: ["cat in.txt"]
  - id: fail
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    commands: ["echo before failing", "exit 3"]
"""


def _kflow(operator, *args: str) -> str:
    import sys

    from clusterlib import REPO

    env = {**operator.cluster.env, "KUBECONFIG": operator.cluster.kubeconfig, "NO_COLOR": "1"}
    res = subprocess.run([sys.executable, "-m", "kflow.cli", *args], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def _containers(cluster, ns: str, task: str) -> tuple[list[str], list[str]]:
    from operator_harness import pods

    [pod] = pods(cluster, ns, f"kflow.dev/task={task}")
    return [c.name for c in pod.spec.init_containers or []], [c.name for c in pod.spec.containers]


@pytest.mark.cluster
def test_a_shell_task_with_files_runs_in_one_container_with_the_same_results(operator, namespace):
    from operator_harness import apply, execution, flow_manifest, runs, wait_state

    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("inline", INLINE_FLOW))
    apply(cluster, namespace, execution("i1", "inline"))
    ex = wait_state(cluster, namespace, "i1", 180)
    assert ex["status"]["state"] == "WARNING", ex["status"]
    make, read, fail = (runs(ex)[t] for t in ("make", "read", "fail"))
    assert make["state"] == "SUCCESS" and make["outputs"]["vars"] == {"lines": 2} and make["outputs"]["exitCode"] == 0
    assert list(make["outputs"]["outputFiles"]) == ["out.txt"]  # not the staged data.txt
    assert make["outputs"]["outputFiles"]["out.txt"] == "kestra:///t/inline/executions/i1/work/make-1/out.txt"
    assert fail["state"] == "WARNING" and fail["outputs"]["exitCode"] == 3  # allowFailure
    assert fail["error"] == "Command failed with exit code 3"
    assert _containers(cluster, namespace, "make") == ([], ["task"])
    assert _containers(cluster, namespace, "fail") == ([], ["task"])
    # a kestra:// file to copy in is on the volume, where only the pod is: the init container stages it
    assert read["state"] == "SUCCESS" and _containers(cluster, namespace, "read") == (["prepare"], ["task"])
    logs = _kflow(operator, "logs", "i1", "-n", namespace, "--no-timestamps")
    assert "make INFO  it's \"quoted\" 100%" in logs and "make INFO  line 2" in logs
    assert "read INFO  IT'S \"QUOTED\" 100%" in logs  # the output file, read by the next task
    assert "fail INFO  before failing" in logs


SECRET_FLOW = """
id: withsecret
namespace: t
tasks:
  - id: show
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo "token {{ secret('A') }}"
      - echo '::{"outputs":{"n":{{ secret('A') | length }}}}::'
"""
PLAIN_FLOW = """
id: plain
namespace: t
tasks:
  - id: color
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ['echo "color=$ENV_COLOR"']
"""


@pytest.mark.cluster
def test_a_task_using_a_secret_keeps_its_init_container_and_no_value_in_the_pod_spec(operator, namespace):
    import base64

    from operator_harness import apply, execution, flow_manifest, pods, reconfigured, runs, wait_state

    cluster = operator.cluster
    value = "alpha-secret-value"
    cluster.core.create_namespaced_secret(namespace, {"metadata": {"name": "task-env"}, "stringData": {
        "SECRET_A": base64.b64encode(value.encode()).decode(), "ENV_COLOR": "blue"}})
    with reconfigured(operator, KFLOW_SECRETS_FROM="task-env"):
        apply(cluster, namespace, flow_manifest("withsecret", SECRET_FLOW))
        apply(cluster, namespace, flow_manifest("plain", PLAIN_FLOW))
        apply(cluster, namespace, execution("s1", "withsecret"))
        apply(cluster, namespace, execution("p1", "plain"))
        ex, plain = wait_state(cluster, namespace, "s1", 180), wait_state(cluster, namespace, "p1", 180)
        logs = _kflow(operator, "logs", "s1", "-n", namespace, "--no-timestamps")
        plain_logs = _kflow(operator, "logs", "p1", "-n", namespace, "--no-timestamps")
    assert ex["status"]["state"] == "SUCCESS", ex["status"]
    assert runs(ex)["show"]["outputs"]["vars"] == {"n": len(value)}
    assert _containers(cluster, namespace, "show") == (["prepare"], ["task"])
    assert "show INFO  token ******" in logs and value not in logs
    [pod] = pods(cluster, namespace, "kflow.dev/task=show")
    assert value not in json.dumps(cluster.core.api_client.sanitize_for_serialization(pod))
    # secretsFrom alone changes nothing: a flow naming no secret gets the Secret's ENV_* keys, no init container
    assert plain["status"]["state"] == "SUCCESS", plain["status"]
    assert _containers(cluster, namespace, "color") == ([], ["task"])
    assert "color INFO  color=blue" in plain_logs
