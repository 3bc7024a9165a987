"""CustomResourceDefinitions of kflow.dev, generated from the pydantic models (the one source of truth).

    python -m kflow.k8s.crds [--out DIR] [--check]

writes `crds/<plural>.kflow.dev.yaml` and the same files into `charts/kflow/crds/` (or only into DIR).

`structural()` turns a pydantic JSON schema into a Kubernetes *structural* OpenAPI v3 schema:
`$ref`s inlined, `anyOf [X, null]` -> `X` + `nullable`, no `title`, Literal -> `enum`, unions of several
types and `Any` -> `x-kubernetes-preserve-unknown-fields` (the only way to say "any type" structurally),
`extra="forbid"` models -> plain properties (the API server prunes unknown fields; `kubectl` rejects them,
as it asks for strict field validation). Properties that are open by nature (a task's type-specific
properties, `variables`, input `defaults`, trigger conditions ...) keep unknown fields.

The Flow `spec` is the Kestra body: it must round-trip unchanged, so it gets no `default`s (the API server
would write them into the user's object); they are shown in the descriptions instead.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kflow.k8s.models import (
    GROUP,
    VERSION,
    CronTriggerSpec,
    CronTriggerStatus,
    ExecutionSpec,
    ExecutionStatus,
    FlowStatus,
)

PRESERVE = "x-kubernetes-preserve-unknown-fields"
ANY: dict[str, Any] = {PRESERVE: True, "nullable": True}

# JSON-schema keywords kept as they are (the rest is dropped or translated).
_KEPT = ("description", "enum", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
         "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "minProperties",
         "maxProperties", "multipleOf", "uniqueItems")
_FORMATS = {"date-time", "date", "duration", "int32", "int64", "float", "double", "byte", "uri", "email"}


@dataclass
class SchemaOptions:
    """How to turn one model's JSON schema into a structural schema.

    All tables are keyed by pydantic definition name (the model class name).
    """

    open_defs: set[str] = field(default_factory=set)
    """Models whose objects keep unknown properties (declared ones are still checked)."""
    docs: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Descriptions of properties that have none in the model."""
    overrides: Mapping[str, Mapping[str, dict[str, Any] | None]] = field(default_factory=dict)
    """Replacement schemas of properties (already structural); None removes the property."""
    required: Mapping[str, list[str]] = field(default_factory=dict)
    """Replacement `required` lists."""
    validations: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)
    """`x-kubernetes-validations` (CEL rules) added to a model's object."""
    list_map_keys: Mapping[str, list[str]] = field(default_factory=dict)
    """Arrays of these models become `x-kubernetes-list-type: map` keyed by these properties."""
    keep_defaults: bool = True
    """False: `default`s go into the description instead of the schema."""


class SchemaError(ValueError):
    pass


def structural(schema: dict[str, Any], options: SchemaOptions | None = None) -> dict[str, Any]:
    """A structural OpenAPI v3 schema (apiextensions.k8s.io/v1) from a pydantic JSON schema."""
    return _Converter(schema, options or SchemaOptions()).root()


