"""Every command, given bad input, says so on one line and exits 2 (invalid input) or 1 (it could not be
done): never a traceback, nothing half-done."""

from __future__ import annotations

from pathlib import Path

import pytest
from clilib import kflow

GOOD = """\
id: ok
namespace: test.bad
inputs:
  - id: flag
    type: BOOLEAN
    defaults: false
  - id: name
    type: STRING
    defaults: x
tasks:
  - id: log
    type: io.kestra.plugin.core.log.Log
    message: "{{ inputs.flag }}"
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
"""
UNREACHABLE = """\
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: default}}]
current-context: c
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "good.yaml").write_text(GOOD)
    (d / "bad.yaml").write_text("id: [unclosed\nnamespace: x\n")
    (d / "invalid.yaml").write_text("id: x\nnamespace: y\ntasks:\n  - id: a\n    type: nope.Nope\n")
    (d / "defaults.yaml").write_text("just: a map\n")
    (d / "kubeconfig").write_text(UNREACHABLE)
    (d / "storage").mkdir()
    return {k: d / v for k, v in {"good": "good.yaml", "bad": "bad.yaml", "invalid": "invalid.yaml",
                                  "defaults": "defaults.yaml", "kube": "kubeconfig", "dir": ".",
                                  "storage": "storage"}.items()}


# (argv with {placeholders}, env kind, exit code, a piece of the one-line error)
CASES = [
    ("operator --metrics abc", None, 2, "expected [HOST:]PORT with a port in 1-65535, got 'abc'"),
    ("operator --log-format xml", None, 2, "invalid choice: 'xml'"),
    ("operator", "bad-setting", 2, "KFLOW_NODE_LOST_SECONDS='abc': expected a number"),
    ("nope", None, 2, "invalid choice: 'nope'"),
    ("run", None, 2, "the following arguments are required: flow"),
    ("run {dir}/missing.yaml", None, 2, "cannot read file"),
    ("run {bad}", None, 2, "invalid YAML: line 2, column 10"),
    ("run {invalid}", None, 2, "tasks[0]"),
    ("run {good} -i foo", None, 2, "-i expects NAME=VALUE, got 'foo'"),
    ("run {good} -i nope=1", None, 2, "inputs.nope: no such input"),
    ("run {good} -i flag=yes", None, 2, "inputs.flag: expected true or false, got 'yes'"),
    ("run {good} -l novalue", None, 2, "-l expects NAME=VALUE"),
    ("run {good} --trigger-date 2019-13-45", None, 2, "--trigger-date: expected an ISO-8601"),
    ("run {good} --trigger-date 2019-01-01 --trigger nope", None, 2, "has no trigger 'nope'"),
    ("run {good} --plugin-defaults {dir}/none.yaml", None, 2, "cannot read file"),
    ("run {good} --plugin-defaults {defaults}", None, 2, "expected a YAML list"),
    ("run {good} --plugin-defaults {bad}", None, 2, "invalid YAML"),
    ("validate {dir}/missing.yaml", None, 1, "cannot read file"),
    ("validate {bad}", None, 1, "invalid YAML"),
    ("convert {dir}/missing.yaml", None, 2, "cannot read file"),
    ("convert {bad}", None, 2, "invalid YAML"),
    ("convert {invalid}", None, 2, "refusing to convert an invalid flow"),
    ("get nope", None, 1, "execution nope not found"),
    ("logs nope", None, 1, "execution nope not found"),
    ("outputs nope", None, 1, "execution nope not found"),
    ("gantt nope", None, 1, "execution nope not found"),
    ("restart nope", None, 1, "execution nope not found"),
    ("replay nope --from x", None, 1, "execution nope not found"),
    ("resume nope -i a=b", None, 1, "execution nope not found"),
    ("resume nope -i foo", None, 2, "-i expects NAME=VALUE"),
    ("kill nope", None, 1, "execution nope not found"),
    ("list --since yesterday", None, 2, "--since: expected an ISO-8601"),
    ("list --since P1X", None, 2, "expected an ISO-8601 duration"),
    ("prune --older-than 7d", None, 2, "expected an ISO-8601 duration"),
    ("prune", None, 2, "say what to delete"),
    ("backfill --local {good} --start soon --end 2019-02-01", None, 2, "--start: expected an ISO-8601"),
    ("backfill --local {good} --start 2019-02-01 --end 2019-01-01", None, 2, "is before --start"),
    ("backfill --local {dir}/missing.yaml --start 2019-01-01 --end 2019-01-02", None, 2, "cannot read file"),
    ("backfill --local {good} --start 2019-01-01 --end 2019-01-02 -i foo", None, 2, "-i expects NAME=VALUE"),
    ("backfill --local {good} --start 2019-01-01 --end 2019-01-02 --trigger x", None, 2, "has no trigger 'x'"),
    ("backfill", None, 2, "the following arguments are required: --start, --end"),
    ("backfill --start 2019-01-01 --end 2019-01-02", None, 2, "name the CronTrigger"),
    ("backfill t --start 2019-01-01 --end bad", "none", 2, "--end: expected an ISO-8601"),
    ("backfill t --start 2019-01-01 --end 2019-01-02", "none", 1, "no usable kubeconfig"),
    ("backfill t --start 2019-01-01 --end 2019-01-02", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("executions --cluster", "none", 1, "no usable kubeconfig"),
    ("executions -n ns", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("get x --cluster", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("logs x --context nope", "unreachable", 1, "kubeconfig context 'nope'"),
    ("restart x --cluster", "none", 1, "no usable kubeconfig"),
    ("kill x -n ns", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("resume x --cluster -i foo", "unreachable", 2, "-i expects NAME=VALUE"),
    ("submit {good}", "none", 1, "no usable kubeconfig"),
    ("submit {good}", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("submit {dir}/missing.yaml", "unreachable", 2, "no such file"),
    ("submit {good} -i foo", "unreachable", 2, "-i expects NAME=VALUE"),
    ("submit hello-world", "unreachable", 1, "cannot reach the Kubernetes API"),
    ("trigger t", "none", 1, "no usable kubeconfig"),
    ("trigger t --date later", "unreachable", 1, "cannot reach the Kubernetes API"),
]


@pytest.mark.parametrize(("argv", "kube", "code", "message"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(files, tmp_path, argv, kube, code, message):
    args = [a.format(**files) for a in argv.split()]
    env = {"HOME": str(tmp_path), "KFLOW_HOME": str(files["storage"])}
    if kube == "none":
        env["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    elif kube == "unreachable":
        env["KUBECONFIG"] = str(files["kube"])
    elif kube == "bad-setting":  # a chart setting as the operator gets it
        env["KFLOW_NODE_LOST_SECONDS"] = "abc"
    res = kflow(*args, env=env, timeout=120)
    out = res.stderr + res.stdout
    assert "Traceback" not in out, out
    assert res.returncode == code, f"exit {res.returncode}: {out}"
    assert message in out, out
    # one line: the error (validation lists one line per problem, each naming the file)
    # (validate reports on stdout: its report is its output)
    errors = [line for line in (res.stdout if args[0] == "validate" else res.stderr).splitlines() if line.strip()]
    assert errors and all(line.startswith(("kflow ", "kflow:", str(files["dir"]))) or "tasks[" in line for line in errors), out
