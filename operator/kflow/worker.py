"""Run one runnable task attempt in this process: `python -m kflow.worker < spec.json`.

The local runner uses it for tasks that must be killable as a process (DuckDB, Postgres, Download);
a task pod runs the same command. Logs and the result travel on stdout with Kestra's `::{json}::`
line protocol; the result is the last such line, under the `kflow.result` key.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

RESULT_KEY = "kflow.result"
# The termination message carries the whole output when it fits: the operator then reads no log.
INLINE_LOG_KEY = "kflow.log"


def emit(payload: dict[str, Any]) -> None:
    sys.stdout.write("::" + json.dumps(payload, separators=(",", ":"), default=str) + "::\n")
    sys.stdout.flush()


def build_spec(task: Any, context: dict[str, Any], *, execution_id: str, task_run_id: str, attempt: int,
               workdir: Path, storage: Any, kv: Any = None) -> dict[str, Any]:
    raw = task.model_dump(by_alias=True, exclude_none=True, mode="json")
    spec = {
        "task": raw,
        "context": context, "executionId": execution_id, "taskRunId": task_run_id, "attempt": attempt,
        "workdir": str(workdir),
        "storage": {"root": str(storage.root), "prefix": storage.prefix},
    }
    if kv is not None:
        # The process cannot reach the store (a pod has no API token): hand it what kv() may read.
        from kflow.kv.function import SNAPSHOT_KEY, KVLookup

        namespace = ((context.get("flow") or {}).get("namespace")) or ""
        snapshot = KVLookup(kv, namespace).snapshot_for(json.dumps(raw, default=str))
        if snapshot is not None:
            spec[SNAPSHOT_KEY] = snapshot
    return spec


def stage_shared(ctx: Any, spec: dict[str, Any]) -> None:
    """Inside a WorkingDirectory on the cluster: its files, staged by the first child that runs."""
    from kflow.tasks.flow import working_directory as wdir

    if spec.get(wdir.SPEC_KEY):
        wdir.stage(ctx, spec[wdir.SPEC_KEY])


def _renderer_for(spec: dict[str, Any]) -> Any:
    from kflow.expr import Renderer

    renderer = Renderer(secrets=os.environ)
    if spec.get("kv") is not None:
        from kflow.kv.memory import MemoryKVStore

        renderer.kv = MemoryKVStore.from_snapshot(spec["kv"])
    return renderer


def _env(spec: dict[str, Any]) -> dict[str, str]:
    """The task's environment: the process's, plus what the operator set for it (namespace files dir)."""
    return {**os.environ, **(spec.get("env") or {})}


def _stage_inputs(spec: dict[str, Any]) -> None:
    """In a task pod: the execution's FILE inputs onto its volume, if no earlier pod put them there."""
    if spec.get("stageInputs"):
        from kflow.k8s.file_inputs import stage

        stage(spec["stageInputs"], spec["storage"]["root"])


def run_spec(spec: dict[str, Any]) -> dict[str, Any]:
    from kflow.errors import TaskFailed
    from kflow.runner.context import TaskRunContext
    from kflow.runner.storage import ExecutionStorage
    from kflow.tasks.registry import task_class

    raw = spec["task"]
    cls = task_class(raw["type"])
    if cls is None:
        return {"state": "FAILED", "error": f"Invalid type: {raw['type']}"}
    task = cls.model_validate(raw)
    storage = ExecutionStorage.with_prefix(Path(spec["storage"]["root"]), spec["storage"]["prefix"])
    renderer = _renderer_for(spec)

    def log(level: str, message: str) -> None:
        emit({"logs": [{"level": level, "message": message}]})

    ctx = TaskRunContext(renderer=renderer, context=spec["context"], execution_id=spec["executionId"],
                         task_id=task.id, task_run_id=spec["taskRunId"], attempt=spec["attempt"],
                         workdir=Path(spec["workdir"]), storage=storage, env=_env(spec), log=log)
    try:
        _stage_inputs(spec)
        stage_shared(ctx, spec)
        outputs = task.run(ctx)
        result: dict[str, Any] = {"state": "SUCCESS", "outputs": renderer.mask_deep(outputs)}
        preview = store_preview(storage, outputs)
        if preview:
            result["preview"] = renderer.mask_deep(preview)
        return result
    except TaskFailed as exc:
        return {"state": "FAILED", "error": renderer.mask(str(exc)), "exitCode": exc.exit_code,
                "outputs": renderer.mask_deep(exc.outputs)}
    except Exception as exc:  # a bug in a task must fail the task run, not lose it
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return {"state": "FAILED", "error": renderer.mask(f"internal error: {detail}")}


