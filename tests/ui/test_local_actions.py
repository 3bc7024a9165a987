"""`kflow ui --allow-actions` on this machine, in Chromium: the execute form, live updates, kill, restart,
replay; and nothing of that without --allow-actions."""

from __future__ import annotations

import json
import textwrap
import urllib.request
from pathlib import Path

import pytest
from uilib import poll, wait_ready

FLOWS = {
    "typed.yaml": """\
        id: typed
        namespace: ui.test
        inputs:
          - id: count
            type: INT
            min: 1
          - id: who
            type: STRING
            defaults: world
          - id: colour
            type: SELECT
            values: [red, green]
            defaults: green
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: "hello {{ inputs.who }} x{{ inputs.count }} in {{ inputs.colour }}"
        """,
    "slow.yaml": """\
        id: slow
        namespace: ui.test
        inputs:
          - id: pause
            type: STRING
            defaults: PT1.5S
        tasks:
          - id: first
            type: io.kestra.plugin.core.log.Log
            message: starting
          - id: wait1
            type: io.kestra.plugin.core.flow.Sleep
            duration: "{{ inputs.pause }}"
          - id: middle
            type: io.kestra.plugin.core.log.Log
            message: half way
          - id: wait2
            type: io.kestra.plugin.core.flow.Sleep
            duration: "{{ inputs.pause }}"
          - id: last
            type: io.kestra.plugin.core.debug.Return
            format: done
        """,
    "flaky.yaml": """\
        id: flaky
        namespace: ui.test
        inputs:
          - id: marker
            type: STRING
        tasks:
          - id: before
            type: io.kestra.plugin.core.debug.Return
            format: ready
          - id: check
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner:
              type: io.kestra.plugin.core.runner.Process
            commands:
              - test -f {{ inputs.marker }}
          - id: after
            type: io.kestra.plugin.core.log.Log
            message: "marker found"
        """,
    "pause.yaml": """\
        id: pause
        namespace: ui.test
        tasks:
          - id: before
            type: io.kestra.plugin.core.log.Log
            message: waiting for someone
          - id: approve
            type: io.kestra.plugin.core.flow.Pause
          - id: after
            type: io.kestra.plugin.core.log.Log
            message: approved
        """,
}


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "flows"
    folder.mkdir()
    for name, text in FLOWS.items():
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def actions(ui_server, flows_dir, tmp_path):
    return ui_server("--storage", str(tmp_path / "storage"), "--flows", str(flows_dir), "--allow-actions")


def _api(server, path: str):
    with urllib.request.urlopen(server.url + path.lstrip("/")) as r:
        return json.loads(r.read())


def _open_execute(page, server, flow: str) -> None:
    page.goto(server.url + f"#/flows/ui.test/{flow}")
    wait_ready(page, "flow")
    page.click("#execute")
    page.wait_for_selector("dialog[open] #exec-form")


def test_execute_form_rejects_a_bad_input_with_kestras_message(actions, page, shots):
    _open_execute(page, actions, "typed")
    # one labelled field per typed input, defaults filled in
    assert page.get_by_label("count").input_value() == ""
    assert page.get_by_label("who").input_value() == "world"
    assert page.locator("#in-colour").evaluate("s => s.tagName") == "SELECT"
    page.get_by_label("count").fill("abc")
    page.click("#exec-form button[type=submit]")
    alert = page.locator("#exec-error .alert")
    alert.wait_for()
    assert alert.inner_text() == "inputs.count: Invalid input for `count`, Expected `INT` but received `abc`"
    assert page.get_attribute("#in-count", "aria-invalid") == "true"
    assert "Expected `INT`" in page.inner_text("#in-count-err")
    assert page.evaluate("document.activeElement.id") == "in-count"
    shots(page, "execute-form-rejected")
    # below min: Kestra's bound message; a required input left empty: Kestra's missing-input message
    page.get_by_label("count").fill("0")
    page.click("#exec-form button[type=submit]")
    page.wait_for_function("document.querySelector('#exec-error').innerText.includes('more than')")
    assert "Invalid input for `count`, it must be more than `1`, but received `0`" in page.inner_text("#exec-error")
    page.get_by_label("count").fill("")
    page.click("#exec-form button[type=submit]")
    page.wait_for_function("document.querySelector('#exec-error').innerText.includes('missing')")
    assert "Invalid input for `count`, missing required input, but received `null`" in page.inner_text("#exec-error")
    assert _api(actions, "/api/executions") == []  # nothing was created
    # a good value runs it, with the typed inputs
    page.get_by_label("count").fill("3")
    page.select_option("#in-colour", "red")
    page.fill("#exec-labels", "team=ui")
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')")
    page.click("#tab-overview")
    overview = page.inner_text("#overview")
    assert "count\n3" in overview and "colour\nred" in overview and "team\nui" in overview
    assert page.js_errors == []


