"""io.kestra.plugin.scripts.shell.Script and Commands."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.tasks.registry import register
from kflow.tasks.scripts.common import ScriptTask


@register()  # the pre-0.13 io.kestra.core.tasks.scripts.Bash has its own module (scripts/legacy.py)
class ShellCommands(ScriptTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.shell.Commands"
    commands: list[str]

    def command_text(self, ctx: Any) -> str:
        return "\n".join(str(ctx.render(c)) for c in self.commands)


@register()
class ShellScript(ScriptTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.scripts.shell.Script"
    script: str

    def command_text(self, ctx: Any) -> str:
        return str(ctx.render(self.script))
