"""Namespace files: the files a Kestra namespace shares with its flows' script tasks (`namespaceFiles`).

Where they live:
- locally: `$KFLOW_NAMESPACE_FILES` when set (`kflow run --namespace-files DIR`), else
  `<KFLOW_HOME or ~/.kflow>/namespaces/<namespace>/files/`;
- in a task pod: ConfigMaps labelled `kflow.dev/namespace-files=<namespace>` (upload with
  `kflow namespace files upload`), mounted by the operator at the folder `$KFLOW_NAMESPACE_FILES` names.

One entry point for every task with a working directory (script tasks, WorkingDirectory):
`stage_namespace_files(ctx, task.namespaceFiles)` copies the selected files into `ctx.workdir`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field

from kflow.errors import TaskFailed
from kflow.model.common import Strict

ENV = "KFLOW_NAMESPACE_FILES"
LABEL = "kflow.dev/namespace-files"        # ConfigMap label: the Kestra namespace its files belong to
PATHS_ANNOTATION = "kflow.dev/paths"       # ConfigMap annotation: JSON {key: relative path} (keys can't hold /)
MOUNT = "/kflow/namespace-files"           # where a task pod sees them


class NamespaceFiles(Strict):
    """`namespaceFiles` of a task: which namespace files are copied into its working directory."""

    enabled: bool = True
    include: list[str] | None = None
    exclude: list[str] | None = None
    namespaces: list[str] | None = None
    folderPerNamespace: bool = False
    ifExists: str = Field(default="OVERWRITE", pattern="^(OVERWRITE|FAIL|WARN|IGNORE)$")


def home() -> Path:
    return Path(os.environ.get("KFLOW_HOME") or Path.home() / ".kflow")


def source_dir(env: Mapping[str, str], namespace: str) -> Path:
    """The folder holding `namespace`'s files (it may not exist: then there are none)."""
    if env.get(ENV):
        return Path(env[ENV])
    base = Path(env["KFLOW_HOME"]) if env.get("KFLOW_HOME") else home()
    return base / "namespaces" / namespace / "files"


def _matches(rel: str, patterns: list[str]) -> bool:
    from kflow.tasks.files import glob_regex

    # Kestra's patterns are written with or without a leading slash or `**/`.
    return any(glob_regex(p.lstrip("/")).match(rel) or glob_regex("**/" + p.lstrip("/")).match(rel)
               for p in patterns)


def select(root: Path, include: list[str] | None, exclude: list[str] | None) -> list[str]:
    """Relative paths below `root` kept by include (all when empty) minus exclude, sorted."""
    if not root.is_dir():
        return []
    out = []
    # A ConfigMap volume holds `..<timestamp>/` and `..data` plus symlinks to them: follow the links, skip
    # the `..` folders (rglob would do the opposite).
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith("..")]
        for name in files:
            path = Path(folder) / name
            if not name.startswith("..") and path.is_file():
                out.append(path.relative_to(root).as_posix())
    kept = []
    for rel in sorted(out):
        if include and not _matches(rel, include):
            continue
        if exclude and _matches(rel, exclude):
            continue
        kept.append(rel)
    return kept


def resolve_nsfile(env: Mapping[str, str], namespace: str, uri: str) -> Path:
    """`nsfile:///path` (this namespace) or `nsfile://other.ns/path` → the file."""
    rest = uri[len("nsfile://"):]
    ns, _, rel = rest.partition("/")
    path = source_dir(env, ns or namespace) / rel
    if not path.is_file():
        raise FileNotFoundError(f"namespace file not found: {uri}")
    return path


