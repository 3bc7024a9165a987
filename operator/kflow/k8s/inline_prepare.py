"""A script task's pod without its init container, when the operator can prepare the task itself.

The init container (`kflow worker prepare`) renders the task, writes its files and `.kflow/run.sh`, then
the task's image runs run.sh. When that needs nothing only the pod has (the volume's files, secrets, the
KV store, namespace files), the operator runs the same code (kflow.worker) against a temporary directory
and the pod's one container writes those files with `printf` (exact bytes, POSIX sh only) and runs
run.sh: one container start instead of two (~1 s per step on the kubelet). Whatever could make the pod
differ from today's, or put a rendered secret in a pod spec (readable by more people than Secrets),
falls back to the init container (None).
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Any

from kflow.k8s.resources import PREPARE_PYTHON
from kflow.kv.function import SNAPSHOT_KEY
from kflow.tasks.flow.working_directory import SPEC_KEY as WORKING_DIRECTORY
from kflow.tasks.scripts.common import ScriptTask

# Linux caps one exec argument at 128 KiB (MAX_ARG_STRLEN): the whole script is one argument of sh -c.
MAX_SCRIPT = 96 * 1024
# Spec keys the init container acts on: FILE inputs, a WorkingDirectory's files, a KV snapshot, env
# (namespace files, cluster logs), each read from where only the pod is.
_POD_ONLY = ("stageInputs", WORKING_DIRECTORY, SNAPSHOT_KEY, "env")
# Task text that renders from the pod's environment (secrets, `envs`, the KV store).
_MENTIONS = ("secret(", "envs", "kv(")


def _scratch() -> str | None:
    """Where the operator prepares: memory (/dev/shm) when there is one, since folders on a busy disk take
    ~1 ms each to remove; else tempfile's choice (TMPDIR: the chart's /tmp emptyDir)."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def pod_gets_secrets(secrets_from: str | None, secret_keys: list[str] | None) -> bool:
    """Does the pod get any `SECRET_*` variable (the whole Secret when keys are None)? Its run.sh then
    masks them, from a mask.sed holding their values: never in a pod spec."""
    return bool(secrets_from) and (secret_keys is None or any(k.startswith("SECRET_") for k in secret_keys))


async def pod_script(worker_spec: dict[str, Any], task: Any, extra_volumes: list[Any], config: Any,
                     secret_keys: list[str] | None, renderer: Any, shared: bool = False) -> str | None:
    """The init-less pod's script for this attempt, or None. `shared`: the task works in a WorkingDirectory's
    folder, which holds its siblings' files (what prepare finds there matters). Rendering is synchronous
    Python (a heavy template can take a while): it runs in a thread so the operator's loop keeps reacting."""
    if shared or not isinstance(task, ScriptTask) or extra_volumes \
            or pod_gets_secrets(config.secrets_from, secret_keys) or renderer.secret_values:
        return None
    return await asyncio.to_thread(script_for, worker_spec)


def script_for(worker_spec: dict[str, Any], limit: int = MAX_SCRIPT) -> str | None:
    """`sh -c` text recreating what `kflow worker prepare` would write for `worker_spec`, then running
    run.sh; None when the pod must prepare it itself (see the module's docstring)."""
    spec = json.loads(json.dumps(worker_spec, default=str))  # what the pod would read from its env
    if any(spec.get(k) for k in _POD_ONLY):
        return None
    text = json.dumps(spec.get("task") or {})
    if any(m in text for m in _MENTIONS):
        return None
    real = str(spec["workdir"])
    if not real.startswith("/") or shlex.quote(real) != real:
        return None  # run.sh holds the path unquoted: substitution must not need quotes
    files = _prepared(spec, real)
    if files is None:
        return None
    script = _assemble(real, *files)
    return script if len(script.encode()) <= limit else None


def _prepared(spec: dict[str, Any], real: str) -> tuple[list[str], dict[str, str]] | None:
    """(directories, {relative path: text}) prepare writes, its paths the pod's; None if it cannot be
    inlined: it raises (the pod then reports the error as always), or writes a mask, a link, a file that
    is not UTF-8 text or holds a NUL."""
    from kflow import worker
    from kflow.expr import Renderer
    from kflow.tasks.scripts.python import PYTHON_OVERRIDE

    with tempfile.TemporaryDirectory(prefix="kflow-inline-", dir=_scratch()) as tmp:
        root = Path(tmp).resolve()
        # Named as the pod's: a template taking the workdir's last part gets the pod's (few folders: an
        # rmdir can take a millisecond).
        workdir = root / Path(real).name
        workdir.mkdir()
        storage = root / ".storage"  # none: a kestra:// file to copy in fails, and the pod does it
        renderer = Renderer(secrets={})  # secret() fails here: such a task is the pod's to prepare
        token = PYTHON_OVERRIDE.set(PREPARE_PYTHON)
        try:
            task = worker.script_task(spec)
            if getattr(task, "namespaceFiles", None) is not None and task.namespaceFiles.enabled:
                return None
            ctx = worker.script_context(spec, task, renderer, workdir=workdir, storage_root=storage,
                                        env={"KFLOW_PYTHON": PREPARE_PYTHON}, log=lambda level, msg: None)
            argv, env, staged = task.prepare(ctx)
            masks = worker.mask_script(renderer.secret_values)
            if masks:
                return None
            worker.write_run(workdir, argv, env, staged, masks)
        except Exception:  # TaskFailed, RenderError, a missing file, a bug: as today, the pod's to report
            return None
        finally:
            PYTHON_OVERRIDE.reset(token)
        return _collect(workdir, root.name, real)


def _collect(workdir: Path, token: str, real: str) -> tuple[list[str], dict[str, str]] | None:
    """Every folder and file below `workdir`, the temporary path replaced by the pod's; None when some
    trace of the temporary directory (its random `token`, in any case) is left, e.g. a template that
    transformed the path."""
    here = str(workdir)
    token = token.lower()
    dirs: list[str] = []
    files: dict[str, str] = {}
    for folder, subdirs, names in os.walk(workdir):
        for name in [*subdirs, *names]:
            path = Path(folder) / name
            rel = path.relative_to(workdir).as_posix()
            if path.is_symlink() or token in rel.lower():
                return None
            if path.is_dir():
                dirs.append(rel)
                continue
            if not path.is_file():
                return None
            try:
                content = path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                return None
            content = content.replace(here, real)
            if "\0" in content or token in content.lower():
                return None  # a NUL cannot be in an argument; the temporary path is no pod's
            files[rel] = content
    return sorted(dirs), files


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _assemble(real: str, dirs: list[str], files: dict[str, str]) -> str:
    lines = ["set -e", "mkdir -p " + " ".join(_quote(p) for p in [real, *(f"{real}/{d}" for d in dirs)])]
    lines += [f"printf '%s' {_quote(content)} > {_quote(f'{real}/{rel}')}" for rel, content in sorted(files.items())]
    # The same program the init container's pod runs, as its process 1.
    lines.append(f"exec /bin/sh {_quote(real + '/.kflow/run.sh')}")
    return "\n".join(lines) + "\n"
