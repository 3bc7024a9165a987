"""What the storage, compress and serdes tasks share: read a `kestra://` input, store an output file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from kflow.errors import TaskFailed
from kflow.runner.storage import StorageError


def source(ctx: Any, uri: Any, prop: str = "from") -> Path:
    """The local file behind a `kestra://` URI property (rendered)."""
    text = str(ctx.render(uri)).strip()
    try:
        return ctx.storage.resolve(text)
    except StorageError as exc:
        raise TaskFailed(f"{prop}: {exc}") from None


def uri_list(ctx: Any, value: Any, prop: str) -> list[str]:
    """A list of URIs given as a YAML list or as a string rendering to a JSON list (or to one URI)."""
    rendered = ctx.render_value(value)
    if isinstance(rendered, str):
        try:
            rendered = json.loads(rendered)
        except ValueError:
            rendered = [rendered]
    if isinstance(rendered, dict):
        rendered = list(rendered.values())
    if not isinstance(rendered, list):
        raise TaskFailed(f"{prop}: expected a list of kestra:// URIs")
    return [str(u) for u in rendered]


def new_file(ctx: Any, name: str) -> Path:
    """A path in the working directory for an output file (stored with `store`)."""
    path = ctx.workdir / ".out" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def store(ctx: Any, path: Path) -> str:
    return ctx.storage.put(ctx.task_id, ctx.task_run_id, path, move=True)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "KIB": 1024, "M": 1024**2, "MB": 1024**2, "MIB": 1024**2,
          "G": 1024**3, "GB": 1024**3, "GIB": 1024**3, "T": 1024**4, "TB": 1024**4, "TIB": 1024**4}


def parse_size(text: str) -> int:
    """`10MB`, `512KB`, `1024` → bytes (Kestra's data sizes are binary)."""
    m = _SIZE.match(str(text))
    unit = (m.group(2) or "").upper() if m else None
    if m is None or unit not in _UNITS:
        raise ValueError(f"expected a size such as 10MB or 512KB, got {text!r}")
    return int(float(m.group(1)) * _UNITS[unit])


def output_name(src: Path) -> str:
    """The stored name's part after Kestra's deterministic prefix (`1a2b3c4d-data.csv` → data.csv)."""
    name = src.name
    return name.split("-", 1)[1] if re.match(r"^[0-9a-f]{8}-", name) else name
