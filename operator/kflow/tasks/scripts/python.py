"""io.kestra.plugin.scripts.python.Script and Commands.

`python` is the interpreter kflow runs under (so the `kestra` helper library is importable) unless
KFLOW_PYTHON names another; a Script is written to a file in the working directory and run.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any, ClassVar

from kflow.tasks.registry import register
from kflow.tasks.scripts.common import ScriptTask


def python_executable() -> str:
    return os.environ.get("KFLOW_PYTHON") or sys.executable or "python3"


class _PythonTask(ScriptTask):
    dependencies: list[str] | None = None
    pythonVersion: str | None = None
    packageManager: str | None = None
    dependencyCacheEnabled: bool = True

    def _install(self) -> str:
        if not self.dependencies:
            return ""
        deps = " ".join(shlex.quote(d) for d in self.dependencies)
        return f"{shlex.quote(python_executable())} -m pip install --quiet --target .deps {deps}\n" \
               f"export PYTHONPATH=\"$PWD/.deps:$PYTHONPATH\"\n"


@register()
class PythonScript(_PythonTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.python.Script"
    script: str

    def command_text(self, ctx: Any) -> str:
        path = ctx.workdir / ".inputs" / f"script_{ctx.task_id}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(str(ctx.render(self.script)))
        return f"{self._install()}{shlex.quote(python_executable())} {shlex.quote(str(path))}"


@register()
class PythonCommands(_PythonTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.python.Commands"
    commands: list[str]

    def command_text(self, ctx: Any) -> str:
        # `python` in the commands means the interpreter kflow resolved.
        py = shlex.quote(python_executable())
        shim = f'python() {{ {py} "$@"; }}\npython3() {{ {py} "$@"; }}\n'
        return shim + self._install() + "\n".join(str(ctx.render(c)) for c in self.commands)