class _Converter:
    def __init__(self, schema: dict[str, Any], options: SchemaOptions):
        self.schema = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})
        self.opt = options
        self.stack: list[str] = []

    def root(self) -> dict[str, Any]:
        body = {k: v for k, v in self.schema.items() if k != "$defs"}
        return self.model(body, str(self.schema.get("title", "")))

    def ref(self, ref: str) -> tuple[dict[str, Any], str]:
        name = ref.rsplit("/", 1)[-1]
        if name not in self.defs:
            raise SchemaError(f"unknown $ref {ref}")
        if name in self.stack:
            raise SchemaError(f"recursive model {' -> '.join([*self.stack, name])}: not expressible "
                              "in a structural schema (declare the recursive part open)")
        return self.defs[name], name

    def model(self, node: dict[str, Any], name: str) -> dict[str, Any]:
        self.stack.append(name)
        try:
            return self.node(node, name)
        finally:
            self.stack.pop()

    def node(self, node: dict[str, Any], model: str | None = None) -> dict[str, Any]:
        """Convert one schema node; `model` is the name of the model whose object this node is."""
        node = dict(node)
        if "$ref" in node:
            target, name = self.ref(node.pop("$ref"))
            out = self.model(target, name)
            return self._siblings(out, node)
        for key in ("anyOf", "oneOf"):
            if key in node:
                return self._siblings(self.union(node.pop(key)), node)
        if "allOf" in node:
            parts = node.pop("allOf")
            if len(parts) != 1:
                raise SchemaError("allOf with several schemas is not supported")
            return self._siblings(self.node(parts[0]), node)
        if "const" in node:
            node["enum"] = [node.pop("const")]
        kind = node.get("type")
        if kind is None:
            if "enum" in node:
                kinds = {type(v) for v in node["enum"]}
                if kinds == {str}:
                    return self._siblings({"type": "string"}, node)
            return self._siblings(dict(ANY), node)
        if isinstance(kind, list):
            return self._siblings(self.union([{"type": k} for k in kind]), {k: v for k, v in node.items()
                                                                           if k != "type"})
        out: dict[str, Any] = {"type": kind}
        if kind == "object":
            out.update(self.object(node, model))
        elif kind == "array":
            items = node.get("items", {})
            out["items"] = self.node(items) if items else dict(ANY)
            item_model = items.get("$ref", "").rsplit("/", 1)[-1] if isinstance(items, dict) else ""
            if item_model in self.opt.list_map_keys:
                out["x-kubernetes-list-type"] = "map"
                out["x-kubernetes-list-map-keys"] = list(self.opt.list_map_keys[item_model])
        elif kind == "null":
            raise SchemaError("a property that can only be null")
        return self._siblings(out, node)

    def object(self, node: dict[str, Any], model: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        props = node.get("properties")
        extra = node.get("additionalProperties")
        if props is not None:
            docs = self.opt.docs.get(model or "", {})
            overrides = self.opt.overrides.get(model or "", {})
            converted: dict[str, Any] = {}
            for name, sub in props.items():
                if name in overrides:
                    if overrides[name] is not None:
                        converted[name] = _ordered(copy.deepcopy(overrides[name]))
                    continue
                if name in docs and "description" not in sub:  # the model's own description wins
                    sub = {**sub, "description": docs[name]}
                converted[name] = self.node(sub)
            for name, sub in overrides.items():  # properties the model doesn't declare
                if name not in props and sub is not None:
                    converted[name] = _ordered(copy.deepcopy(sub))
            out["properties"] = converted
            required = self.opt.required.get(model or "", node.get("required"))
            if required:
                out["required"] = [r for r in required if r in converted]
            if isinstance(extra, dict) and extra:
                raise SchemaError(f"{model}: properties and typed additionalProperties together")
            if extra is True or (model in self.opt.open_defs):
                out[PRESERVE] = True
        elif isinstance(extra, dict) and extra:
            out["additionalProperties"] = self.node(extra)
        else:  # dict[str, Any], bare object
            out[PRESERVE] = True
        if model in self.opt.validations:
            out["x-kubernetes-validations"] = copy.deepcopy(self.opt.validations[model])
        return out

    def union(self, branches: list[dict[str, Any]]) -> dict[str, Any]:
        nullable = any(b.get("type") == "null" for b in branches)
        rest = [b for b in branches if b.get("type") != "null"]
        # several types: structural schemas cannot say "X or Y"
        out = self.node(rest[0]) if len(rest) == 1 else dict(ANY)
        if nullable:
            out["nullable"] = True
        return out

    def _siblings(self, out: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
        """Keywords of `node` that apply on top of the converted `out` (description, default, bounds)."""
        for key in _KEPT:
            if key in node and not (key == "format" and node[key] not in _FORMATS):
                if key in ("pattern", "minLength", "maxLength") and out.get("type") not in ("string", None):
                    continue
                out[key] = copy.deepcopy(node[key])
        if "type" not in out and any(k in out for k in ("pattern", "minLength", "maxLength")):
            out["type"] = "string"
            out.pop(PRESERVE, None)
        if "default" in node and node["default"] is not None:
            default = node["default"]
            if self.opt.keep_defaults:
                out["default"] = default
            else:
                shown = yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()
                text = out.get("description", "").rstrip()
                sep = "" if not text else (" " if text.endswith(".") else ". ")
                out["description"] = f"{text}{sep}Default: {shown}."
        return _ordered(out)


_ORDER = ("description", "type", "format", "nullable", "enum", "pattern", "minimum", "maximum", "minLength",
          "maxLength", "minItems", "maxItems", "default", "required", "properties", "additionalProperties",
          "items", "x-kubernetes-list-type", "x-kubernetes-list-map-keys", PRESERVE, "x-kubernetes-validations")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    keys = sorted(node, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k))
    return {k: node[k] for k in keys}


# ---- the CRD builder --------------------------------------------------------------------------------


@dataclass
class PrinterColumn:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.format:
            out["format"] = self.format
        if self.description:
            out["description"] = self.description
        if self.priority:
            out["priority"] = self.priority
        return out


AGE = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


def model_schema(model: type[BaseModel], options: SchemaOptions | None = None,
                 description: str | None = None) -> dict[str, Any]:
    out = structural(model.model_json_schema(by_alias=True, mode="validation"), options)
    if description:
        out["description"] = description
    return _ordered(out)


def crd_for(kind: str, plural: str, spec_model: type[BaseModel] | dict[str, Any],
            status_model: type[BaseModel] | dict[str, Any] | None, *,
            short_names: Iterable[str] = (), categories: Iterable[str] = ("kflow",),
            printer_columns: Iterable[PrinterColumn] = (AGE,), description: str = "",
            spec_description: str = "", status_description: str = "",
            spec_options: SchemaOptions | None = None, status_options: SchemaOptions | None = None,
            spec_required: bool = True, scope: str = "Namespaced", group: str = GROUP,
            version: str = VERSION) -> dict[str, Any]:
    """One CustomResourceDefinition with a single served+stored version and a status subresource.

    `spec_model` / `status_model` are pydantic models, or already structural schemas (dicts).
    """

    def schema_of(model: type[BaseModel] | dict[str, Any], options: SchemaOptions | None,
                  text: str) -> dict[str, Any]:
        if isinstance(model, dict):
            out = copy.deepcopy(model)
            if text:
                out["description"] = text
            return _ordered(out)
        return model_schema(model, options, text or None)

    properties: dict[str, Any] = {"spec": schema_of(spec_model, spec_options, spec_description)}
    if status_model is not None:
        properties["status"] = schema_of(status_model, status_options, status_description)
    root: dict[str, Any] = {"type": "object"}
    if description:
        root = {"description": description, **root}
    if spec_required:
        root["required"] = ["spec"]
    root["properties"] = properties
    version_entry: dict[str, Any] = {
        "name": version,
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": root},
    }
    if status_model is not None:
        version_entry["subresources"] = {"status": {}}
    columns = [c.to_dict() for c in printer_columns]
    if columns:
        version_entry["additionalPrinterColumns"] = columns
    names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                             "singular": kind.lower()}
    if short_names:
        names["shortNames"] = list(short_names)
    if categories:
        names["categories"] = list(categories)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.{group}",
            "labels": {"app.kubernetes.io/name": "kflow", "app.kubernetes.io/part-of": "kflow"},
        },
        "spec": {"group": group, "names": names, "scope": scope, "versions": [version_entry]},
    }