def store_preview(storage: Any, outputs: dict[str, Any], rows: int = 20, limit: int = 2000) -> list | None:
    """First rows of a `fetchType: STORE` result, for people reading the status (not an output)."""
    uri = outputs.get("uri") if isinstance(outputs, dict) else None
    if not isinstance(uri, str) or not uri.endswith(".ion"):
        return None
    from kflow.tasks.ion import read_rows

    out: list = []
    try:
        for i, row in enumerate(read_rows(storage.resolve(uri))):
            if i >= rows or len(json.dumps(out, default=str)) > limit:
                break
            out.append(row)
    except Exception:  # a preview is a convenience; never fail a task for it
        return None
    return out


def main() -> int:
    spec = json.load(sys.stdin)
    emit({RESULT_KEY: run_spec(spec)})
    return 0


# ---- inside a task pod ---------------------------------------------------------------------------
TERMINATION_LOG = "/dev/termination-log"
# One protocol line listing the files the command wrote (JSON strings), for outputFiles.
FILES_TRAILER = r"""files=$(find . -type f ! -path './.kflow/*' ! -path './.inputs/*' | grep -vxF -f .kflow/staged \
  | sed 's|^\./||; s/\\/\\\\/g; s/"/\\"/g; s/.*/"&"/' | paste -sd, -)
[ -z "$(tail -c 1 .kflow/stdout)" ] || echo  # on a line of its own after output without a final newline
printf '::{"kflow.files":[%s]}::\n' "$files"
"""
# The termination message: the whole output when it fits (the operator then reads no log), else its
# `::{json}::` lines (outputs, files) when they fit, else a note that they are in the log.
PROTOCOL_TRAILER = r"""msg=${KFLOW_TERMINATION_LOG:-/dev/termination-log}
if [ $(( $(wc -c < .kflow/stdout) + ${#files} )) -le 3300 ]; then
  { echo '::{"kflow.log":true}::'; cat .kflow/stdout; [ -z "$(tail -c 1 .kflow/stdout)" ] || echo
    printf '::{"kflow.files":[%s]}::\n' "$files"; } > "$msg"
else
  { grep -E '^::\{.*\}::$' .kflow/stdout; printf '::{"kflow.files":[%s]}::\n' "$files"; } > .kflow/protocol
  if [ "$(wc -c < .kflow/protocol)" -le 3500 ]; then cat .kflow/protocol > "$msg"
  else echo '::{"kflow.protocolInLogs":true}::' > "$msg"; fi
fi
"""
MESSAGE_LIMIT = 3500  # the kubelet keeps at most 4096 bytes of a termination message


# The task's image needs only a POSIX shell: sed when it has one (unbuffered when it can), else no filter.
MASK_FILTER = r"""if ! command -v sed >/dev/null 2>&1; then mask() { cat; }
elif echo | sed -u -f .kflow/mask.sed >/dev/null 2>&1; then mask() { sed -u -f .kflow/mask.sed; }
else mask() { sed -f .kflow/mask.sed; }; fi"""


def mask_script(values: Any) -> str:
    """A sed script replacing every spelling of the secrets (kflow/redact.py) by the mask."""
    from kflow import redact

    def literal(text: str) -> str:
        return "".join("\\" + c if c in "\\/.*[]^$" else c for c in text)

    return "".join(f"s/{literal(n)}/{redact.MASK}/g\n" for n in redact.needles(values) if "\n" not in n)


def _pod_spec() -> dict[str, Any]:
    raw = os.environ.get("KFLOW_TASK_SPEC")
    if not raw:
        raise SystemExit("kflow worker: KFLOW_TASK_SPEC is not set")
    return json.loads(raw)


def _terminate(payload: dict[str, Any]) -> None:
    text = json.dumps(payload, separators=(",", ":"), default=str)
    if len(text.encode()) > MESSAGE_LIMIT:
        text = json.dumps({"resultInLogs": True})
    try:
        with open(os.environ.get("KFLOW_TERMINATION_LOG", TERMINATION_LOG), "w") as f:
            f.write(text)
    except OSError:
        pass


