"""Browser tests of `kflow ui`: the real server (`kflow ui` as a child process on a loopback port) and
Debian's Chromium driven by Playwright (setup_chromium.sh installs it when missing; Playwright never
downloads a browser here). Screenshots go to tests/ui/output/<test>/ (ignored by git), or $KFLOW_UI_SHOTS.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from uilib import UIServer

# The cluster side (test_cluster_ui.py): the fixtures of tests/cluster and tests/k8s, by import.
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / d) for d in ("cluster", "k8s")]
from clusterlib import REPO as _REPO  # noqa: E402
from clusterlib import Cluster, cluster, poll  # noqa: E402, F401  (cluster: the session fixture)
from operator_harness import SESSION_PREFIX, operator  # noqa: E402, F401  (the operator process fixture)

from fixtures.postgres import pg_db, pg_server  # noqa: E402, F401  (the test PostgreSQL)

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        done = subprocess.run(["sh", str(HERE / "setup_chromium.sh")], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.fail(f"cannot install Debian's chromium: {done.stderr[-2000:]}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the UI tests need Playwright's Python package: pip install -e '.[dev]'")
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright_driver: Any) -> Iterator[Any]:
    """A fresh Chromium (its own user-data-dir) per test."""
    with tempfile.TemporaryDirectory(prefix="kflow-ui-chromium-") as profile:
        ctx = playwright_driver.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=ARGS, viewport={"width": 1280, "height": 860})
        ctx.set_default_timeout(20_000)
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def page(browser: Any) -> Any:
    pg = browser.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.js_errors = errors
    return pg


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Any:
    """shots(page, "name"): a full-page screenshot saved under the test's output folder."""
    base = Path(os.environ.get("KFLOW_UI_SHOTS") or HERE / "output")
    folder = base / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)

    def take(pg: Any, name: str) -> Path:
        path = folder / f"{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def ui_server() -> Iterator[Any]:
    """ui_server(*args, env=...) starts `kflow ui` with those arguments; stopped after the test."""
    started: list[UIServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> UIServer:
        server = UIServer(*args, env=env)
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def crds(cluster: Cluster) -> Cluster:  # noqa: F811
    """The committed CRDs applied and served (as in tests/k8s/conftest.py)."""
    cluster.kubectl("apply", "-f", str(_REPO / "crds"))
    poll("flows, executions and crontriggers served",
         lambda: cluster.kubectl("get", "flows,executions,crontriggers", "-A", check=False).returncode == 0, 60)
    return cluster


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:  # noqa: F811
    ns = cluster.new_namespace(prefix=SESSION_PREFIX)
    yield ns
    cluster.delete_namespace(ns)

