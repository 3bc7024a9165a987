"""`kflow convert`: a Kestra flow as a Flow manifest (and CronTriggers), written the way it was read.

The flow's own text becomes the manifest's `spec`, indented as a whole: block scalars (the SQL of the
zoomcamp flows), comments, key order, quoting and spacing stay exactly as written. When triggers are
split out, ruamel.yaml's round trip removes them and writes the rest back the same way. The flow is
validated before (an invalid flow is refused with its errors) and the manifest after (what is printed is
what `kflow validate` and the operator accept)."""

from __future__ import annotations

import io
import json
import re
import textwrap
from typing import Any

import yaml
from ruamel.yaml import YAML

from kflow.cli.common import CliError


def _round_trip(text: str) -> YAML:
    y = YAML()
    y.preserve_quotes = True
    y.width = 4096  # never fold a long line the author kept on one
    # the author's list style: `tasks:\n  - id:` (indented dashes) or `tasks:\n- id:`
    if re.search(r"^[A-Za-z_][\w-]*:[ \t]*\n[ ]{2}- ", text, re.M):
        y.indent(mapping=2, sequence=4, offset=2)
    return y


def _split_header(text: str) -> tuple[str, str]:
    """(comment lines above the flow, the rest) of a one-document file."""
    lines = text.splitlines(keepends=True)
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip() or lines[i].strip() == "---"):
        i += 1
    header = "".join(line for line in lines[:i] if line.strip() != "---")
    return header, "".join(lines[i:])


def _dump(y: YAML, doc: Any) -> str:
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def convert_text(text: str, source: str, *, split_triggers: bool = False, namespace: str | None = None) -> str:
    from kflow.errors import FlowInvalid
    from kflow.k8s.models import API_VERSION
    from kflow.k8s.schedules import crontrigger_for, schedule_triggers
    from kflow.model.loader import load_flow_text
    from kflow.schedule import naming as sn

    try:
        load_flow_text(text, source)
    except FlowInvalid as exc:
        raise CliError("refusing to convert an invalid flow:\n" + "\n".join(exc.lines())) from None
    from kflow.model.yamlio import load_yaml_documents

    plain_docs = load_yaml_documents(text, source)  # YAML 1.2 booleans, as ruamel reads them (`id: off`)
    if len(plain_docs) != 1:
        raise CliError(f"{source}: expected one YAML document (a flow or a Flow manifest)")
    plain = plain_docs[0]
    is_manifest = plain.get("kind") == "Flow"
    spec_plain = plain["spec"] if is_manifest else plain
    name = plain["metadata"]["name"] if is_manifest else sn.resource_name(str(plain["id"]))
    schedules = schedule_triggers(spec_plain) if split_triggers else []
    header, body = _split_header(text)
    if schedules or (is_manifest and namespace):
        y = _round_trip(body)
        doc = y.load(body)
        spec = doc["spec"] if is_manifest else doc
        kept = [t for t in spec.get("triggers") or [] if json.loads(json.dumps(t)) not in schedules]
        if kept:
            spec["triggers"] = kept
        elif "triggers" in spec:
            del spec["triggers"]
        if is_manifest and namespace:
            doc["metadata"]["namespace"] = namespace
        body = _dump(y, doc)
    if is_manifest:
        manifest = f"---\n{header}{body}"
    else:
        meta = f"  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
        spec_text = textwrap.indent(body.rstrip("\n") + "\n", "  ")
        manifest = f"---\n{header}apiVersion: {API_VERSION}\nkind: Flow\nmetadata:\n{meta}spec:\n{spec_text}"
    try:
        load_flow_text(manifest, f"{source} (converted)")
    except FlowInvalid as exc:  # a bug of ours, said as such rather than printed as a valid manifest
        raise CliError("internal error: the converted manifest does not validate:\n" + "\n".join(exc.lines()),
                       1) from None
    out = [manifest]
    for trig in schedules:
        cron = crontrigger_for(name, spec_plain, trig)
        if namespace:
            cron["metadata"]["namespace"] = namespace
        out.append("---\n" + yaml.safe_dump(cron, sort_keys=False, allow_unicode=True))
    return "".join(out)
