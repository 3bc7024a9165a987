"""FILE inputs of a local execution: the supplied file is copied into the execution's internal storage
(`<execution>/inputs/<inputId>/<file name>`) and the input's value becomes its `kestra://` URI.

Accepted values (as `kflow run -i NAME=VALUE`): `@path` (curl's spelling), a plain path, a `file:` URI
(relative paths against the current directory), an `nsfile:///path` namespace file, or a `kestra://` URI
(kept). A `defaults:` of the same forms is staged the same way.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from kflow.errors import InputsInvalid
from kflow.runner.storage import SCHEME, ExecutionStorage


def local_path(value: str, base: Path) -> Path:
    """The file a FILE input value names (`@path`, `file:` URI or plain path)."""
    if value.startswith("@"):
        raw = value[1:]
    elif value.startswith("file:"):
        parsed = urlparse(value)
        raw = unquote(parsed.path if parsed.netloc in ("", "localhost") else parsed.netloc + parsed.path)
    else:
        raw = value
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base / path


def _other_execution_file(storage: ExecutionStorage, uri: str) -> Path:
    """A file of another execution in the same local storage (a parent's output handed to a subflow)."""
    depth = len(Path(storage.prefix).parts) - 2  # `/ns/path/flow/executions/id/` below the storage root
    base = storage.root.resolve().parents[depth]
    path = (base / unquote(uri[len(SCHEME):]).lstrip("/")).resolve()
    if base not in path.parents or not path.is_file():
        raise FileNotFoundError(f"file not found in internal storage: {uri}")
    return path


class StagedInputs:
    """Inputs with FILE values replaced by URIs; `discard()` removes the copies (nothing half-applied)."""

    def __init__(self, inputs: dict[str, Any], written: list[Path]):
        self.inputs = inputs
        self.written = written

    def discard(self) -> None:
        for path in self.written:
            shutil.rmtree(path.parent, ignore_errors=True)


def stage_file_inputs(flow: Any, supplied: Mapping[str, Any], storage: ExecutionStorage, *,
                      base: Path, env: Mapping[str, str]) -> StagedInputs:
    from kflow.model.common import is_template
    from kflow.tasks.nsfiles import resolve_nsfile

    inputs = dict(supplied)
    written: list[Path] = []
    staged = StagedInputs(inputs, written)
    for inp in flow.inputs:
        if inp.type != "FILE":
            continue
        value = inputs.get(inp.id)
        if value in (None, "") and isinstance(inp.defaults, str) and not is_template(inp.defaults):
            value = inp.defaults
        if not isinstance(value, str) or value == "" or value.startswith(SCHEME + storage.prefix):
            continue
        try:
            if value.startswith(SCHEME):
                src = _other_execution_file(storage, value)
            elif value.startswith("nsfile://"):
                src = resolve_nsfile(env, flow.namespace, value)
            else:
                src = local_path(value, base)
                if not src.is_file():
                    raise FileNotFoundError(f"file not found: {src}")
        except FileNotFoundError as exc:
            staged.discard()
            raise InputsInvalid(inp.id, f"Invalid input for `{inp.id}`, {exc}") from None
        dest = storage.root / "inputs" / inp.id / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        written.append(dest)
        inputs[inp.id] = storage.uri_for(dest)
    return staged
