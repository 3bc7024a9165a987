"""git.Clone, git.SyncNamespaceFiles and dbt.cli.DbtCLI on `kflow run`, against a real git repository."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from kflow.engine.state import State
from kflow.errors import FlowInvalid
from kflow.model.loader import load_flow_text


def _repo(tmp_path: Path) -> str:
    repo = tmp_path / "repo"
    (repo / "project" / "models").mkdir(parents=True)
    (repo / "project" / "dbt_project.yml").write_text("name: taxi_rides_ny\n")
    (repo / "project" / "models" / "trips.sql").write_text("select 1 as id\n")
    (repo / "README.md").write_text("not synced\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return f"file://{repo}"


SYNC = """
id: sync
namespace: zoomcamp
tasks:
  - id: sync
    type: io.kestra.plugin.git.SyncNamespaceFiles
    url: {url}
    branch: main
    namespace: "{{{{ flow.namespace }}}}"
    gitDirectory: project
    dryRun: {dry}
  - id: use
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles: {{enabled: true}}
    commands:
      - echo "::{{\\"outputs\\":{{\\"sql\\":\\"$(cat models/trips.sql)\\"}}}}::"
"""


def test_sync_namespace_files_copies_the_folder_into_the_namespace(run_flow, tmp_path: Path) -> None:
    url, home = _repo(tmp_path), tmp_path / "home"
    dry = run_flow(SYNC.format(url=url, dry="true"), env={"KFLOW_HOME": str(home)})
    assert dry.outputs("sync")["added"] == ["dbt_project.yml", "models/trips.sql"]
    assert not (home / "namespaces" / "zoomcamp" / "files").exists()  # a dry run writes nothing
    run = run_flow(SYNC.format(url=url, dry="false"), env={"KFLOW_HOME": str(home)})
    assert run.state == State.SUCCESS, [(t.taskId, t.error) for t in run.ex.taskRuns]
    files = home / "namespaces" / "zoomcamp" / "files"
    assert sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file()) == \
        ["dbt_project.yml", "models/trips.sql"]
    assert run.outputs("use")["vars"] == {"sql": "select 1 as id"}
    again = run_flow(SYNC.format(url=url, dry="false"), env={"KFLOW_HOME": str(home)})
    assert again.outputs("sync")["added"] == [] and again.outputs("sync")["updated"] == []


def test_a_clone_that_fails_names_the_url_and_hides_the_password(run_flow, tmp_path: Path) -> None:
    run = run_flow("""
        id: bad
        namespace: t
        tasks:
          - id: clone
            type: io.kestra.plugin.git.Clone
            url: file:///nonexistent/repo
            password: hunter2-secret
            branch: main
    """)
    assert run.state == State.FAILED
    error = run.run("clone").error
    assert "git clone of file:///nonexistent/repo (branch main) failed" in error and "hunter2" not in error


DBT = """
id: dbt
namespace: t
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: clone
        type: io.kestra.plugin.git.Clone
        url: {url}
        branch: main
      - id: dbt
        type: io.kestra.plugin.dbt.cli.DbtCLI
        projectDir: project
        env: {{DBT_SCHEMA: public}}
        profiles: |
          default:
            target: dev
            outputs:
              dev: {{type: duckdb, path: "{{{{ inputs.db }}}}"}}
        commands:
          - test -f dbt_project.yml
          - grep -q '"{status}.duckdb"' "$DBT_PROFILES_DIR/profiles.yml"
          - mkdir -p target && echo '{{"results":[{{"unique_id":"model.taxi.trips","status":"{status}"}}]}}' > target/run_results.json
          - echo '{{"nodes":{{}}}}' > target/manifest.json
inputs:
  - {{id: db, type: STRING}}
"""


@pytest.mark.parametrize("status,state", [("success", State.SUCCESS), ("error", State.FAILED)])
def test_dbt_cli_writes_profiles_runs_in_the_project_and_reads_run_results(run_flow, tmp_path, status, state):
    run = run_flow(DBT.format(url=_repo(tmp_path), status=status), inputs={"db": f"{status}.duckdb"})
    assert run.state == state, [(t.taskId, t.error) for t in run.ex.taskRuns]
    dbt = run.run("dbt")
    assert dbt.outputs["runResults"] == {"model.taxi.trips": status}
    assert dbt.outputs["outputFiles"]["manifest.json"].startswith("kestra://")
    if state == State.FAILED:
        assert "dbt: 1 node(s) failed: model.taxi.trips" in dbt.error


def test_the_2025_zoomcamp_dbt_flow_validates() -> None:
    flow = Path(__file__).parents[2] / "flows" / "03_postgres_dbt.yaml"
    loaded = load_flow_text(flow.read_text(), str(flow))
    assert [t.TYPE for t in loaded.flow.tasks] == ["io.kestra.plugin.git.SyncNamespaceFiles",
                                                    "io.kestra.plugin.dbt.cli.DbtCLI"]


def test_dbt_cli_without_commands_names_the_path() -> None:
    with pytest.raises(FlowInvalid) as exc:
        load_flow_text(textwrap.dedent("""
            id: x
            namespace: t
            tasks:
              - id: d
                type: io.kestra.plugin.dbt.cli.DbtCLI
                profiles: "x"
        """), "x.yaml")
    assert "tasks[0].commands" in str(exc.value)
    json.dumps(str(exc.value))
