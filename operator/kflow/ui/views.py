"""Pure shaping of what the pages show: one execution document for every source (local history or the
cluster's Execution status), flow summaries with the form fields of their inputs, and table previews of
stored files (Ion, CSV, JSON). No I/O here except reading the one file a preview is asked for."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from kflow.engine.state import Execution, TaskRun, iso
from kflow.errors import FlowInvalid
from kflow.model.flow import Flow

PREVIEW_ROWS = 100
PREVIEW_BYTES = 2 * 1024 * 1024  # a preview reads at most this much of a file


def _dur(start: Any, end: Any) -> float | None:
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def task_run_doc(tr: TaskRun) -> dict[str, Any]:
    """One task run; fields without a value are left out (2,000 task runs make a 40% smaller page)."""
    doc: dict[str, Any] = {"id": tr.id, "taskId": tr.taskId, "state": tr.state.value, "startDate": iso(tr.startDate),
                           "attempts": [_attempt(a) for a in tr.attempts]}
    for key, value in (("parentId", tr.parentId), ("value", tr.value), ("endDate", iso(tr.endDate)),
                       ("error", tr.error), ("outputs", tr.outputs)):
        if value:
            doc[key] = value
    return doc


def _attempt(a: Any) -> dict[str, Any]:
    out = {"state": a.state.value, "startDate": iso(a.startDate)}
    if a.endDate:
        out["endDate"] = iso(a.endDate)
    if a.exitCode is not None:
        out["exitCode"] = a.exitCode
    return out


def execution_doc(ex: Execution, *, key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document the execution page renders (Execution-status shaped, attempts as a list).
    `key` is how the source names it in URLs (`<namespace>/<id>`)."""
    return {
        "key": key, "id": ex.id, "namespace": ex.namespace, "flowId": ex.flowId, "state": ex.state.value,
        "startDate": iso(ex.startDate), "endDate": iso(ex.endDate), "duration": _dur(ex.startDate, ex.endDate),
        "inputs": ex.inputs, "labels": ex.labels, "outputs": ex.outputs, "trigger": ex.trigger,
        "error": ex.error,
        "histories": [{"state": h.state.value, "date": iso(h.date)} for h in ex.histories],
        "taskRuns": [task_run_doc(tr) for tr in ex.taskRuns],
        **(extra or {}),
    }


def execution_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """A row of the executions list (no task runs)."""
    keep = ("key", "id", "namespace", "flowId", "state", "startDate", "endDate", "duration", "labels")
    out = {k: doc.get(k) for k in keep}
    out["taskRunCount"] = len(doc.get("taskRuns") or [])
    return out


def matches(summary: dict[str, Any], flow: str = "", state: str = "", label: str = "", since: str = "",
            until: str = "") -> bool:
    """The executions page's filters: flow (`ns.id` or id, substring), state, label `k=v` or `k`, dates
    (ISO dates or instants compared as text, which orders correctly for UTC ISO-8601)."""
    if flow and flow.lower() not in f"{summary.get('namespace')}.{summary.get('flowId')}".lower():
        return False
    if state and summary.get("state") not in {s.strip().upper() for s in state.split(",")}:
        return False
    if label:
        k, sep, v = label.partition("=")
        labels = summary.get("labels") or {}
        if k not in labels or (sep and str(labels[k]) != v):
            return False
    start = summary.get("startDate") or ""
    if since and start < since:
        return False
    return not (until and start[: len(until)] > until)


# ---- flows ------------------------------------------------------------------------------------------
def input_fields(flow: Flow) -> list[dict[str, Any]]:
    """What the execute form needs to render one field per typed input."""
    out = []
    for inp in flow.inputs:
        out.append({k: v for k, v in {
            "id": inp.id, "type": inp.type, "displayName": inp.displayName, "description": inp.description,
            "required": inp.required, "defaults": inp.defaults, "values": inp.values or inp.options,
            "itemType": inp.itemType, "min": inp.min, "max": inp.max, "validator": inp.validator,
            "allowCustomValue": inp.allowCustomValue or None,
        }.items() if v is not None})
    return out


def flow_doc(*, key: str, name: str, source: str, flow: Flow | None, error: FlowInvalid | None,
             extra: dict[str, Any] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": key, "name": name, "source": source, "valid": flow is not None,
                           "problems": error.lines() if error else []}
    if flow is not None:
        doc.update(namespace=flow.namespace, id=flow.id, description=flow.description,
                   inputs=input_fields(flow), tasks=len(flow.all_tasks()),
                   triggers=[{"id": t.id, "type": t.type, "cron": getattr(t, "cron", None)} for t in flow.triggers])
    return {**doc, **(extra or {})}


# ---- previews ---------------------------------------------------------------------------------------
def table(rows: list[Any], truncated: bool) -> dict[str, Any]:
    """Rows of maps become columns + cells; anything else a one-column table of values."""
    if rows and all(isinstance(r, dict) for r in rows):
        columns = list(dict.fromkeys(k for r in rows for k in r))
        cells = [[r.get(c) for c in columns] for r in rows]
    else:
        columns, cells = ["value"], [[r] for r in rows]
    return {"kind": "table", "columns": columns, "rows": cells, "truncated": truncated}


def preview_file(path: Path, limit: int = PREVIEW_ROWS) -> dict[str, Any]:
    """A table of the first `limit` rows of an Ion, CSV or JSON file; else the start of its text."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".ion":
            from kflow.tasks.ion import read_rows

            rows = []
            for row in read_rows(path):
                if len(rows) == limit:
                    return table(rows, True)
                rows.append(row)
            return table(rows, False)
        with open(path, "rb") as f:
            head = f.read(PREVIEW_BYTES + 1)
        cut = len(head) > PREVIEW_BYTES
        text = head[:PREVIEW_BYTES].decode("utf-8", errors="replace")
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
            rows = [dict(r) for _, r in zip(range(limit + 1), reader, strict=False)]
            return table(rows[:limit], len(rows) > limit or cut)
        if suffix in (".json", ".jsonl", ".ndjson") and not cut:
            if suffix == ".json":
                value = json.loads(text)
            else:
                value = [json.loads(line) for line in text.splitlines() if line.strip()]
            if isinstance(value, dict):  # {"products": [...]} shows its first list of records
                lists = [v for v in value.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
                value = lists[0] if lists else [value]
            if isinstance(value, list):
                return table(value[:limit], len(value) > limit)
    except (ValueError, csv.Error, UnicodeDecodeError, OSError) as exc:
        return {"kind": "error", "message": f"cannot preview {path.name}: {exc}"}
    except Exception as exc:  # an Ion reader error: say so, never a 500 page
        return {"kind": "error", "message": f"cannot preview {path.name}: {type(exc).__name__}: {exc}"}
    return {"kind": "text", "text": text[:20000], "truncated": cut or len(text) > 20000}


def output_uris(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """(output path, kestra:// URI) of every stored file in a task run's outputs."""
    out: list[tuple[str, str]] = []
    if isinstance(value, str) and value.startswith("kestra://"):
        out.append((prefix, value))
    elif isinstance(value, dict):
        for k, v in value.items():
            out.extend(output_uris(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(output_uris(v, f"{prefix}[{i}]"))
    return out
