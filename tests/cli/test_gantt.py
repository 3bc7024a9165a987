"""`kflow gantt`: the task runs of a past run on a time axis, in the terminal and as an HTML page that a
real (headless Chromium) browser draws with one bar per task run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from clilib import REPO, execution_id, kflow, write_flow
from pngread import read_png

FLOW = """
id: chart
namespace: test.gantt
tasks:
  - id: first
    type: io.kestra.plugin.scripts.shell.Commands
    commands: ["sleep 0.3"]
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [x, y]
    tasks:
      - id: inner
        type: io.kestra.plugin.scripts.shell.Commands
        commands: ["sleep 0.2"]
  - id: broken
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    commands: ["exit 4"]
"""
GREEN, AMBER = (0x2E, 0x9E, 0x4F), (0xE0, 0xA1, 0x00)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("gantt")
    storage = folder / "storage"
    res = kflow("run", str(write_flow(folder, "chart.yaml", FLOW)), storage=storage)
    assert res.returncode == 0, res.stdout + res.stderr  # WARNING: allowFailure
    return storage, execution_id(res)


def test_terminal_gantt_one_line_per_task_run(run):
    storage, ex_id = run
    res = kflow("gantt", ex_id, "--width", "100", storage=storage)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"test.gantt.chart {ex_id} WARNING")
    bars = [line for line in lines if "█" in line]
    names = [line.split("|")[0].strip() for line in bars]
    assert names == ["first", "each", "inner[x]", "inner[y]", "broken"]
    assert "WARNING" in bars[-1]
    # first runs before the loop: its bar ends where inner[x]'s starts, or before
    assert bars[0].split("|")[1].rstrip().__len__() <= bars[2].split("|")[1].index("█") + 1


def test_html_gantt_in_a_browser_one_bar_per_task_run(run, tmp_path):
    storage, ex_id = run
    page = tmp_path / "gantt.html"
    res = kflow("gantt", ex_id, "--html", str(page), storage=storage)
    assert res.returncode == 0, res.stderr
    browser = subprocess.run([str(REPO / "scripts" / "chromium.sh"), "path"], capture_output=True, text=True,
                             check=True).stdout.strip()
    shot = tmp_path / "gantt.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,500", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, height, pixels = read_png(shot)
    assert (width, height) == (1000, 500)

    def bands(colour: tuple[int, int, int]) -> list[tuple[int, int]]:
        """Vertical extents of the horizontal runs of pixels of `colour` (a bar each)."""
        hit = [sum(1 for p in row if all(abs(a - b) < 8 for a, b in zip(p, colour, strict=True))) >= 3
               for row in pixels]
        out, start = [], None
        for y, h in enumerate([*hit, False]):
            if h and start is None:
                start = y
            elif not h and start is not None:
                out.append((start, y))
                start = None
        return out

    green, amber = bands(GREEN), bands(AMBER)
    # 4 successful task runs (first, each, inner[x], inner[y]), 1 WARNING (broken), drawn in that order; the
    # "WARNING" state in the heading is amber text too, above the chart
    assert len(green) == 4, green
    assert len(amber) == 2 and amber[0][1] < green[0][0] and amber[1][0] > green[-1][1], (amber, green)
    assert all(8 <= b - a <= 24 for a, b in [*green, amber[1]])  # bars, not text


def test_logs_and_gantt_of_a_past_getting_started_run(tmp_path):
    storage = tmp_path / "storage"
    res = kflow("run", "flows/01_getting_started_data_pipeline.yaml", "-q", storage=storage)
    assert res.returncode == 0, res.stdout + res.stderr
    ex_id = execution_id(res)
    logs = kflow("logs", ex_id, "--task", "query", "--level", "INFO", "--no-timestamps", storage=storage)
    assert logs.returncode == 0 and logs.stdout.splitlines() == ["query INFO  fetched 15 row(s) (STORE)"]
    chart = kflow("gantt", ex_id, "--width", "90", storage=storage).stdout.splitlines()
    assert [line.split("|")[0].strip() for line in chart if "█" in line] == ["extract", "transform", "query"]