def stage_namespace_files(ctx: Any, spec: NamespaceFiles | Mapping[str, Any] | None,
                          workdir: Path | None = None) -> list[Path]:
    """Copy the selected namespace files into the working directory; return the files written."""
    if spec is None:
        return []
    nsf = spec if isinstance(spec, NamespaceFiles) else NamespaceFiles.model_validate(dict(spec))
    if not nsf.enabled:
        return []
    target = workdir or ctx.workdir
    own = str((ctx.context.get("flow") or {}).get("namespace") or "")
    include = [str(ctx.render(p)) for p in nsf.include or []]
    exclude = [str(ctx.render(p)) for p in nsf.exclude or []]
    written: list[Path] = []
    for ns in nsf.namespaces or [own]:
        root = source_dir(ctx.env, own) if ns == own else source_dir({**ctx.env, ENV: ""}, ns)
        for rel in select(root, include, exclude):
            dest = target / ns / rel if nsf.folderPerNamespace else target / rel
            if dest.exists() and nsf.ifExists != "OVERWRITE":
                if nsf.ifExists == "FAIL":
                    raise TaskFailed(f"namespaceFiles: {rel} already exists in the working directory")
                if nsf.ifExists == "WARN":
                    ctx.log("WARN", f"namespaceFiles: {rel} already exists, kept")
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, dest)
            written.append(dest)
    ctx.log("DEBUG", f"namespaceFiles: {len(written)} file(s) copied")
    return written


# ---- on the cluster: ConfigMaps → a projected volume --------------------------------------------
def config_map_key(rel: str) -> str:
    """A ConfigMap key for a relative path (keys allow [-._a-zA-Z0-9] only)."""
    import hashlib
    import re

    key = re.sub(r"[^-._a-zA-Z0-9]", "_", rel)
    if key != rel:
        key = f"{key[:200]}.{hashlib.sha1(rel.encode()).hexdigest()[:8]}"
    return key


def projected_sources(config_maps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Projected-volume sources putting every file of the labelled ConfigMaps at its relative path."""
    import json

    sources = []
    for cm in sorted(config_maps, key=lambda c: c["metadata"]["name"]):
        paths = json.loads((cm["metadata"].get("annotations") or {}).get(PATHS_ANNOTATION) or "{}")
        keys = sorted({*(cm.get("data") or {}), *(cm.get("binaryData") or {})})
        if keys:
            sources.append({"configMap": {"name": cm["metadata"]["name"],
                                          "items": [{"key": k, "path": paths.get(k, k)} for k in keys]}})
    return sources


CHUNK = 900 * 1024  # a ConfigMap holds at most 1 MiB


def config_maps(namespace: str, root: Path, include: list[str] | None = None,
                exclude: list[str] | None = None) -> list[dict[str, Any]]:
    """The labelled ConfigMaps holding `root`'s files for Kestra namespace `namespace` (pure but for reading
    the files): text in `data`, anything else in `binaryData`; split so each stays under 1 MiB."""
    import base64
    import json

    from kflow.k8s.naming import dns_label, label_value

    groups: list[dict[str, Any]] = []
    size = CHUNK
    for rel in select(root, include, exclude):
        raw = (root / rel).read_bytes()
        if len(raw) > CHUNK:
            raise ValueError(f"{rel}: {len(raw)} bytes, more than a ConfigMap holds ({CHUNK})")
        if size + len(raw) > CHUNK:
            groups.append({"data": {}, "binaryData": {}, "paths": {}})
            size = 0
        key = config_map_key(rel)
        try:
            groups[-1]["data"][key] = raw.decode("utf-8")
        except UnicodeDecodeError:
            groups[-1]["binaryData"][key] = base64.b64encode(raw).decode()
        groups[-1]["paths"][key] = rel
        size += len(raw)
    out = []
    for i, g in enumerate(groups):
        meta = {"name": dns_label(f"kflow-nsfiles-{namespace}-{i}"), "labels": {LABEL: label_value(namespace)},
                "annotations": {PATHS_ANNOTATION: json.dumps(g["paths"], sort_keys=True)}}
        cm: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": g["data"]}
        if g["binaryData"]:
            cm["binaryData"] = g["binaryData"]
        out.append(cm)
    return out