# ---- Flow: the Kestra body ---------------------------------------------------------------------------

# Ids: Kestra's own regexes (ECMA-262 compatible as written).
TASK_ID = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
# A plugin type is a Java class name, e.g. io.kestra.plugin.core.log.Log.
PLUGIN_TYPE = r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)+$"

# Bounds that keep the CEL uniqueness rules within the API server's cost budget.
# Top-level lists only: nested tasks (If, ForEach, ...) are not bounded here.
MAX_ITEMS = {"tasks": 500, "errors": 50, "finally": 50, "afterExecution": 50, "inputs": 100, "outputs": 100,
             "triggers": 50}
MAX_ID_LENGTH = 100

FLOW_DOCS: dict[str, dict[str, str]] = {
    "Flow": {
        "id": "Kestra flow id (letters, digits, `.`, `_`, `-`; at most 100 chars). Defaults to metadata.name.",
        "namespace": "Kestra namespace: lower case, dots make a hierarchy (e.g. company.team). Defaults to "
                     "the resource's Kubernetes namespace.",
        "revision": "Kestra revision number (managed by Kestra servers); accepted and ignored.",
        "description": "Markdown description of the flow.",
        "labels": "Labels copied onto every execution: a map, or a list of {key, value}. Keys starting with "
                  "`system.` are reserved.",
        "inputs": "Inputs an execution supplies (or takes from `defaults`); validated and typed when the "
                  "execution is created, exposed as `inputs.<id>`.",
        "outputs": "Flow outputs, rendered when the execution ends, exposed to parent flows.",
        "variables": "Variables exposed as `vars.<name>` (any YAML; a `{{ }}` value is rendered only through "
                     "render()).",
        "tasks": "Tasks, run in order from top to bottom. Each task has an `id` (unique in the flow) and a "
                 "`type` (a Kestra plugin class); its other properties depend on the type. Ids are unique "
                 "across tasks, errors, finally and afterExecution.",
        "errors": "Tasks run (in order) when a task fails; the execution then ends FAILED.",
        "finally": "Tasks that always run at the end, after `errors`.",
        "afterExecution": "Tasks run once the execution has reached its final state; their failure doesn't "
                          "change that state.",
        "triggers": "Triggers that start executions. Schedule triggers are run by CronTrigger resources; "
                    "Webhook and Flow triggers are kept but not run yet.",
        "concurrency": "Limit on RUNNING executions of this flow, and what happens to the next ones.",
        "pluginDefaults": "Default property values by plugin type (exact class or prefix), applied to every "
                          "task and trigger of a matching type: a list of {type, values, forced} (the map "
                          "form {type: values} is read too). A task's own values win unless forced.",
        "taskDefaults": "Deprecated name of pluginDefaults.",
        "retry": "Flow-level retry of a failed execution.",
        "disabled": "A disabled flow cannot be executed and its triggers are not evaluated.",
        "deleted": "Kestra bookkeeping; accepted and ignored.",
        "tenantId": "Kestra tenant (Enterprise); accepted and ignored.",
        "sla": "Kestra SLAs (beta): a list of {id, type: MAX_DURATION | EXECUTION_ASSERTION, behavior, ...}.",
        "checks": "Conditions evaluated before an execution is created (recent Kestra versions).",
        "workerGroup": "Kestra Enterprise worker group; accepted and ignored.",
    },
    "Task": {
        "id": "Task id: letters, digits, `_` and `-` (no dots); unique in the flow; outputs are read as "
              "`outputs.<id>`.",
        "type": "Kestra plugin class (or an older alias), e.g. io.kestra.plugin.core.log.Log. It decides "
                "which other properties the task takes.",
        "description": "Markdown description of the task.",
        "runIf": "Expression rendered just before the task runs; a falsy result skips it (SKIPPED).",
        "disabled": "A disabled task is left out of the execution entirely.",
        "allowFailure": "When true a failure doesn't stop the flow; the execution ends WARNING.",
        "allowWarning": "When true a WARNING task counts as a success.",
        "timeout": "Maximum duration of one attempt (ISO-8601, e.g. PT10M); the attempt is killed then.",
        "retry": "Retry of a failed task run: new attempts of the same task run.",
        "workerGroup": "Kestra Enterprise worker group; accepted and ignored.",
        "logLevel": "Minimum level of the task's logs that are kept (TRACE, DEBUG, INFO, WARN, ERROR).",
        "logToFile": "Store the task's logs as a file.",
    },
    "Input": {
        "id": "Input id (a `.` nests it: `a.b` is read as `inputs.a.b`).",
        "type": "Input type: how a supplied value is parsed and checked.",
        "description": "Markdown description.",
        "displayName": "Label shown in forms.",
        "required": "A required input without a value and without `defaults` stops the execution from "
                    "being created.",
        "defaults": "Value used when none is supplied (any YAML value, or an expression).",
        "prefill": "Value suggested in forms (unlike `defaults`, may be cleared).",
        "dependsOn": "Inputs this one depends on, and a condition to enable it.",
        "validator": "STRING/SECRET: regular expression the whole value must match.",
        "min": "INT/FLOAT/DURATION: smallest accepted value.",
        "max": "INT/FLOAT/DURATION: largest accepted value.",
        "values": "SELECT/MULTISELECT/ENUM: accepted values.",
        "options": "MULTISELECT: deprecated name of `values`.",
        "expression": "SELECT/MULTISELECT: expression giving the accepted values.",
        "allowCustomValue": "SELECT/MULTISELECT: accept values not listed.",
        "isRadio": "SELECT: show as radio buttons.",
        "autoSelectFirst": "SELECT/MULTISELECT: preselect the first value.",
        "itemType": "ARRAY (required) / MULTISELECT: type of each element.",
        "after": "DATE/DATETIME/TIME: values must be after this.",
        "before": "DATE/DATETIME/TIME: values must be before this.",
        "extension": "FILE: accepted file extension.",
        "allowedFileExtensions": "FILE: accepted file extensions.",
    },
    "DependsOn": {
        "inputs": "Ids of the inputs (declared earlier) that must have a value.",
        "condition": "Expression; the input is enabled only when it is truthy.",
    },
    "Output": {
        "id": "Output id.",
        "type": "Type the rendered value is coerced to (same types as inputs).",
        "value": "Value, usually an expression such as {{ outputs.task.value }}.",
        "description": "Markdown description.",
        "displayName": "Label shown in the UI.",
        "required": "A required output that cannot be rendered fails the execution.",
    },
    "Concurrency": {
        "limit": "Maximum number of RUNNING executions of the flow.",
        "behavior": "What happens to an execution over the limit: wait (QUEUE), end CANCELLED (CANCEL) or "
                    "end FAILED (FAIL).",
    },
    "Retry": {
        "type": "Delay between attempts: constant (interval), exponential (interval growing up to "
                "maxInterval) or random (between minInterval and maxInterval).",
        "interval": "ISO-8601 delay (constant, exponential).",
        "maxInterval": "ISO-8601 longest delay (exponential, random).",
        "minInterval": "ISO-8601 shortest delay (random).",
        "delayFactor": "Growth factor of exponential delays.",
        "maxAttempts": "Total number of attempts, the first included.",
        "maxAttempt": "Deprecated spelling of maxAttempts.",
        "maxDuration": "ISO-8601 time budget across all attempts.",
        "warningOnRetry": "A task that succeeds after a retry ends WARNING.",
        "behavior": "Flow level: retry the failed tasks in the same execution, or create a new execution.",
    },
    "Trigger": {
        "id": "Trigger id: letters, digits, `_` and `-`.",
        "type": "Kestra trigger class, e.g. io.kestra.plugin.core.trigger.Schedule; it decides the other "
                "properties (Schedule: cron, timezone, withSeconds, recoverMissedSchedules, ...).",
        "description": "Markdown description.",
        "conditions": "Conditions the trigger checks before starting an execution.",
        "disabled": "A disabled trigger is not evaluated.",
        "inputs": "Input values of the executions it starts.",
        "labels": "Labels added to the executions it starts (map or list of {key, value}).",
        "stopAfter": "States after which the trigger is disabled.",
        "allowConcurrent": "Start an execution even while the previous one still runs.",
        "logLevel": "Minimum level of the trigger's logs.",
        "logToFile": "Store the trigger's logs as a file.",
        "workerGroup": "Kestra Enterprise worker group; accepted and ignored.",
    },
}
FLOW_DOCS["FlowRetry"] = FLOW_DOCS["Retry"]


