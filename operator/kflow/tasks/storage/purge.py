"""io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles: delete this execution's stored files."""

from __future__ import annotations

from typing import Any, ClassVar

from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register


@register("io.kestra.core.tasks.storages.PurgeExecution", "io.kestra.plugin.core.storage.PurgeExecution")
class PurgeCurrentExecutionFiles(RunnableTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles"
    isolate: ClassVar[bool] = False

    def run(self, ctx: Any) -> dict[str, Any]:
        uris = ctx.storage.purge(keep=ctx.workdir)
        ctx.log("INFO", f"purged {len(uris)} file(s)")
        return {"uris": uris}
