"""io.kestra.plugin.git.Clone and SyncNamespaceFiles, on the `git` command line.

- `Clone` (`url`, `branch`, `directory`, `depth` default 1, `username`/`password` for HTTPS): clones into
  the task's working directory (a WorkingDirectory's, when inside one), so later tasks there see the files.
- `SyncNamespaceFiles` (`url`, `branch`, `gitDirectory`, `namespace`, `delete`, `dryRun`): copies a
  folder of the repository into the namespace files of `namespace` (kflow.tasks.nsfiles: locally
  `<KFLOW_HOME>/namespaces/<namespace>/files`). Outputs the added, updated and deleted paths. A task pod
  cannot write the cluster's namespace-file ConfigMaps (it has no API rights): there, run it with
  `kflow run`, or upload with `kflow namespace files upload DIR --cluster`.
Credentials in the URL or `password` never reach the logs: git's own messages are masked.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.tasks.base import RunnableTask
from kflow.tasks.registry import register


def _authed(url: str, username: str | None, password: str | None) -> str:
    if not password:
        return url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    user = quote(username or "x-access-token", safe="")
    return urlunsplit(parts._replace(netloc=f"{user}:{quote(password, safe='')}@{parts.hostname}"
                                            + (f":{parts.port}" if parts.port else "")))


def clone(ctx: Any, url: str, branch: str | None, target: Path, depth: int | None,
          username: str | None = None, password: str | None = None) -> None:
    argv = ["git", "clone", "--quiet", "--single-branch"]
    if depth:
        argv += ["--depth", str(depth)]
    if branch:
        argv += ["--branch", branch]
    argv += [_authed(url, username, password), str(target)]
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                             env={**ctx.env, "GIT_TERMINAL_PROMPT": "0"})
    except FileNotFoundError:
        raise TaskFailed("git is not installed where this task runs") from None
    except subprocess.TimeoutExpired:
        raise TaskFailed(f"git clone of {url} timed out after 600 s") from None
    if res.returncode != 0:
        why = (res.stderr or res.stdout).strip().replace(password or "\0", "******")
        raise TaskFailed(f"git clone of {url} (branch {branch or 'default'}) failed: {why[-1000:]}")


class _GitTask(RunnableTask):
    url: str
    branch: str | None = None
    username: str | None = None
    password: str | None = None
    depth: int | None = Field(default=1, ge=1)

    def _clone(self, ctx: Any, target: Path) -> None:
        password = str(ctx.render(self.password)) if self.password else None
        username = str(ctx.render(self.username)) if self.username else None
        branch = str(ctx.render(self.branch)) if self.branch else None
        clone(ctx, str(ctx.render(self.url)), branch, target, self.depth, username, password)


@register("io.kestra.plugin.git.Clone")
class Clone(_GitTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.git.Clone"
    directory: str | None = None
    cloneSubmodules: bool = False

    def run(self, ctx: Any) -> dict[str, Any]:
        target = ctx.workdir / str(ctx.render(self.directory)) if self.directory else ctx.workdir
        if target.exists() and any(target.iterdir()):  # git refuses a non-empty folder: clone beside, move in
            with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
                self._clone(ctx, Path(tmp) / "repo")
                for item in (Path(tmp) / "repo").iterdir():
                    shutil.move(str(item), target / item.name)
        else:
            self._clone(ctx, target)
        return {"directory": str(target)}


@register("io.kestra.plugin.git.SyncNamespaceFiles")
class SyncNamespaceFiles(_GitTask):
    TYPE: ClassVar[str] = "io.kestra.plugin.git.SyncNamespaceFiles"
    namespace: str | None = None
    gitDirectory: str = "_files"
    delete: bool = False
    dryRun: bool = False

    def run(self, ctx: Any) -> dict[str, Any]:
        from kflow.tasks.nsfiles import source_dir

        namespace = str(ctx.render(self.namespace)) if self.namespace else \
            str((ctx.context.get("flow") or {}).get("namespace"))
        with tempfile.TemporaryDirectory() as tmp:
            self._clone(ctx, Path(tmp) / "repo")
            src = (Path(tmp) / "repo" / str(ctx.render(self.gitDirectory))).resolve()
            if not src.is_dir() or Path(tmp).resolve() not in src.parents:
                raise TaskFailed(f"gitDirectory: {self.gitDirectory} is not a folder of the repository")
            dest = source_dir(ctx.env, namespace)
            wanted = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file() and ".git" not in p.parts}
            have = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()} if dest.is_dir() else set()
            added = sorted(wanted - have)
            updated = sorted(r for r in wanted & have if not filecmp.cmp(src / r, dest / r, shallow=False))
            deleted = sorted(have - wanted) if self.delete else []
            if not self.dryRun:
                for rel in [*added, *updated]:
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src / rel, dest / rel)
                for rel in deleted:
                    (dest / rel).unlink()
        ctx.log("INFO", f"namespace {namespace}: {len(added)} added, {len(updated)} updated, {len(deleted)} deleted"
                        + (" (dry run)" if self.dryRun else ""))
        return {"added": added, "updated": updated, "deleted": deleted, "namespace": namespace}
