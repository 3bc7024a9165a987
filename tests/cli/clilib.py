"""Running `kflow` as a user does, in a process of its own, against a private storage folder."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def kflow(*args: str, storage: Path | None = None, cwd: Path = REPO, env: dict[str, str] | None = None,
          timeout: float = 300, input: str | None = None) -> subprocess.CompletedProcess[str]:
    extra = ["--storage", str(storage)] if storage is not None else []
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "kflow.cli", *args, *extra], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, input=input)


def write_flow(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def execution_id(result: subprocess.CompletedProcess[str]) -> str:
    for line in (result.stdout + result.stderr).splitlines():
        if "Execution " in line:
            return line.split("Execution ", 1)[1].split()[0]
    raise AssertionError(f"no execution id in: {result.stdout}{result.stderr}")
