"""kflow/tasks/index.json: every type and alias to its module, so a task pod imports only the one it runs."""

from __future__ import annotations

import subprocess
import sys

from kflow.tasks import registry


def test_the_committed_index_is_up_to_date():
    assert registry.INDEX_FILE.read_text(encoding="utf-8") == registry.index_text(), \
        "run `python -m kflow.tasks.registry`"


def test_a_lookup_imports_only_the_module_of_its_type():
    code = ("import sys; from kflow.tasks.registry import task_class; "
            "print(task_class('io.kestra.plugin.scripts.shell.Commands').__name__, "
            "task_class('io.kestra.core.tasks.scripts.Bash').TYPE, "
            "sorted(m for m in ('psycopg', 'duckdb', 'google.cloud.storage', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "ShellCommands io.kestra.core.tasks.scripts.Bash []", out
