"""Flows from files: a raw Kestra flow, or a `Flow` manifest whose `spec` is the Kestra body."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kflow.errors import FlowInvalid, Problem
from kflow.model.flow import API_VERSION, Flow, parse_flow
from kflow.model.yamlio import load_yaml_documents


@dataclass
class LoadedFlow:
    flow: Flow
    source: str
    manifest: dict[str, Any] | None  # the whole Flow resource when the file was a manifest


def flow_body(doc: Any, source: str) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """(Kestra body, path prefix for errors, manifest or None)."""
    if isinstance(doc, dict) and "kind" in doc and "apiVersion" in doc:
        if doc.get("kind") != "Flow" or not str(doc.get("apiVersion", "")).startswith("kflow.dev/"):
            raise FlowInvalid([Problem("kind", f"expected kind Flow of {API_VERSION}, "
                                               f"got {doc.get('kind')} of {doc.get('apiVersion')}")], source)
        spec = doc.get("spec")
        if not isinstance(spec, dict):
            raise FlowInvalid([Problem("spec", "a Flow manifest needs a `spec` map (the Kestra flow)")], source)
        meta = doc.get("metadata") or {}
        if not isinstance(meta, dict):
            raise FlowInvalid([Problem("metadata", f"expected a map (name, namespace, labels), got {meta!r:.40}")],
                              source)
        body = dict(spec)
        body.setdefault("id", meta.get("name"))
        body.setdefault("namespace", meta.get("namespace") or "default")
        return body, "spec", doc
    if not isinstance(doc, dict):
        raise FlowInvalid([Problem("", "expected a Kestra flow (a map with id, namespace and tasks)")], source)
    return doc, "", None


def load_flow_text(text: str, source: str, global_defaults: list[dict[str, Any]] | None = None) -> LoadedFlow:
    docs = load_yaml_documents(text, source)
    flows = [d for d in docs if not (isinstance(d, dict) and "kind" in d and d.get("kind") != "Flow")]
    if not flows:
        raise FlowInvalid([Problem("", "no flow found in the file")], source)
    if len(flows) > 1:
        raise FlowInvalid([Problem("", f"expected one flow per file, found {len(flows)}")], source)
    body, prefix, manifest = flow_body(flows[0], source)
    return LoadedFlow(parse_flow(body, source, prefix, global_defaults), source, manifest)


def load_flow_file(path: str | Path, global_defaults: list[dict[str, Any]] | None = None) -> LoadedFlow:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowInvalid([Problem("", f"cannot read file: {exc.strerror}")], str(path)) from None
    return load_flow_text(text, str(path), global_defaults)


def validate_file(path: str | Path) -> list[Problem]:
    """Every document of a file checked (Flows and CronTriggers); raises FlowInvalid with every problem,
    returns the warnings of a valid file."""
    from kflow.model.cron_manifest import crontrigger_problems

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowInvalid([Problem("", f"cannot read file: {exc.strerror}")], str(path)) from None
    docs = load_yaml_documents(text, str(path))
    crons = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CronTrigger"]
    problems: list[Problem] = []
    for i, doc in enumerate(crons):
        problems += crontrigger_problems(doc, f"[CronTrigger {(doc.get('metadata') or {}).get('name', i)}] "
                                         if len(docs) > 1 else "")
    if crons and len(crons) == len(docs):
        if problems:
            raise FlowInvalid(problems, str(path))
        return []
    try:
        loaded = load_flow_text(text, str(path))
    except FlowInvalid as exc:
        raise FlowInvalid(problems + exc.problems, str(path)) from None
    if problems:
        raise FlowInvalid(problems, str(path))
    return list(loaded.flow.warnings)
