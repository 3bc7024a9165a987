"""`kflow convert` writes the flow back as its author wrote it (block scalars, comments, key order), refuses
invalid flows, and prints manifests that validate."""

from __future__ import annotations

import yaml
from clilib import REPO, kflow, write_flow

FLOW = """\
# Loads a table.
#   kflow run load.yaml
id: load
namespace: test.convert
description: |
  Two lines
  of description.

tasks:
  # first create it
  - id: create
    type: io.kestra.plugin.jdbc.postgresql.Queries
    url: jdbc:postgresql://127.0.0.1:55432/db
    sql: |
      -- the target table
      CREATE TABLE IF NOT EXISTS t (
          id   integer,  -- key
          name text
      );
    fetchType: NONE   # nothing to read back
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "done: {{ outputs.create }}"
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
"""


def test_block_scalars_comments_and_order_are_kept(tmp_path):
    res = kflow("convert", str(write_flow(tmp_path, "load.yaml", FLOW)))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("---\n# Loads a table.\n#   kflow run load.yaml\napiVersion: kflow.dev/v1alpha1\n")
    # the flow's text, indented under spec: as written
    assert "      sql: |\n        -- the target table\n        CREATE TABLE IF NOT EXISTS t (\n" in out
    assert "          id   integer,  -- key\n" in out
    assert "  description: |\n    Two lines\n    of description.\n" in out
    assert "  tasks:\n    # first create it\n    - id: create" in out
    assert "fetchType: NONE   # nothing to read back" in out
    doc = yaml.safe_load(out)
    assert list(doc) == ["apiVersion", "kind", "metadata", "spec"] and doc["metadata"] == {"name": "load"}
    assert list(doc["spec"]) == ["id", "namespace", "description", "tasks", "triggers"]
    assert list(doc["spec"]["tasks"][0]) == ["id", "type", "url", "sql", "fetchType"]
    converted = tmp_path / "manifest.yaml"
    converted.write_text(out)
    valid = kflow("validate", "-v", str(converted))
    assert valid.returncode == 0 and "valid" in valid.stdout, valid.stdout


def test_split_triggers_and_namespace(tmp_path):
    res = kflow("convert", "--split-triggers", "-n", "team-a", str(write_flow(tmp_path, "load.yaml", FLOW)))
    assert res.returncode == 0, res.stderr
    flow, cron = list(yaml.safe_load_all(res.stdout))
    assert "triggers" not in flow["spec"] and flow["metadata"]["namespace"] == "team-a"
    assert cron["kind"] == "CronTrigger" and cron["spec"]["cron"] == "0 2 * * *"
    assert cron["metadata"]["namespace"] == "team-a"


def test_taxi_flow_sql_stays_block_scalars_and_validates(tmp_path):
    res = kflow("convert", str(REPO / "flows" / "02_postgres_taxi_scheduled.yaml"))
    assert res.returncode == 0, res.stderr
    assert "\\n" not in res.stdout  # no SQL squeezed into an escaped one-line string
    assert res.stdout.count("sql: |") == 9
    assert "      sql: |\n        CREATE TABLE IF NOT EXISTS {{render(vars.table)}} (\n" in res.stdout
    out = tmp_path / "taxi.yaml"
    out.write_text(res.stdout)
    assert kflow("validate", str(out)).returncode == 0
    # the manifest converts to itself
    again = kflow("convert", str(out))
    assert again.returncode == 0 and again.stdout == res.stdout


def test_invalid_flow_is_refused_with_its_errors(tmp_path):
    bad = write_flow(tmp_path, "bad.yaml", """\
        id: bad
        namespace: test.convert
        tasks:
          - id: x
            type: io.kestra.plugin.core.log.Log
            retry:
              type: constant
              interval: soon
        """)
    res = kflow("convert", str(bad))
    assert res.returncode == 2 and res.stdout == ""
    assert "refusing to convert an invalid flow" in res.stderr and "tasks[0].retry" in res.stderr
    assert "Traceback" not in res.stderr