def pod_run() -> int:
    """Run a built-in task in its pod: logs on stdout, the result in the termination message and as
    the last `::{"kflow.result": ...}::` line (for results too large for the message)."""
    Path(_pod_spec()["workdir"]).mkdir(parents=True, exist_ok=True)
    global emit
    plain = emit

    def human(payload: dict[str, Any]) -> None:
        for entry in payload.get("logs") or []:
            print(f"{entry['level']:<5} {entry['message']}", flush=True)
        if RESULT_KEY in payload:
            plain(payload)

    emit = human
    result = run_spec(_pod_spec())
    emit({RESULT_KEY: result})
    _terminate(result)
    return 0 if result["state"] == "SUCCESS" else 1


def script_task(spec: dict[str, Any]) -> Any:
    from kflow.tasks.registry import task_class

    return task_class(spec["task"]["type"]).model_validate(spec["task"])  # type: ignore[union-attr]


def script_context(spec: dict[str, Any], task: Any, renderer: Any, *, workdir: Path, storage_root: Path,
                   env: dict[str, str], log: Any) -> Any:
    """The context `task.prepare` runs in, from the worker spec: in the init container, or in the operator
    against a temporary directory (kflow/k8s/inline_prepare.py)."""
    from kflow.runner.context import TaskRunContext
    from kflow.runner.storage import ExecutionStorage

    storage = ExecutionStorage.with_prefix(storage_root, spec["storage"]["prefix"])
    return TaskRunContext(renderer=renderer, context=spec["context"], execution_id=spec["executionId"],
                          task_id=task.id, task_run_id=spec["taskRunId"], attempt=spec["attempt"],
                          workdir=workdir, storage=storage, env=env, log=log)


def pod_prepare() -> int:
    """Init container of a script task: stage inputFiles and write `.kflow/run.sh`, which the task's
    own image runs (it needs only a POSIX shell); run.sh ends by listing the files the command wrote."""
    from kflow.errors import TaskFailed

    spec = _pod_spec()
    task = script_task(spec)
    workdir = Path(spec["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    renderer = _renderer_for(spec)
    ctx = script_context(spec, task, renderer, workdir=workdir, storage_root=Path(spec["storage"]["root"]),
                         env=_env(spec), log=lambda level, msg: print(f"{level:<5} {msg}", flush=True))
    try:
        _stage_inputs(spec)
        stage_shared(ctx, spec)
        argv, env, staged = task.prepare(ctx)  # type: ignore[attr-defined]
    except Exception as exc:  # a bad render (an unknown variable) or a bug: the task run must say which
        from kflow.expr import RenderError

        known = isinstance(exc, (TaskFailed, RenderError))
        text = renderer.mask(str(exc) if known else f"internal error: {type(exc).__name__}: {exc}")
        _terminate({"state": "FAILED", "error": text})
        print(text, file=sys.stderr)
        return 1
    write_run(workdir, argv, env, staged, mask_script(renderer.secret_values))
    return 0


def write_run(workdir: Path, argv: list[str], env: dict[str, str], staged: set[Path], masks: str) -> None:
    """What a script task's container runs, from `task.prepare(ctx)`: `.kflow/staged`, `.kflow/run.sh` and,
    when there are secrets, `.kflow/mask.sed`. The init container writes them on the volume; the operator
    into a temporary directory when it inlines them in the pod (kflow/k8s/inline_prepare.py)."""
    import shlex

    internal = workdir / ".kflow"
    internal.mkdir(exist_ok=True)
    (internal / "staged").write_text("".join(f"./{p.relative_to(workdir).as_posix()}\n"
                                             for p in sorted(staged) if p.is_file()))
    lines = ["#!/bin/sh", f"cd {shlex.quote(str(workdir))} || exit 125"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    command = " ".join(shlex.quote(a) for a in argv)
    # The output is kept for `kubectl logs` and copied so it (or its protocol lines) can travel in the
    # termination message: the operator then needs no log read. POSIX sh has no pipefail: the exit file.
    if masks:  # the command's stdout and stderr through sed, so `kubectl logs` shows no secret either
        (internal / "mask.sed").write_text(masks)
        lines += [MASK_FILTER, f"{{ {command}; echo $? > .kflow/exit; }} 2>&1 | mask | tee .kflow/stdout"]
    else:  # stderr merged into stdout, as `kubectl logs` shows them, so .kflow/stdout is the whole log
        lines += [f"{{ {command}; echo $? > .kflow/exit; }} 2>&1 | tee .kflow/stdout"]
    lines += ["code=$(cat .kflow/exit)", FILES_TRAILER, PROTOCOL_TRAILER, "exit $code"]
    (internal / "run.sh").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
