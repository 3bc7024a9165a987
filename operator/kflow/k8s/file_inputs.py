"""FILE inputs of an Execution on the cluster: `spec.inputsFrom.<inputId>` names a ConfigMap or Secret key,
a URL, or a file of another Execution's storage (`executionFile`: a Subflow child's input from its parent's
volume, mounted read-only). Pure: what the input's value is, and what each task pod mounts and stages.

The operator never touches the execution's volume itself; every task pod of the execution mounts the
ConfigMap/Secret keys read-only (a projected volume) and its worker copies them to
`<storage>/inputs/<inputId>/<file>` (or downloads the URL) before the task runs, once: the first pod
does the copy (written aside, then renamed), later pods find the file there.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from kflow.errors import InputsInvalid

MOUNT = "/kflow/inputs"
VOLUME = "kflow-inputs"
EXECUTIONS_MOUNT = "/kflow/executions"  # other executions' volumes, read-only: <mount>/<execution>/<path>
SOURCES = ("configMapKeyRef", "secretKeyRef", "url", "executionFile")


def _filename(input_id: str, source: dict[str, Any]) -> str:
    if source.get("filename"):
        return PurePosixPath(str(source["filename"])).name
    for ref in ("configMapKeyRef", "secretKeyRef"):
        if source.get(ref):
            return str(source[ref]["key"])
    if source.get("executionFile"):
        return PurePosixPath(str(source["executionFile"]["path"])).name or input_id
    return PurePosixPath(unquote(urlparse(str(source.get("url") or "")).path)).name or input_id


def plan(flow: Any, inputs_from: dict[str, dict[str, Any]] | None) -> list[dict[str, Any]]:
    """One entry per FILE input given in `spec.inputsFrom`: {id, path (below the storage root), source}."""
    if not inputs_from:
        return []
    declared = {i.id: i for i in flow.inputs}
    out = []
    for input_id, source in sorted(inputs_from.items()):
        inp = declared.get(input_id)
        if inp is None or inp.type != "FILE":
            raise InputsInvalid(input_id, f"Invalid input for `{input_id}`, spec.inputsFrom names no FILE input "
                                          "of the flow")
        given = [k for k in SOURCES if source.get(k)]
        if len(given) != 1:
            raise InputsInvalid(input_id, f"Invalid input for `{input_id}`, spec.inputsFrom.{input_id} needs "
                                          "exactly one of configMapKeyRef, secretKeyRef, url or executionFile")
        ref = source.get("executionFile")
        if ref and (".." in PurePosixPath(str(ref.get("path") or "")).parts or not ref.get("execution")):
            raise InputsInvalid(input_id, f"Invalid input for `{input_id}`, spec.inputsFrom.{input_id}."
                                          "executionFile needs an execution and a path inside its storage")
        out.append({"id": input_id, "path": f"inputs/{input_id}/{_filename(input_id, source)}", "source": source})
    return out


def input_values(entries: list[dict[str, Any]], storage: Any) -> dict[str, str]:
    """The `kestra://` URIs the inputs take (the files are staged by the pods)."""
    return {e["id"]: storage.uri_for_relative(e["path"]) for e in entries}


def worker_entries(entries: list[dict[str, Any]]) -> list[dict[str, str]]:
    """What the worker stages: `{path, mount}` (a key of the projected volume) or `{path, url}`."""
    out = []
    for e in entries:
        if e["source"].get("url"):
            out.append({"path": e["path"], "url": str(e["source"]["url"])})
        elif ref := e["source"].get("executionFile"):
            out.append({"path": e["path"], "mount": f"{EXECUTIONS_MOUNT}/{ref['execution']}/{ref['path']}"})
        else:
            out.append({"path": e["path"], "mount": f"{MOUNT}/{e['path']}"})
    return out


def volume(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The projected volume of the ConfigMap / Secret keys (None when every input is a URL)."""
    sources = []
    for e in entries:
        src = e["source"]
        for ref, kind in (("configMapKeyRef", "configMap"), ("secretKeyRef", "secret")):
            if src.get(ref):
                sources.append({kind: {"name": src[ref]["name"],
                                       "items": [{"key": src[ref]["key"], "path": e["path"]}]}})
    return {"name": VOLUME, "projected": {"sources": sources}} if sources else None


def execution_volumes(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], str]]:
    """(volume, mount path) of each other execution's storage an `executionFile` input reads."""
    from kflow.k8s import naming as n

    names = sorted({e["source"]["executionFile"]["execution"] for e in entries if e["source"].get("executionFile")})
    return [({"name": n.dns_label(f"kflow-execution-{name}"),
              "persistentVolumeClaim": {"claimName": n.pvc_name(name), "readOnly": True}},
             f"{EXECUTIONS_MOUNT}/{name}") for name in names]


def stage(spec_entries: list[dict[str, str]], storage_root: str) -> None:
    """In a task pod: copy (or download) each FILE input that is not on the volume yet."""
    import os
    import shutil
    import urllib.request
    from pathlib import Path

    from kflow.errors import TaskFailed

    for entry in spec_entries:
        target = Path(storage_root) / entry["path"]
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        try:
            if "url" in entry:
                with urllib.request.urlopen(entry["url"], timeout=300) as resp, open(partial, "wb") as out:
                    shutil.copyfileobj(resp, out, 1 << 20)
            else:
                shutil.copyfile(entry["mount"], partial)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            where = urlparse(entry["url"]).netloc if "url" in entry else entry["path"]
            raise TaskFailed(f"FILE input {entry['path'].split('/')[1]}: cannot stage it from {where}: "
                             f"{getattr(exc, 'reason', exc)}") from None
        os.replace(partial, target)
