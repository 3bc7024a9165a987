"""Property-based (hypothesis) fuzzing of everything that reads user input: flow files, templates, input
values, Flow/Execution resources. Bad input may only raise the documented error of its layer.

Profiles (`HYPOTHESIS_PROFILE=...`, default `ci`): `ci` is derandomized (the same examples on every run,
so CI is reproducible); `dev` draws new random examples each run. `KFLOW_FUZZ_SCALE=10` multiplies every
test's example count (a long local hunt). Each test counts the examples it ran; the counts are printed at the
end of the session ("fuzz examples: N in total"); `--hypothesis-show-statistics` shows hypothesis' own
per-test figures.
"""

from __future__ import annotations

import os

import pytest
from fuzzkit import COUNTS, DEADLINE_MS
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": DEADLINE_MS, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                               HealthCheck.filter_too_much],
           "print_blob": True}
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("dev", derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not COUNTS:
        return
    terminalreporter.section("fuzz examples")
    for name, n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{name}: {n}")
    terminalreporter.write_line(f"fuzz examples: {sum(COUNTS.values())} in total")
