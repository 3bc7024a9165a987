"""Script tasks run in real containers: an image lacking the shell, a command or itself fails the task
run with a message saying so, instead of hanging."""

from __future__ import annotations

import pytest
from operator_harness import apply, execution, flow_manifest, runs, wait_state

pytestmark = pytest.mark.cluster


def _flow(image: str, command: str) -> str:
    return f"""
id: img
namespace: t
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    containerImage: {image}
    commands: ["{command}"]
"""


@pytest.mark.parametrize(("image", "command", "expected"), [
    # The pause image has one static binary and no shell at all.
    ("registry.k8s.io/pause:3.10.1", "echo hi",
     "the task's image registry.k8s.io/pause:3.10.1 cannot run /bin/sh: stat /bin/sh: no such file or directory"),
    ("python:3.11-alpine", "duckdb -version",
     "Command failed with exit code 127: a command the script runs is not in the task's image"),
    ("kflow.invalid/nowhere:1", "echo hi", "cannot start in image kflow.invalid/nowhere:1 (ImagePullBackOff)"),
], ids=["no-shell", "no-command", "no-image"])
def test_script_task_in_an_image_that_cannot_run_it_fails_clearly(operator, namespace, image, command, expected):
    cluster = operator.cluster
    apply(cluster, namespace, flow_manifest("img", _flow(image, command)))
    apply(cluster, namespace, execution("e", "img"))
    ex = wait_state(cluster, namespace, "e", 120)
    assert ex["status"]["state"] == "FAILED"
    assert expected in runs(ex)["sh"]["error"], runs(ex)["sh"]
