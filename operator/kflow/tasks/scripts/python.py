"""io.kestra.plugin.scripts.python.Script and Commands.

`python` is the interpreter kflow runs under (so the `kestra` helper library is importable) unless
KFLOW_PYTHON names another; a Script is written to a file in the working directory and run.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from contextvars import ContextVar
from typing import Any, ClassVar

from kflow.tasks.registry import register
from kflow.tasks.scripts.common import ScriptTask

_HAVE = "import importlib.metadata as m, sys\nfor n in sys.argv[1:]: m.distribution(n)"
# The interpreter a task pod's init container is told (KFLOW_PYTHON), set while the operator prepares a
# pod itself (kflow/k8s/inline_prepare.py): its own environment and interpreter are not the pod's.
PYTHON_OVERRIDE: ContextVar[str | None] = ContextVar("kflow_pod_python", default=None)


def python_executable() -> str:
    return PYTHON_OVERRIDE.get() or os.environ.get("KFLOW_PYTHON") or sys.executable or "python3"


class _PythonTask(ScriptTask):
    dependencies: list[str] | None = None
    pythonVersion: str | None = None
    packageManager: str | None = None
    dependencyCacheEnabled: bool = True

    def _install(self) -> str:
        if not self.dependencies:
            return ""
        py = shlex.quote(python_executable())
        deps = " ".join(shlex.quote(d) for d in self.dependencies)
        # Distributions already installed are not fetched again: flows that list `requests` or `kestra`
        # run offline where the interpreter has them (pip is only asked when one is missing).
        names = " ".join(shlex.quote(re.split(r"[\s\[<>=!~;@]", d.strip(), maxsplit=1)[0])
                         for d in self.dependencies)
        check = f"{py} -c {shlex.quote(_HAVE)} {names}"
        return f"{check} 2>/dev/null || {py} -m pip install --quiet --target .deps {deps}\n" \
               f"export PYTHONPATH=\"$PWD/.deps:$PYTHONPATH\"\n"


@register()
class PythonScript(_PythonTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.python.Script"
    script: str

    def command_text(self, ctx: Any) -> str:
        path = ctx.workdir / ".inputs" / f"script_{ctx.task_id}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(str(ctx.render(self.script)))
        # Kestra writes the script into the working directory, so namespace files and inputFiles beside it
        # are importable (`import utils`): the working directory goes on the module path.
        return f"{self._install()}export PYTHONPATH=\"$PWD${{PYTHONPATH:+:$PYTHONPATH}}\"\n" \
               f"{shlex.quote(python_executable())} {shlex.quote(str(path))}"


@register()
class PythonCommands(_PythonTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.python.Commands"
    commands: list[str]

    def command_text(self, ctx: Any) -> str:
        # `python` in the commands means the interpreter kflow resolved.
        py = shlex.quote(python_executable())
        shim = f'python() {{ {py} "$@"; }}\npython3() {{ {py} "$@"; }}\n'
        return shim + self._install() + "\n".join(str(ctx.render(c)) for c in self.commands)
