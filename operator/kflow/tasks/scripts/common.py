"""What Python and shell `Script` / `Commands` tasks share: files in, the `::{json}::` protocol out."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.files import collect_output_files, localize_uris, stage_input_files
from kflow.tasks.nsfiles import NamespaceFiles, stage_namespace_files

_SHELLS = {"sh", "bash", "dash", "ash", "zsh", "ksh"}
_PROTOCOL = re.compile(r"^::(\{.*\})::$")
_LEVELS = {"TRACE": "TRACE", "DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "WARN": "WARN",
           "ERROR": "ERROR", "CRITICAL": "ERROR"}


class ScriptTask(RunnableTask):
    # Runs in the runner's own thread: the work happens in the child process it spawns.
    isolate: ClassVar[bool] = False

    inputFiles: dict[str, Any] | str | None = None
    outputFiles: list[str] | None = None
    namespaceFiles: NamespaceFiles | None = None
    env: dict[str, Any] | None = None
    beforeCommands: list[str] | None = None
    interpreter: list[str] = ["/bin/sh", "-c"]
    failFast: bool = True
    containerImage: str | None = None   # used by pods; a local run ignores it
    taskRunner: dict[str, Any] | None = None
    docker: dict[str, Any] | None = None
    runner: str | None = None
    warningOnStdErr: bool = True          # ignored since Kestra 0.23, accepted
    targetOS: str = "AUTO"
    outputDirectory: bool | None = None

    def command_text(self, ctx: Any) -> str:
        raise NotImplementedError

    def prepare(self, ctx: Any) -> tuple[list[str], dict[str, str], set[Path]]:
        """Stage files and render the command: (argv, extra env, files present before it runs)."""
        stage_namespace_files(ctx, self.namespaceFiles)
        stage_input_files(ctx, self.inputFiles)
        # Files present before the command are not its outputs (only matters with outputFiles).
        staged = set(ctx.workdir.rglob("*")) if self.outputFiles else set()
        before = [str(ctx.render(c)) for c in self.beforeCommands or []]
        body = self.command_text(ctx)
        script = "\n".join([*(["set -e"] if self.failFast else []), *before, body])
        script = localize_uris(ctx, script)
        env = {"WORKING_DIR": str(ctx.workdir), "OUTPUT_DIR": str(ctx.workdir)}
        for key, value in (ctx.render(self.env) or {}).items():
            env[str(key)] = value if isinstance(value, str) else json.dumps(value)
        return [*self.interpreter, script], env, staged

    def finish(self, ctx: Any, code: int, outputs: dict[str, Any], staged: set[Path]) -> dict[str, Any]:
        files = collect_output_files(ctx, self.outputFiles, exclude=staged)
        result = {"vars": outputs, "exitCode": code, "outputFiles": files}
        if code != 0:
            raise TaskFailed(f"Command failed with exit code {code}", exit_code=code, outputs=result)
        return result

    def run(self, ctx: Any) -> dict[str, Any]:
        argv, extra_env, staged = self.prepare(ctx)
        outputs: dict[str, Any] = {}
        cwd = ctx.workdir
        if os.path.basename(argv[0]) in _SHELLS and len(argv) >= 2 and argv[-2] == "-c":
            # A shell can change directory itself, which lets the runner use its fastest spawn.
            argv = [*argv[:-1], f"cd {shlex.quote(str(ctx.workdir))} || exit 125\n{argv[-1]}"]
            cwd = None
        code = ctx.run_process(argv, env={**ctx.env, **extra_env}, cwd=cwd,
                               on_line=lambda line, is_err: parse_line(ctx, outputs, line, is_err))
        return self.finish(ctx, code, outputs, staged)


def parse_line(ctx: Any, outputs: dict[str, Any], line: str, is_err: bool) -> None:
    """Kestra's stdout protocol: `::{"outputs": ...}::` and `::{"logs": [...]}::` lines; others are logs."""
    m = _PROTOCOL.match(line)
    if not m:
        ctx.log("ERROR" if is_err else "INFO", line)
        return
    try:
        message = json.loads(m.group(1))
    except ValueError:
        ctx.log("WARN", f"ignored invalid ::{{...}}:: line: {line[:200]}")
        return
    if not isinstance(message, dict):
        return
    outputs.update(message.get("outputs") or {})
    for entry in message.get("logs") or []:
        ctx.log(_LEVELS.get(str(entry.get("level", "INFO")).upper(), "INFO"), str(entry.get("message", "")))
