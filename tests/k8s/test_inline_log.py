"""A script pod's whole output in its termination message when it fits, so the operator stores the
task's log without reading it from the API (one request less per task run), and what it reads from
the message is what `kubectl logs` would have shown. Pure: run.sh (worker.write_run) runs under /bin/sh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from kflow import worker
from kflow.k8s import logstore, results


def _run(tmp: Path, command: str, masks: str = "") -> tuple[int, str, str]:
    """(exit code, what the container printed, its termination message) of run.sh for `command`."""
    workdir = tmp / "work"
    workdir.mkdir(exist_ok=True)
    worker.write_run(workdir, ["/bin/sh", "-c", command], {}, set(), masks)
    term = tmp / "termination-log"
    proc = subprocess.run(["/bin/sh", str(workdir / ".kflow" / "run.sh")], capture_output=True, text=True,
                          timeout=60, env={"PATH": os.environ["PATH"], "KFLOW_TERMINATION_LOG": str(term)})
    assert proc.stderr == ""  # stderr is merged into stdout: the log is one stream, in order
    return proc.returncode, proc.stdout, term.read_text()


def _pod(code: int, message: str) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"name": "task", "state": {"terminated": {
        "exitCode": code, "message": message}}}]}}


def _result(pod: dict[str, Any], logs: str) -> Any:
    return results.script_result("t1", 1, pod, logs, None, ["*.txt"], lambda rel: f"kestra:///{rel}",
                                 lambda level, msg: None)


def test_a_small_output_travels_whole_in_the_termination_message(tmp_path: Path):
    code, printed, message = _run(tmp_path, "echo one; echo two >&2; echo '::{\"outputs\":{\"n\":7}}::'; "
                                            "echo x > a.txt; printf 'no newline'; exit 3")
    assert code == 3
    inline = results.inline_log(_pod(code, message), script=True)
    assert inline is not None
    # the lines the log store keeps are the ones `kubectl logs` shows, stderr in its place
    assert logstore.pod_lines(inline) == logstore.pod_lines(printed)
    assert [m for _, m in logstore.pod_lines(inline)] == ["one", "two", "no newline"]
    result = _result(_pod(code, message), "")  # no log read: everything comes from the message
    assert result.outputs["vars"] == {"n": 7}
    assert result.outputs["outputFiles"] == {"a.txt": "kestra:///a.txt"}
    assert result.error == "Command failed with exit code 3"


def test_a_large_output_leaves_its_protocol_lines_in_the_message_and_the_log_is_read(tmp_path: Path):
    code, printed, message = _run(tmp_path, "seq 1 2000; echo '::{\"outputs\":{\"n\":1}}::'")
    assert code == 0 and len(printed) > 4000
    pod = _pod(code, message)
    assert results.inline_log(pod, script=True) is None  # the operator reads the log then
    assert len(message) < 3500 and all(line.startswith("::{") for line in message.splitlines())
    assert _result(pod, printed).outputs["vars"] == {"n": 1}


def test_secrets_are_masked_in_the_inline_log_too(tmp_path: Path):
    masks = worker.mask_script(["hunter2-secret"])
    code, printed, message = _run(tmp_path, "echo pass=hunter2-secret; echo hunter2-secret >&2", masks)
    assert code == 0 and "hunter2" not in printed and "hunter2" not in message
    assert [m for _, m in logstore.pod_lines(results.inline_log(_pod(0, message), True) or "")] == \
        ["pass=******", "******"]


def test_no_marker_no_inline_log():
    assert results.inline_log(_pod(0, '::{"kflow.files":[]}::\n'), script=True) is None
    assert results.inline_log(_pod(0, '::{"kflow.log":true}::\nhi\n'), script=False) is None
    assert results.inline_log({"status": {}}, script=True) is None
