"""The example GitOps repository stays what its README says it is (no cluster needed)."""

from __future__ import annotations

import subprocess
import sys

import yaml
from clusterlib import REPO
from test_gitops_flux import readme_steps

EXAMPLE = REPO / "examples" / "gitops"


def test_the_taxi_flow_file_is_what_kflow_convert_split_triggers_prints():
    out = subprocess.run([sys.executable, "-m", "kflow.cli", "convert", "--split-triggers",
                          str(REPO / "flows" / "02_postgres_taxi_scheduled.yaml")],
                         capture_output=True, text=True, check=True).stdout
    committed = (EXAMPLE / "flows" / "02-postgres-taxi-scheduled" / "flow.yaml").read_text()
    assert list(yaml.safe_load_all(committed)) == list(yaml.safe_load_all(out)), \
        "regenerate: kflow convert --split-triggers flows/02_postgres_taxi_scheduled.yaml " \
        "> examples/gitops/flows/02-postgres-taxi-scheduled/flow.yaml"


def test_the_crds_in_the_example_are_the_generated_ones():
    listed = yaml.safe_load((EXAMPLE / "crds" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    for name in listed:
        assert (EXAMPLE / "crds" / name).resolve() == (REPO / "crds" / name).resolve()


def test_the_readme_has_every_step_the_tests_run():
    assert set(readme_steps()) == {"repo", "push", "sync", "reconcile", "backfill-range", "prune"}
