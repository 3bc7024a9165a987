"""`kflow validate` names the file and the path of every problem, and never shows a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
INVALID = sorted((HERE / "invalid").glob("*.yaml"))
REPO = HERE.parents[1]


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def _validate(*files: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kflow.cli", "validate", *map(str, files)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report() -> subprocess.CompletedProcess[str]:
    return _validate(*INVALID)


def test_corpus_is_large_enough() -> None:
    assert len(INVALID) >= 30


def test_invalid_corpus_exits_one_without_traceback(report: subprocess.CompletedProcess[str]) -> None:
    assert report.returncode == 1
    assert "Traceback" not in report.stdout + report.stderr
    assert "internal error" not in report.stdout


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_each_invalid_flow_names_file_and_path(path: Path, report: subprocess.CompletedProcess[str]) -> None:
    lines = [ln for ln in report.stdout.splitlines() if ln.startswith(f"{path}: ")]
    assert lines, f"no error line for {path.name}:\n{report.stdout}"
    expected = _expected(path)
    assert any(ln.removeprefix(f"{path}: ").startswith(expected) or expected in ln for ln in lines), \
        f"{path.name}: expected `{expected}` in:\n" + "\n".join(lines)


def test_shipped_flows_are_valid() -> None:
    flows = sorted((REPO / "flows").glob("*.yaml"))
    result = _validate(*flows)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_valid_and_invalid_together_exit_one() -> None:
    result = _validate(REPO / "flows" / "hello_world.yaml", INVALID[0])
    assert result.returncode == 1
    assert all(line.startswith(str(INVALID[0])) for line in result.stdout.splitlines())