def _task_types_text() -> str:
    from kflow.tasks import registry

    registry._load_all()
    names = sorted(n for n in registry.TASK_TYPES if "#" not in n)  # `#`: internal steps, not for flows
    return "Task types kflow runs: " + ", ".join(names) + "."


def _unique_ids(lists: list[str], what: str, field_path: str) -> dict[str, Any]:
    """CEL rule on the Flow spec: ids unique across the given top-level lists of objects with an `id`.

    (CRD rules have no cel.bind: the list of ids is spelled out where it is used.)
    """
    parts = [f"self.{n}.map(x, x.id)" if n == "tasks" else f"(has(self.{n}) ? self.{n}.map(x, x.id) : [])"
             for n in lists]
    ids = "(" + " + ".join(parts) + ")"
    return {
        "rule": f"{ids}.all(i, {ids}.exists_one(j, j == i))",
        "message": f"{what} ids must be unique",
        "messageExpression": f"'{what} ids must be unique across {', '.join(lists)}: ' + "
                             f"{ids}.filter(i, !{ids}.exists_one(j, j == i))[0] + "
                             "' is used more than once'",
        "fieldPath": field_path,
    }


def _unique_in_list(what: str, optional_id: bool = False) -> dict[str, Any]:
    """CEL rule on a list of objects with an `id` (optional_id: items without one are left to other rules)."""
    if optional_id:
        return {
            "rule": "self.all(x, !has(x.id) || self.exists_one(y, has(y.id) && y.id == x.id))",
            "message": f"{what} ids must be unique",
            "messageExpression": f"'{what} ids must be unique: ' + self.map(x, has(x.id) ? x.id : '')"
                                 ".filter(i, i != '' && !self.exists_one(y, has(y.id) && y.id == i))[0] + "
                                 "' is used more than once'",
        }
    return {
        "rule": "self.all(x, self.exists_one(y, y.id == x.id))",
        "message": f"{what} ids must be unique",
        "messageExpression": f"'{what} ids must be unique: ' + self.map(x, x.id)"
                             ".filter(i, !self.exists_one(y, y.id == i))[0] + ' is used more than once'",
    }


