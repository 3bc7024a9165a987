"""inputFiles, outputFiles and `kestra://` localization shared by script and query tasks."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from kflow.errors import TaskFailed
from kflow.runner.storage import SCHEME, StorageError

_URI = re.compile(r"kestra://[-a-zA-Z0-9%._+~#=/]*")


def _link_or_copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest.unlink()
    try:
        os.link(src, dest)  # same volume: instant, even for gigabyte CSVs
    except OSError:
        shutil.copyfile(src, dest)


def _inside(workdir: Path, name: str) -> Path:
    target = (workdir / name).resolve()
    if workdir.resolve() not in target.parents:
        raise TaskFailed(f"inputFiles: {name!r} would be written outside the working directory")
    return target


def stage_input_files(ctx: Any, input_files: dict[str, Any] | str | None) -> None:
    """Write each inputFiles entry into the working directory (a map, or a string rendering to JSON)."""
    if input_files is None:
        return
    files = ctx.render_value(input_files)
    if isinstance(files, str):
        try:
            files = json.loads(files)
        except ValueError:
            raise TaskFailed("inputFiles: expected a map or a string rendering to a JSON object") from None
    if not isinstance(files, dict):
        raise TaskFailed("inputFiles: expected a map of file name to content or kestra:// URI")
    for raw_name, raw_content in files.items():
        name = str(ctx.render(raw_name))
        content = ctx.render(raw_content)
        if content is None:
            continue
        target = _inside(ctx.workdir, name)
        text = content if isinstance(content, str) else json.dumps(content)
        if text.startswith(SCHEME):
            try:
                _link_or_copy(ctx.storage.resolve(text.strip()), target)
            except StorageError as exc:
                raise TaskFailed(f"inputFiles.{name}: {exc}") from None
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def localize_uris(ctx: Any, text: str) -> str:
    """Replace every kestra:// URI in `text` by a local copy in the working directory."""
    if SCHEME not in text:
        return text

    def local(m: re.Match[str]) -> str:
        try:
            src = ctx.storage.resolve(m.group(0))
        except StorageError as exc:
            raise TaskFailed(str(exc)) from None
        # Stored names repeat across tasks (`<digest of name>-logs.ion`): one folder per URI keeps them apart.
        dest = ctx.workdir / ".inputs" / hashlib.sha1(m.group(0).encode()).hexdigest()[:12] / src.name
        if not dest.exists():
            _link_or_copy(src, dest)
        return str(dest)

    return _URI.sub(local, text)


def glob_regex(pattern: str) -> Any:
    """Kestra's outputFiles globs (Java's glob syntax) on wcmatch: `*` stays within a folder, `**`
    crosses folders, `{a,b}` alternatives and `[..]` classes; dot files match like any file. The
    result has `.match(relative_path)`."""
    from wcmatch import glob as wcglob

    return wcglob.compile(pattern, flags=wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB)


def collect_output_files(ctx: Any, patterns: list[str] | None, exclude: set[Path] | None = None) \
        -> dict[str, str]:
    """Store files matching the globs; the map key is the path relative to the working directory."""
    found: dict[str, str] = {}
    if not patterns:
        return found
    regexes = [glob_regex(str(ctx.render(p))) for p in patterns]
    for path in sorted(ctx.workdir.rglob("*")):
        rel = path.relative_to(ctx.workdir).as_posix()
        if not path.is_file() or (exclude and path in exclude) or rel.startswith(".inputs/"):
            continue
        if any(rx.match(rel) for rx in regexes):
            found[rel] = ctx.storage.put(ctx.task_id, ctx.task_run_id, path, name=rel.replace("/", "_"),
                                         move=True)
    return found
