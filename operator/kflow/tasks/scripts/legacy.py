"""The pre-0.13 script types `io.kestra.core.tasks.scripts.{Bash,Python,Node}`, still in older tutorials,
mapped onto today's script tasks with their old property names:

- all: `interpreter` (a string, e.g. `/bin/bash`) + `interpreterArgs` (`["-c"]`), `exitOnFailed` (set -e),
  `outputsFiles`/`outputFiles` (names of files to store), `outputDirs`, `files` (old inputFiles), `env`,
  `runner` (PROCESS or DOCKER) and `dockerOptions.image` (the image a pod uses);
- Python: `requirements` (installed like `dependencies`), `virtualEnv`, `pythonPath`, `args`; the script is
  `inputFiles["main.py"]` and the default command `./bin/python main.py` (the virtualenv's python);
- Node: `npmInstall` (packages), `nodePath`, `args`; `inputFiles["main.js"]`, default `./node main.js`.
Outputs are today's (`vars`, `exitCode`, `outputFiles`) plus the old `stdOutLineCount`/`stdErrLineCount`.
"""

from __future__ import annotations

import shlex
from typing import Any, ClassVar

from pydantic import model_validator

from kflow.tasks.registry import register
from kflow.tasks.scripts.common import ScriptTask
from kflow.tasks.scripts.python import _PythonTask, python_executable


def _legacy(data: Any) -> Any:
    """Old property names -> today's, before validation (so errors name what the user wrote)."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    interpreter = data.get("interpreter")
    args = data.pop("interpreterArgs", None)
    if isinstance(interpreter, str) or args is not None:
        data["interpreter"] = [interpreter if isinstance(interpreter, str) else "/bin/sh",
                               *(args if isinstance(args, list) else ["-c"])]
    if "exitOnFailed" in data:
        data["failFast"] = data.pop("exitOnFailed")
    if "outputsFiles" in data:
        data["outputFiles"] = [*(data.get("outputFiles") or []), *(data.pop("outputsFiles") or [])]
    dirs = data.pop("outputDirs", None)
    if dirs:
        data["outputFiles"] = [*(data.get("outputFiles") or []), *(f"{d}/**" for d in dirs)]
    if "files" in data:
        data["inputFiles"] = {**(data.get("inputFiles") or {}), **(data.pop("files") or {})}
    docker = data.pop("dockerOptions", None)
    if isinstance(docker, dict) and docker.get("image") and not data.get("containerImage"):
        data["containerImage"] = docker["image"]
    data.pop("runner", None)  # PROCESS or DOCKER: locally a process, on the cluster a pod either way
    return data


class _Legacy(ScriptTask):
    commands: list[str] | None = None
    stdOut: bool | None = None
    stdErr: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data: Any) -> Any:
        return _legacy(data)

    def default_commands(self) -> list[str]:
        return []

    def command_text(self, ctx: Any) -> str:
        return "\n".join(str(ctx.render(c)) for c in self.commands or self.default_commands())

    def finish(self, ctx: Any, code: int, outputs: dict[str, Any], staged: Any) -> dict[str, Any]:
        from kflow.errors import TaskFailed

        try:
            result = super().finish(ctx, code, outputs, staged)
        except TaskFailed as exc:
            exc.outputs.update(self._counts())
            raise
        return {**result, **self._counts()}

    def _counts(self) -> dict[str, int]:
        counts = getattr(self, "_lines", None) or {"out": 0, "err": 0}
        return {"stdOutLineCount": counts["out"], "stdErrLineCount": counts["err"]}

    def run(self, ctx: Any) -> dict[str, Any]:
        lines = {"out": 0, "err": 0}
        object.__setattr__(self, "_lines", lines)
        original = ctx.run_process

        def counted(argv: list[str], *, env: Any, cwd: Any, on_line: Any) -> int:
            def count(line: str, is_err: bool) -> None:
                lines["err" if is_err else "out"] += 1
                on_line(line, is_err)
            return original(argv, env=env, cwd=cwd, on_line=count)

        ctx.run_process = counted
        return super().run(ctx)


@register()
class LegacyBash(_Legacy):
    TYPE: ClassVar[str] = "io.kestra.core.tasks.scripts.Bash"


@register()
class LegacyPython(_Legacy, _PythonTask):
    TYPE: ClassVar[str] = "io.kestra.core.tasks.scripts.Python"
    requirements: list[str] | None = None
    virtualEnv: bool = True
    pythonPath: str | None = None
    args: list[str] | None = None

    def default_commands(self) -> list[str]:
        return ["./bin/python main.py" + "".join(f" {shlex.quote(a)}" for a in self.args or [])]

    def command_text(self, ctx: Any) -> str:
        py = shlex.quote(self.pythonPath or python_executable())
        # `./bin/python` was the virtualenv's interpreter; `python` means the one kflow resolved.
        shim = f'python() {{ {py} "$@"; }}\npython3() {{ {py} "$@"; }}\n'
        body = super().command_text(ctx).replace("./bin/python ", f"{py} ")
        if self.requirements and not self.dependencies:
            self.dependencies = list(self.requirements)
        return shim + self._install() + body


@register()
class LegacyNode(_Legacy):
    TYPE: ClassVar[str] = "io.kestra.core.tasks.scripts.Node"
    npmInstall: list[str] | None = None
    nodePath: str | None = None
    args: list[str] | None = None

    def default_commands(self) -> list[str]:
        return ["./node main.js" + "".join(f" {shlex.quote(a)}" for a in self.args or [])]

    def command_text(self, ctx: Any) -> str:
        node = shlex.quote(self.nodePath or "node")
        install = f"npm install --silent {' '.join(shlex.quote(p) for p in self.npmInstall)}\n" \
            if self.npmInstall else ""
        return install + super().command_text(ctx).replace("./node ", f"{node} ")
