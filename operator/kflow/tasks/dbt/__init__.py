"""io.kestra.plugin.dbt.cli.DbtCLI: dbt commands in a script task (the `dbt` CLI of its image or PATH).

Besides the script-task properties (`commands`, `env`, `namespaceFiles`, `inputFiles`, `containerImage`,
`beforeCommands`, `outputFiles`): `profiles` (the text of profiles.yml, written into the working directory,
which becomes DBT_PROFILES_DIR), `projectDir` (where the commands run, relative to the working
directory). After the commands, `target/run_results.json` (when `parseRunResults`, the default) gives the
outputs `runResults` (node id -> status) and the task fails when a node errored; `target/manifest.json` is
kept as an output file `manifest.json`. `storeManifest`/`loadManifest` (Kestra keeps the manifest in its KV
store between runs) are accepted; kflow keeps it as that output file instead.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, ClassVar

from kflow.errors import TaskFailed
from kflow.model.common import Strict
from kflow.tasks.registry import register
from kflow.tasks.scripts.common import ScriptTask


class ManifestKV(Strict):
    key: str
    namespace: str | None = None


@register("io.kestra.plugin.dbt.cli.DbtCLI")
class DbtCLI(ScriptTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.dbt.cli.DbtCLI"
    commands: list[str]
    profiles: str | None = None
    projectDir: str | None = None
    parseRunResults: bool = True
    storeManifest: ManifestKV | None = None
    loadManifest: ManifestKV | None = None

    def command_text(self, ctx: Any) -> str:
        lines = []
        if self.profiles:
            (ctx.workdir / "profiles.yml").write_text(str(ctx.render(self.profiles)), encoding="utf-8")
            lines.append(f"export DBT_PROFILES_DIR={shlex.quote(str(ctx.workdir))}")
        if self.projectDir:
            lines.append(f"cd {shlex.quote(str(ctx.render(self.projectDir)))}")
        return "\n".join([*lines, *(str(ctx.render(c)) for c in self.commands)])

    def finish(self, ctx: Any, code: int, outputs: dict[str, Any], staged: set) -> dict[str, Any]:
        target = ctx.workdir / (str(ctx.render(self.projectDir)) if self.projectDir else "") / "target"
        results: dict[str, str] = {}
        if self.parseRunResults and (target / "run_results.json").is_file():
            try:
                doc = json.loads((target / "run_results.json").read_text(encoding="utf-8"))
                results = {str(r.get("unique_id")): str(r.get("status")) for r in doc.get("results") or []}
            except ValueError:
                ctx.log("WARN", "target/run_results.json is not JSON: run results not parsed")
        out = super().finish(ctx, code, outputs, staged)
        if (target / "manifest.json").is_file():
            out["outputFiles"] = {**out["outputFiles"],
                                  "manifest.json": ctx.storage.put(ctx.task_id, ctx.task_run_id,
                                                                   target / "manifest.json", name="manifest.json")}
        if results:
            out["runResults"] = results
            bad = sorted(k for k, v in results.items() if v in ("error", "fail", "runtime error"))
            if bad:
                raise TaskFailed(f"dbt: {len(bad)} node(s) failed: {', '.join(bad[:10])}", outputs=out)
        return out