def flow_spec_options() -> SchemaOptions:
    task_lists = ["tasks", "errors", "finally", "afterExecution"]
    return SchemaOptions(
        open_defs={"Task", "Trigger"},
        docs=FLOW_DOCS,
        keep_defaults=False,
        required={"Flow": ["tasks"], "Input": ["type"]},
        overrides={
            # The loader reads both forms (map, list of {key, value}): no single structural type.
            "Flow": {
                "labels": {**ANY, "description": FLOW_DOCS["Flow"]["labels"]},
                # list of {type, values, forced}, or the map form {type: values}
                "pluginDefaults": {**ANY, "description": FLOW_DOCS["Flow"]["pluginDefaults"]},
                "taskDefaults": {**ANY, "description": FLOW_DOCS["Flow"]["taskDefaults"]},
            },
            "Input": {
                # Deprecated spelling of `id` (read by Kestra and kflow).
                "name": {"description": "Deprecated name of `id`.", "type": "string",
                         "pattern": r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$"},
                # A typo found in real flows: kflow reads it as `defaults` with a warning (Kestra rejects it).
                "default": {**ANY, "description": "Not a Kestra property: kflow reads it as `defaults` and "
                                                  "warns (Kestra rejects the flow). Use `defaults`."},
            },
            "Task": {
                "type": {"description": FLOW_DOCS["Task"]["type"], "type": "string", "pattern": PLUGIN_TYPE},
            },
            "Trigger": {
                "type": {"description": FLOW_DOCS["Trigger"]["type"], "type": "string", "pattern": PLUGIN_TYPE},
            },
        },
        validations={
            "Flow": [_unique_ids(task_lists, "task", ".tasks")],
            "Input": [{"rule": "has(self.id) || has(self.name)", "message": "an input needs an id",
                       "reason": "FieldValueRequired"}],
        },
    )


def _bound_flow_lists(spec: dict[str, Any]) -> dict[str, Any]:
    props = spec["properties"]
    for name, most in MAX_ITEMS.items():
        props[name]["maxItems"] = most
        ident = props[name]["items"]["properties"]["id"]
        ident.setdefault("maxLength", MAX_ID_LENGTH)
        props[name]["items"]["properties"]["id"] = _ordered(ident)
    props["tasks"]["description"] += " " + _task_types_text()
    for name, what in (("inputs", "input"), ("outputs", "output"), ("triggers", "trigger")):
        props[name]["x-kubernetes-validations"] = [_unique_in_list(what, optional_id=name == "inputs")]
    for name in list(props):
        props[name] = _ordered(props[name])
    return spec


def flow_spec_schema() -> dict[str, Any]:
    from kflow.model.flow import Flow

    spec = model_schema(Flow, flow_spec_options(),
                        "The Kestra flow, unchanged: what you would write in Kestra (id, namespace, inputs, "
                        "tasks, triggers, ...).")
    return _bound_flow_lists(spec)


# Descriptions of status properties the models leave without one (the models' own win).
STATUS_DOCS: dict[str, dict[str, str]] = {
    "TaskRunStatus": {
        "taskId": "id of the task in the flow",
        "exitCode": "exit code of the last attempt's task container",
        "startDate": "ISO-8601 UTC start time",
        "endDate": "ISO-8601 UTC end time",
        "error": "why the task run failed",
    },
    "Condition": {"status": "True, False or Unknown"},
}

EXECUTION_STATUS_OPTIONS = SchemaOptions(
    open_defs=set(), list_map_keys={"Condition": ["type"]}, keep_defaults=False, docs=STATUS_DOCS,
)


def flow_crd() -> dict[str, Any]:
    return crd_for(
        "Flow", "flows", flow_spec_schema(), FlowStatus,
        short_names=["kfl"],
        description="A Kestra flow run natively on Kubernetes: `spec` is the Kestra flow body, unchanged.",
        status_description="Written by the operator after validating the flow.",
        status_options=EXECUTION_STATUS_OPTIONS,
        printer_columns=[
            PrinterColumn("Valid", ".status.valid", "boolean", "whether the Kestra body is valid"),
            PrinterColumn("Tasks", ".status.tasks", "integer", "number of tasks at any depth"),
            PrinterColumn("Flow ID", ".spec.id", priority=1, description="Kestra flow id"),
            PrinterColumn("Kestra Namespace", ".spec.namespace", priority=1, description="Kestra namespace"),
            AGE,
        ],
    )


def execution_crd() -> dict[str, Any]:
    return crd_for(
        "Execution", "executions", ExecutionSpec, ExecutionStatus,
        short_names=["kex"],
        description="One run of a Flow: tasks run as pods; progress and results are in `status`.",
        spec_description="What to run: the Flow, input values and labels.",
        status_description="Written by the operator only.",
        spec_options=SchemaOptions(keep_defaults=True, validations={"InputFileSource": [{
            "rule": "(has(self.configMapKeyRef) ? 1 : 0) + (has(self.secretKeyRef) ? 1 : 0) + "
                    "(has(self.url) ? 1 : 0) + (has(self.executionFile) ? 1 : 0) == 1",
            "message": "exactly one of configMapKeyRef, secretKeyRef, url or executionFile is required"}]}),
        status_options=EXECUTION_STATUS_OPTIONS,
        printer_columns=[
            PrinterColumn("Flow", ".spec.flowRef.name", description="the Flow that runs"),
            PrinterColumn("State", ".status.state", description="Kestra execution state"),
            PrinterColumn("Reason", ".status.reason"),
            PrinterColumn("Started", ".status.startDate", "date"),
            PrinterColumn("Duration", ".status.duration"),
            PrinterColumn("Message", ".status.message", priority=1),
            AGE,
        ],
    )


def crontrigger_crd() -> dict[str, Any]:
    return crd_for(
        "CronTrigger", "crontriggers", CronTriggerSpec, CronTriggerStatus,
        short_names=["kct"],
        description="Runs a Flow on a cron schedule (Kestra's Schedule trigger): one Execution per tick, "
                    "named from the tick; missed-tick recovery and declarative backfills.",
        spec_description="The schedule, what each run gets, and an optional backfill.",
        status_description="Written by the operator only.",
        spec_options=SchemaOptions(keep_defaults=True),
        status_options=EXECUTION_STATUS_OPTIONS,
        printer_columns=[
            PrinterColumn("Flow", ".spec.flowRef.name", description="the Flow that runs"),
            PrinterColumn("Schedule", ".spec.cron", description="cron expression"),
            PrinterColumn("Timezone", ".spec.timezone", priority=1),
            PrinterColumn("Suspend", ".spec.suspend", "boolean"),
            PrinterColumn("Last", ".status.lastScheduleTime", "date", "latest tick dealt with"),
            PrinterColumn("Next", ".status.nextScheduleTime", description="next tick (UTC)"),
            PrinterColumn("Active", ".status.activeCount", "integer", "active executions"),
            PrinterColumn("Ready", '.status.conditions[?(@.type=="Ready")].status', priority=1),
            PrinterColumn("Message", '.status.conditions[?(@.type=="Ready")].message', priority=1),
            AGE,
        ],
    )


def all_crds() -> list[dict[str, Any]]:
    return [flow_crd(), execution_crd(), crontrigger_crd()]


# ---- files --------------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[3]
DEFAULT_DIRS = (Path("crds"), Path("charts/kflow/crds"))
HEADER = "# Generated by `python -m kflow.k8s.crds` from kflow's pydantic models. Do not edit.\n"


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # no &anchors: every schema node written out in full
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def to_yaml(crd: dict[str, Any]) -> str:
    return HEADER + yaml.dump(crd, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def file_name(crd: dict[str, Any]) -> str:
    return f"{crd['metadata']['name']}.yaml"


def rendered() -> dict[str, str]:
    """File name -> YAML text of every CRD."""
    return {file_name(c): to_yaml(c) for c in all_crds()}


def write(dirs: Iterable[Path]) -> list[Path]:
    files = rendered()
    written = []
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (d / name).write_text(text, encoding="utf-8")
            written.append(d / name)
    return written


def stale(dirs: Iterable[Path]) -> list[Path]:
    files = rendered()
    return [d / n for d in dirs for n, text in files.items()
            if not (d / n).exists() or (d / n).read_text(encoding="utf-8") != text]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kflow.k8s.crds", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, action="append",
                    help="output folder (repeatable; default: crds/ and charts/kflow/crds/ of the repo)")
    ap.add_argument("--check", action="store_true", help="only check the files are up to date (exit 1 if not)")
    args = ap.parse_args(argv)
    dirs = args.out or [REPO / d for d in DEFAULT_DIRS]
    if args.check:
        bad = stale(dirs)
        for p in bad:
            print(f"stale: {p} (run python -m kflow.k8s.crds)", file=sys.stderr)
        return 1 if bad else 0
    for p in write(dirs):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