def test_live_update_while_a_run_progresses(actions, page, shots):
    _open_execute(page, actions, "slow")
    page.evaluate("window.__samePage = 1")
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    # the page fills in as the run goes: RUNNING with fewer bars, then all five and SUCCESS
    page.wait_for_selector("#exec-state .badge:text('RUNNING')")
    seen_running = page.locator("#gantt .gantt-bar").count()
    assert seen_running < 5
    shots(page, "execution-running")
    page.wait_for_function(f"document.querySelectorAll('#gantt .gantt-bar').length > {seen_running}", timeout=20_000)
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')", timeout=20_000)
    assert page.locator("#gantt .gantt-bar").count() == 5
    assert page.evaluate("window.__samePage") == 1  # updated in place, never reloaded
    shots(page, "execution-live-done")

    # the executions list is live too: a new run shows up and turns SUCCESS without a reload
    page.goto(actions.url + "#/executions?flow=slow")
    wait_ready(page, "executions")
    page.wait_for_function("document.querySelectorAll('#exec-rows tr').length == 1")
    page.evaluate("window.__samePage = 2")
    done = poll("a second run", lambda: urllib.request.urlopen(urllib.request.Request(
        actions.url + "api/flows/ui.test/slow/execute", data=b'{"inputs": {"pause": "PT0.5S"}}',
        headers={"Content-Type": "application/json"}, method="POST")).status == 201)
    assert done
    page.wait_for_function("document.querySelectorAll('#exec-rows tr').length == 2")
    page.wait_for_function("[...document.querySelectorAll('#exec-rows .badge')].every(b => b.innerText == 'SUCCESS')",
                           timeout=20_000)
    assert page.evaluate("window.__samePage") == 2
    shots(page, "executions-live")


def test_kill_from_the_execution_page(actions, page, shots):
    _open_execute(page, actions, "slow")
    page.get_by_label("pause").fill("PT30S")
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('RUNNING')")
    page.click("[data-act=kill]")
    page.wait_for_selector("#exec-state .badge:text('KILLED')", timeout=30_000)
    assert page.locator("[data-act=kill]").count() == 0
    shots(page, "execution-killed")


def test_restart_and_replay_from_the_page(actions, page, shots, tmp_path):
    marker = tmp_path / "marker"
    _open_execute(page, actions, "flaky")
    page.get_by_label("marker").fill(str(marker))
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('FAILED')", timeout=30_000)
    first_key = page.evaluate("location.hash")
    marker.write_text("here")
    page.click("[data-act=restart]")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')", timeout=30_000)
    assert page.evaluate("location.hash") == first_key  # Kestra's restart: the same execution goes on
    page.locator('.gantt-row[data-run="check"]').click()
    page.wait_for_selector("#run-detail caption:text('Attempts')")
    assert page.locator("#run-detail tbody tr").count() == 2  # the failed attempt and the one that passed
    shots(page, "execution-restarted")

    page.click("#replay")
    page.wait_for_function(f"location.hash != {json.dumps(first_key)}", timeout=20_000)
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')", timeout=30_000)
    rows = _api(actions, "/api/executions?flow=flaky")
    assert len(rows) == 2
    shots(page, "execution-replayed")


def test_read_only_without_allow_actions(ui_server, flows_dir, tmp_path, page):
    server = ui_server("--storage", str(tmp_path / "storage"), "--flows", str(flows_dir))
    page.goto(server.url + "#/flows/ui.test/typed")
    wait_ready(page, "flow")
    assert page.locator("#execute").count() == 0
    req = urllib.request.Request(server.url + "api/flows/ui.test/typed/execute", data=b'{"inputs": {"count": 1}}',
                                 headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req)
    assert err.value.code == 403
    assert "--allow-actions" in json.loads(err.value.read())["error"]
    assert _api(server, "/api/executions") == []


def test_resume_a_pause_from_the_page(actions, page, shots):
    _open_execute(page, actions, "pause")
    page.click("#exec-form button[type=submit]")
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('PAUSED')", timeout=30_000)
    assert page.locator("#gantt .gantt-bar").count() == 2
    shots(page, "execution-paused")
    page.click("[data-act=resume]")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')", timeout=30_000)
    assert page.locator("#gantt .gantt-bar").count() == 3
    shots(page, "execution-resumed")
