"""The pinned binaries of tests/cluster/build.sh, for tests that need one (helm) without a cluster.

build.sh caches them under ${KFLOW_CACHE:-~/.cache/kflow}/bin/<key>/, key = the first 16 hex digits of
sha256(versions.env + `go env GOVERSION GOOS GOARCH`); this recomputes that key rather than guessing a
directory, so a stale build of other pins is never used. A missing binary fails the test (never skips it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("KFLOW_CACHE", Path.home() / ".cache" / "kflow"))


def go_env_key(*inputs: Path) -> str:
    """sha256 of the inputs' bytes then `go env GOVERSION GOOS GOARCH`, as `{ cat ...; go env ...; }`."""
    try:
        go = subprocess.run(["go", "env", "GOVERSION", "GOOS", "GOARCH"], capture_output=True, text=True,
                            check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.fail(f"Go is needed to locate the pinned binaries (as tests/cluster/build.sh does): {e}")
    h = hashlib.sha256()
    for p in inputs:
        h.update(p.read_bytes())
    h.update(go.encode())
    return h.hexdigest()[:16]


def pinned_binary(name: str) -> Path:
    """A binary of build.sh's cache (helm, kubectl, ...) for the current pins."""
    path = CACHE / "bin" / go_env_key(HERE / "versions.env") / name
    if not ((path.parent / ".complete").exists() and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing: build the pinned binaries with tests/cluster/build.sh "
                    "(or `make cluster-build`)")
    return path
