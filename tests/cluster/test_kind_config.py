"""The repository's kind-config.yaml (README "On kind") is a valid kind config, checked by kind's own
v1alpha4 types (build/kindconfig, built and cached by build-kindconfig.sh). No cluster, no Docker."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
HEAD = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"


@pytest.fixture(scope="module")
def checker() -> Path:
    # Cheap when cached (a hash); a cold build takes seconds once the modules are downloaded.
    r = subprocess.run([str(HERE / "build-kindconfig.sh")], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        pytest.fail(f"tests/cluster/build-kindconfig.sh failed:\n{r.stderr[-4000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


def check(checker: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(checker), str(path)], capture_output=True, text=True, timeout=60)


def test_repository_config_is_valid(checker: Path):
    r = check(checker, REPO / "kind-config.yaml")
    assert r.returncode == 0, r.stderr
    # one control-plane node named as the README's `kind load ... --name kflow` expects; kind's defaults
    assert r.stdout.startswith("name=kflow nodes=control-plane image=kindest/node:"), r.stdout
    assert "ipFamily=ipv4" in r.stdout and "kubeProxyMode=iptables" in r.stdout


@pytest.mark.parametrize("body,error", [
    ("nodse:\n  - role: control-plane\n", 'unknown field "nodse"'),
    ("nodes:\n  - role: control-plane\n    imagee: kindest/node\n", 'unknown field "imagee"'),
    ("nodes:\n  - role: master\n", 'invalid configuration for node 0: "master" is not a valid node role'),
    ("nodes:\n  - role: worker\n", "must have at least one control-plane node"),
    ("nodes:\n  - role: control-plane\n    extraPortMappings:\n      - containerPort: 80\n        protocol: HTTP\n",
     'Unknown PortMappingProtocol: "HTTP"'),
], ids=["typo", "nested-typo", "role", "no-control-plane", "port-protocol"])
def test_invalid_config_fails(checker: Path, tmp_path: Path, body: str, error: str):
    path = tmp_path / "kind.yaml"
    path.write_text(HEAD + body)
    r = check(checker, path)
    assert r.returncode == 1 and error in r.stderr, r.stdout + r.stderr


def test_wrong_kind_or_version_fails(checker: Path, tmp_path: Path):
    path = tmp_path / "kind.yaml"
    path.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha3\n")
    r = check(checker, path)
    assert r.returncode == 1 and 'want "Cluster"/"kind.x-k8s.io/v1alpha4"' in r.stderr, r.stderr
