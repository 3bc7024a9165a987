"""namespaceFiles on script tasks: `kflow run --namespace-files DIR`, or the namespace's folder in KFLOW_HOME
filled by `kflow namespace files upload`; FILE inputs defaulting to an `nsfile:///` file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

FLOW = """
id: nsfiles
namespace: company.team
inputs:
  - id: lookup
    type: FILE
    defaults: nsfile:///ref/codes.csv
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: true
      include: ["scripts/**", "ref/*.csv"]
      exclude: ["**/*.bak"]
    commands:
      - find . -type f ! -path './.kflow/*' ! -name listing | sort | tr '\\n' ' ' > listing
      - echo "::{\\"outputs\\":{\\"files\\":\\"$(cat listing)\\"}}::"
      - sh scripts/hello.sh
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    namespaceFiles:
      enabled: true
      include: [scripts/lib.py]
    script: |
      import json
      from scripts import lib
      print("::" + json.dumps({"outputs": {"answer": lib.ANSWER}}) + "::")
  - id: off
    type: io.kestra.plugin.scripts.shell.Commands
    namespaceFiles:
      enabled: false
    commands:
      - test ! -e scripts/hello.sh
  - id: lookup
    type: io.kestra.plugin.core.storage.Size
    uri: "{{ inputs.lookup }}"
"""


def _tree(root: Path) -> Path:
    files = {"scripts/hello.sh": "echo hello from the namespace", "scripts/lib.py": "ANSWER = 42\n",
             "scripts/old.bak": "x", "ref/codes.csv": "a,b\n1,2\n", "README.md": "not included"}
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def _kflow(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)


def _check(doc: dict) -> None:
    assert doc["state"] == "SUCCESS", json.dumps(doc["taskRuns"], indent=1)
    out = doc["outputs"]
    assert out["sh"]["vars"]["files"].split() == ["./ref/codes.csv", "./scripts/hello.sh",
                                                  "./scripts/lib.py"]
    assert out["py"]["vars"]["answer"] == 42
    assert out["lookup"]["size"] == 8


def test_namespace_files_from_a_folder_option(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    _tree(tmp_path / "nsdir")
    env = {**os.environ, "KFLOW_HOME": str(tmp_path / "home")}
    res = _kflow("run", "flow.yaml", "--json", "--namespace-files", "nsdir", "--storage", str(tmp_path / "s"),
                 env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    _check(json.loads(res.stdout))


def test_namespace_files_uploaded_into_kflow_home(tmp_path):
    (tmp_path / "flow.yaml").write_text(FLOW)
    _tree(tmp_path / "src")
    env = {**os.environ, "KFLOW_HOME": str(tmp_path / "home")}
    env.pop("KFLOW_NAMESPACE_FILES", None)
    up = _kflow("namespace", "files", "upload", "src", "--namespace", "company.team", "--exclude", "README.md",
                env=env, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert "4 file(s) of namespace company.team" in up.stdout
    listed = _kflow("namespace", "files", "list", "--namespace", "company.team", env=env, cwd=tmp_path)
    assert listed.stdout.split() == ["ref/codes.csv", "scripts/hello.sh", "scripts/lib.py", "scripts/old.bak"]
    res = _kflow("run", "flow.yaml", "--json", "--storage", str(tmp_path / "s"), env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    _check(json.loads(res.stdout))
    # A missing namespace file for the FILE input's default: the execution is not created.
    (tmp_path / "home" / "namespaces" / "company.team" / "files" / "ref" / "codes.csv").unlink()
    bad = _kflow("run", "flow.yaml", "--storage", str(tmp_path / "s"), env=env, cwd=tmp_path)
    assert bad.returncode == 2
    assert "Invalid input for `lookup`, namespace file not found: nsfile:///ref/codes.csv" in bad.stderr
