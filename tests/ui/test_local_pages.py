"""`kflow ui` over the local history, in Chromium: what a Kestra user looks at after `kflow run`."""

from __future__ import annotations

import json
import statistics
import textwrap
from pathlib import Path

import pytest
from uilib import REPO, kflow, wait_ready

GETTING_STARTED = "flows/01_getting_started_data_pipeline.yaml"


@pytest.fixture(scope="module")
def getting_started(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `kflow run` of the getting-started pipeline into a fresh storage root: (root, execution id)."""
    root = tmp_path_factory.mktemp("storage")
    done = kflow("run", GETTING_STARTED, "--storage", str(root), "--json")
    assert done.returncode == 0, done.stderr
    return root, json.loads(done.stdout)["id"]


def test_getting_started_execution_gantt_logs_and_query_table(getting_started, ui_server, page, shots):
    root, ex_id = getting_started
    server = ui_server("--storage", str(root), "--flows", str(REPO / "flows"))
    page.goto(server.url + "#/executions")
    wait_ready(page, "executions")
    row = page.locator(f'#exec-rows tr[data-key="zoomcamp/{ex_id}"]')
    row.wait_for()
    assert "SUCCESS" in row.inner_text() and "01_getting_started_data_pipeline" in row.inner_text()
    shots(page, "executions")

    row.locator("a").click()
    wait_ready(page, "execution")
    page.wait_for_selector("#exec-state .badge:text('SUCCESS')")
    bars = page.locator("#gantt .gantt-bar")
    assert bars.count() == 3
    names = page.locator("#gantt .gantt-name").all_inner_texts()
    assert [n.strip() for n in names] == ["extract", "transform", "query"]
    shots(page, "execution-gantt")

    # the transform task's logs: click its bar (a keyboard-reachable button)
    page.locator('.gantt-row[data-run="transform"]').click()
    logs = page.locator("#run-logs")
    logs.locator(".line").first.wait_for()
    assert "Starting command with pid" in logs.inner_text()
    assert page.locator('.gantt-row[data-run="transform"]').get_attribute("aria-expanded") == "true"
    shots(page, "execution-transform-logs")
    # the level filter: ERROR only hides the DEBUG line
    page.select_option("#run-level", "ERROR")
    page.wait_for_function("!document.querySelector('#run-logs').innerText.includes('Starting command')")

    # the query's STORE result previewed as a brand / avg_price table
    page.click("#tab-outputs")
    query = page.locator('[data-outputs="query"]')
    query.locator("[data-preview]").first.click()
    table = query.locator("table.preview")
    table.wait_for()
    assert table.locator("thead th").all_inner_texts() == ["brand", "avg_price"]
    cells = table.locator("tbody tr").first.locator("td").all_inner_texts()
    assert cells[0] and float(cells[1]) > 0
    assert table.locator("tbody tr").count() >= 10
    download = query.locator("a[download]").first
    assert "/file?uri=kestra" in download.get_attribute("href")
    shots(page, "execution-outputs")

    page.click("#tab-overview")
    page.wait_for_selector("#overview dl.kv")
    assert "columns_to_keep" in page.inner_text("#overview")
    shots(page, "execution-overview")
    assert page.js_errors == []


def test_transform_json_preview_and_download(getting_started, ui_server, page):
    root, ex_id = getting_started
    server = ui_server("--storage", str(root))
    page.goto(server.url + f"#/executions/zoomcamp/{ex_id}?tab=outputs")
    wait_ready(page, "execution")
    transform = page.locator('[data-outputs="transform"]')
    transform.locator("[data-preview]").first.click()
    table = transform.locator("table.preview").first
    table.wait_for()
    assert table.locator("thead th").all_inner_texts() == ["brand", "price"]
    with page.expect_download() as got:
        transform.locator("a[download]").first.click()
    path = got.value.path()
    assert json.loads(Path(path).read_text())[0].keys() == {"brand", "price"}


def test_flows_and_triggers_pages(getting_started, ui_server, page, shots, tmp_path):
    root, _ = getting_started
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.yaml").write_text(textwrap.dedent("""\
        id: broken
        namespace: ui.test
        tasks:
          - id: nope
            type: io.kestra.plugin.core.log.Log
            retry: {type: constant, interval: soon}
        """))
    (flows / "sched.yaml").write_text(textwrap.dedent("""\
        id: sched
        namespace: ui.test
        tasks:
          - id: hello
            type: io.kestra.plugin.core.log.Log
            message: hi
        triggers:
          - id: monthly
            type: io.kestra.plugin.core.trigger.Schedule
            cron: "0 9 1 * *"
        """))
    server = ui_server("--storage", str(root), "--flows", str(flows))
    page.goto(server.url + "#/flows")
    wait_ready(page, "flows")
    text = page.inner_text("main")
    assert "broken" in text and "invalid" in text and "sched" in text
    # a flow known only from the history shows too (the getting-started run)
    assert "01_getting_started_data_pipeline" in text
    shots(page, "flows")

    page.click("text=broken")
    wait_ready(page, "flow")
    alert = page.inner_text("[role=alert]")
    assert "tasks[0].retry" in alert, alert
    assert "interval: soon" in page.inner_text("pre.source")
    shots(page, "flow-invalid")

    page.goto(server.url + "#/flows/ui.test/sched")
    wait_ready(page, "flow")
    assert 'cron: "0 9 1 * *"' in page.inner_text("pre.source")  # the file as written
    assert page.locator("#execute").count() == 0  # read-only: no execute button

    page.goto(server.url + "#/triggers")
    wait_ready(page, "triggers")
    trig = page.locator('#trigger-rows tr[data-key="ui.test/sched/monthly"]')
    trig.wait_for()
    assert "0 9 1 * *" in trig.inner_text()
    assert "-01 09:00:00" in trig.inner_text()  # next and last ticks
    shots(page, "triggers")
    assert page.js_errors == []


def test_page_load_under_300ms_with_2000_task_runs(ui_server, page, shots, tmp_path):
    flow = tmp_path / "many.yaml"
    flow.write_text(textwrap.dedent("""\
        id: many_runs
        namespace: ui.test
        tasks:
          - id: each
            type: io.kestra.plugin.core.flow.ForEach
            values: "{{ range(1, 1999) }}"
            concurrencyLimit: 0
            tasks:
              - id: one
                type: io.kestra.plugin.core.debug.Return
                format: "item {{ taskrun.value }}"
        """))
    root = tmp_path / "storage"
    done = kflow("run", str(flow), "--storage", str(root), "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert len(doc["taskRuns"]) == 2000
    server = ui_server("--storage", str(root))
    url = server.url + f"#/executions/ui.test/{doc['id']}"
    page.goto(url)
    wait_ready(page, "execution")
    times = []
    for _ in range(5):  # the median of five loads: the machine is shared, a single load is noisy
        page.goto("about:blank")
        page.goto(url)
        wait_ready(page, "execution")
        # from the start of navigation to the Gantt painted with its data
        times.append(page.evaluate("window.kflowFirstPaint"))
    # one row and bar per task run: the rows in view are in the DOM, each knows its place among 2,000
    assert page.get_attribute("#gantt .gantt", "data-count") == "2000"
    rows = page.locator("#gantt .gantt-row")
    assert 20 <= rows.count() < 2000 and page.locator("#gantt .gantt-bar").count() == rows.count()
    assert page.get_attribute("#gantt li >> nth=0", "aria-setsize") == "2000"
    shots(page, "execution-2000-task-runs")
    # the keyboard reaches the last one (End), which the list draws when scrolled to
    rows.first.focus()
    page.keyboard.press("End")
    last = page.locator('.gantt-row[data-run="one.1998"]')
    last.wait_for()
    # the list redraws on the scroll event a frame later: the focus must survive that redraw too
    page.evaluate("() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(() => ok(true))))")
    assert last.evaluate("b => b === document.activeElement"), page.evaluate(
        "() => [document.activeElement.outerHTML.slice(0, 200), document.querySelector('.gantt-rows').scrollTop,"
        " document.querySelector('.gantt-rows').clientHeight]")
    assert last.evaluate("b => b.parentElement.getAttribute('aria-posinset')") == "2000"
    print(f"page load with 2000 task runs: {[round(t) for t in times]} ms")
    assert statistics.median(times) < 300, times


def test_keyboard_only(getting_started, ui_server, page, shots):
    """Rows, tabs and the level filter all work from the keyboard; every form control has a label."""
    root, ex_id = getting_started
    server = ui_server("--storage", str(root))
    page.goto(server.url + f"#/executions/zoomcamp/{ex_id}")
    wait_ready(page, "execution")
    page.focus('.gantt-row[data-run="extract"]')
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.run") == "transform"
    page.keyboard.press("Enter")
    page.wait_for_selector("#run-detail h2:has-text('transform')")
    page.locator("#run-logs .line").first.wait_for()
    # tabs: arrow keys move the selection (WAI-ARIA tabs pattern)
    page.focus("#tab-gantt")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-logs", "aria-selected") == "true"
    assert page.is_visible("#panel-logs") and not page.is_visible("#panel-gantt")
    page.locator("#logs-all .line").first.wait_for()
    assert "[transform]" in page.inner_text("#logs-all")
    page.select_option("#logs-level", "INFO")  # the DEBUG line of transform is gone at INFO
    page.wait_for_function("!document.querySelector('#logs-all').innerText.includes('Starting command')")
    shots(page, "execution-logs-tab")
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea')]
        .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.id)""")
    assert unlabelled == []


def test_execution_filters_from_the_form(getting_started, ui_server, page):
    root, _ = getting_started
    server = ui_server("--storage", str(root))
    page.goto(server.url + "#/executions")
    wait_ready(page, "executions")
    page.locator("#exec-rows tr").first.wait_for()
    page.select_option("#f-state", "FAILED")
    page.click("#filters button[type=submit]")
    page.wait_for_function("location.hash.includes('state=FAILED')")
    wait_ready(page, "executions")
    page.wait_for_function("document.querySelector('#exec-count').innerText == '0 execution(s)'")
    page.select_option("#f-state", "SUCCESS")
    page.fill("#f-flow", "zoomcamp.01_getting")
    page.fill("#f-since", "2000-01-01")
    page.click("#filters button[type=submit]")
    wait_ready(page, "executions")
    page.wait_for_function("document.querySelector('#exec-count').innerText == '1 execution(s)'")
    page.fill("#f-label", "nope=1")
    page.click("#filters button[type=submit]")
    wait_ready(page, "executions")
    page.wait_for_function("document.querySelector('#exec-count').innerText == '0 execution(s)'")
