"""The Kestra flow model: a typed tree parsed strictly from YAML, with errors that name their path."""

from __future__ import annotations

import warnings
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator

from kflow.errors import FlowInvalid, Problem
from kflow.model.checks import check_expressions, check_plugin_types, check_triggers
from kflow.model.common import Retry, Strict, normalize_labels
from kflow.model.defaults import apply_plugin_defaults, normalize_plugin_defaults
from kflow.model.inputs import Input, InputType
from kflow.model.problems import map_form_paths
from kflow.model.problems import validation_problems as _problems
from kflow.model.sla import SLA
from kflow.model.suggest import closest, unknown_type
from kflow.model.triggers import TRIGGER_ALIASES, TRIGGER_TYPES, Trigger
from kflow.tasks import registry
from kflow.tasks.base import Task

API_VERSION = "kflow.dev/v1alpha1"


class Concurrency(Strict):
    limit: int = Field(ge=1)
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"


class Output(Strict):
    id: str = Field(pattern=r"^[a-zA-Z0-9][.a-zA-Z0-9_-]*$")
    type: InputType
    value: Any
    description: str | None = None
    displayName: str | None = None
    required: bool = True


class PluginDefault(Strict):
    type: str
    values: dict[str, Any] = Field(default_factory=dict)
    forced: bool = False


class FlowRetry(Retry):
    pass


class Flow(Strict):
    id: str = Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]*$", max_length=100)
    namespace: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=150)
    revision: int | None = None
    description: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    inputs: list[Input] = Field(default_factory=list)
    outputs: list[Output] = Field(default_factory=list)
    variables: dict[str, Any] = Field(default_factory=dict)
    tasks: list[Task] = Field(min_length=1)
    errors: list[Task] = Field(default_factory=list)
    finally_: list[Task] = Field(default_factory=list, alias="finally")
    afterExecution: list[Task] = Field(default_factory=list)
    triggers: list[Trigger] = Field(default_factory=list)
    concurrency: Concurrency | None = None
    pluginDefaults: list[PluginDefault] = Field(default_factory=list)
    taskDefaults: list[PluginDefault] = Field(default_factory=list)
    retry: FlowRetry | None = None
    disabled: bool = False
    deleted: bool = False
    tenantId: str | None = None
    sla: list[SLA] = Field(default_factory=list)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    workerGroup: dict[str, Any] | None = None
    _warnings: list[Problem] = PrivateAttr(default_factory=list)

    @field_validator("workerGroup")
    @classmethod
    def _worker_group(cls, value: Any) -> Any:
        if value is not None:
            raise ValueError("Worker Group is an Enterprise Edition functionality")
        return value

    @property
    def warnings(self) -> list[Problem]:
        """Accepted-but-noted problems found while parsing (deprecations, unknown references)."""
        return self._warnings

    @field_validator("labels", mode="before")
    @classmethod
    def _labels(cls, value: Any) -> dict[str, str]:
        labels = normalize_labels(value)
        bad = [k for k in labels if k.startswith("system.") and k != "system.readOnly"]
        if bad:
            raise ValueError(f"label key {bad[0]!r}: keys starting with `system.` are reserved")
        return labels

    @field_validator("pluginDefaults", "taskDefaults", mode="before")
    @classmethod
    def _defaults_form(cls, value: Any) -> Any:
        return normalize_plugin_defaults(value)

    def as_json(self) -> dict[str, Any]:
        """The whole flow as JSON data, every task's own properties included (tasks are declared as the
        base Task, where a plain model_dump stops)."""
        return self.model_dump(mode="json", by_alias=True, serialize_as_any=True)

    def all_tasks(self) -> list[Task]:
        """Every task at any depth, in declaration order."""
        out: list[Task] = []

        def walk(tasks: list[Task]) -> None:
            for t in tasks:
                out.append(t)
                for children in t.child_lists().values():
                    walk(children)

        for top in (self.tasks, self.errors, self.finally_, self.afterExecution):
            walk(top)
        return out


# ---- parsing -------------------------------------------------------------------------------------

def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.ids: list[str] = []  # every task id seen, valid task or not (duplicates are reported anyway)

    def task(self, raw: Any, path: str) -> Task | None:
        if not isinstance(raw, dict):
            self.problems.append(Problem(path, "expected a task: a map with `id` and `type`"))
            return None
        if isinstance(raw.get("id"), str):
            self.ids.append(raw["id"])
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            self.problems.append(Problem(_join(path, "type"), "required property is missing"))
            return None
        cls = registry.task_class(type_name)
        if cls is None:
            known = [*registry.TASK_TYPES, *registry.ALIASES]
            self.problems.append(Problem(_join(path, "type"), unknown_type(type_name, known)))
            self._children_ids(raw)
            return None
        data = dict(raw)
        data["type"] = cls.TYPE
        ok = True
        for name in getattr(cls, "TASK_LISTS", ()):
            if name in data and data[name] is None:
                del data[name]  # `defaults: null` is an absent list, not an empty one
            elif name in data:
                data[name], fine = self.task_list(data[name], _join(path, name))
                ok &= fine
        for name, key in getattr(cls, "WRAPPED_TASKS", {}).items():  # Dag: [{task: {...}, dependsOn}]
            if isinstance(data.get(name), list):
                wrapped = []
                for i, item in enumerate(data[name]):
                    if isinstance(item, dict) and key in item:
                        inner = self.task(item[key], f"{_join(path, name)}[{i}].{key}")
                        if inner is None:  # reported already: a stand-in keeps the rest checkable
                            ok = False
                            raw_id = item[key].get("id") if isinstance(item[key], dict) else None
                            inner = Task.model_construct(id=str(raw_id or f"invalid{i}"), type="invalid")
                        item = {**item, key: inner}
                    wrapped.append(item)
                data[name] = wrapped
        for name in getattr(cls, "TASK_MAPS", ()):
            if isinstance(data.get(name), dict):
                parsed = {}
                for key, tasks in data[name].items():
                    parsed[str(key)], fine = self.task_list(tasks, f"{_join(path, name)}.{key}")
                    ok &= fine
                data[name] = parsed
        try:
            task = cls.model_validate(data)
        except ValidationError as exc:
            lists = {_join(path, n) for n in (*getattr(cls, "TASK_LISTS", ()), *getattr(cls, "TASK_MAPS", ()))}
            for p in _problems(exc, path):
                if not ok and p.message == "must not be empty" and p.path in lists:
                    continue  # its children were invalid, each reported: no cascade
                self.problems.append(_suggest_field(p, path, cls))
            return None
        return task if ok else None

    def _children_ids(self, raw: dict[str, Any]) -> None:
        """Ids inside a task of unknown type still count for duplicate checks."""
        for value in raw.values():
            items = value if isinstance(value, list) else []
            for item in items:
                if isinstance(item, dict) and isinstance(item.get("id"), str) and "type" in item:
                    self.ids.append(item["id"])
                    self._children_ids(item)

    def task_list(self, raw: Any, path: str) -> tuple[list[Task], bool]:
        if raw is None:
            return [], True
        if not isinstance(raw, list):
            self.problems.append(Problem(path, "expected a list of tasks"))
            return [], False
        before = len(self.problems)
        tasks = [self.task(item, f"{path}[{i}]") for i, item in enumerate(raw)]
        return [t for t in tasks if t is not None], len(self.problems) == before

    def trigger(self, raw: Any, path: str) -> Trigger | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            self.problems.append(Problem(path, "expected a trigger: a map with `id` and `type`"))
            return None
        name = TRIGGER_ALIASES.get(raw["type"], raw["type"])
        cls = TRIGGER_TYPES.get(name)
        if cls is None:
            self.problems.append(Problem(_join(path, "type"), f"Invalid type: {raw['type']}"))
            return None
        try:
            return cls.model_validate({**raw, "type": name})
        except ValidationError as exc:
            self.problems.extend(_problems(exc, path))
            return None


def parse_flow(raw: Any, source: str | None = None, path_prefix: str = "",
               global_defaults: list[dict[str, Any]] | None = None) -> Flow:
    """Typed flow from its raw map, or FlowInvalid listing every problem with its path."""
    if not isinstance(raw, dict):
        raise FlowInvalid([Problem(path_prefix, "a flow must be a YAML map")], source)
    parser = _Parser()
    flow_defaults = raw.get("pluginDefaults", raw.get("taskDefaults"))
    try:
        defaults = normalize_plugin_defaults(flow_defaults) + normalize_plugin_defaults(global_defaults)
    except (TypeError, ValueError, AttributeError):
        raise FlowInvalid([Problem(_join(path_prefix, "pluginDefaults"),
                                   "expected a list of {type, values, forced}")], source) from None
    body = {k: v for k, v in raw.items() if k not in ("pluginDefaults", "taskDefaults")}
    body = apply_plugin_defaults(body, [d for d in defaults if isinstance(d, dict)],
                                 {**registry.ALIASES, **TRIGGER_ALIASES})
    data = dict(body)
    for key in ("tasks", "errors", "finally", "afterExecution"):
        if key in data:
            data[key], _ = parser.task_list(data[key], _join(path_prefix, key))
    if isinstance(data.get("triggers"), list):
        data["triggers"] = [t for i, r in enumerate(data["triggers"])
                            if (t := parser.trigger(r, f"{_join(path_prefix, 'triggers')}[{i}]"))]
    if flow_defaults is not None:
        data["pluginDefaults"] = flow_defaults
    if parser.problems and not data.get("tasks"):
        data["tasks"] = []
    found = list(parser.problems)
    flow: Flow | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # model warnings become Problems with a path (below)
        try:
            flow = Flow.model_validate(data)
        except ValidationError as exc:
            found += [p for p in _problems(exc, path_prefix)
                      if not (parser.problems and p.path == _join(path_prefix, "tasks")
                              and "empty" in p.message)]
    # Every problem of the file in one pass: duplicates are found on the raw ids, whatever else failed.
    found += duplicate_task_ids(parser.ids, path_prefix)
    found += check_triggers(body, flow.inputs if flow else [], path_prefix)
    found += check_plugin_types(body, path_prefix)
    if flow is not None:
        found += [p for p in check_flow(flow, path_prefix) if not p.message.startswith("Duplicate task id")]
        from kflow.tasks.flow.subflow import static_problems  # recursive flows (tasks/flow/subflow.py)

        found += static_problems(flow, body, path_prefix)
    task_ids = set(parser.ids)
    raw_inputs = body.get("inputs") if isinstance(body.get("inputs"), list) else []  # `inputs: 5` is reported
    input_ids = {str(i.get("id") or i.get("name")) for i in raw_inputs if isinstance(i, dict)
                 and isinstance(i.get("id") or i.get("name"), str | int)}
    expr_errors, notes = check_expressions(body, task_ids, {i for i in input_ids if i}, path_prefix)
    found += expr_errors
    for key in ("pluginDefaults", "taskDefaults"):
        found = map_form_paths(found, _join(path_prefix, key), raw.get(key))
    found = list(dict.fromkeys(found))  # each problem once
    if found:
        raise FlowInvalid(found, source)
    assert flow is not None
    flow._warnings = list(dict.fromkeys(deprecation_notes(body, path_prefix) + notes))
    return flow


def duplicate_task_ids(ids: list[str], prefix: str) -> list[Problem]:
    dups = [i for i in dict.fromkeys(ids) if ids.count(i) > 1]
    return [Problem(_join(prefix, "tasks"), f"Duplicate task id with name [{', '.join(dups)}]")] if dups else []


def deprecation_notes(body: dict[str, Any], prefix: str) -> list[Problem]:
    """Accepted but worth saying: `default:` on inputs, `taskCache` (a no-op here), `when`."""
    notes: list[Problem] = []
    for i, inp in enumerate(body.get("inputs") if isinstance(body.get("inputs"), list) else []):
        if isinstance(inp, dict) and "default" in inp and "defaults" not in inp:
            notes.append(Problem(f"{_join(prefix, 'inputs')}[{i}].default",
                                 "`default` is not a Kestra property (Kestra rejects it): read as `defaults`"))
    for path, task in _raw_tasks(body, prefix):
        if "taskCache" in task:
            notes.append(Problem(f"{path}.taskCache", "accepted, but kflow does not cache task results: "
                                                      "the task runs every time"))
        if "when" in task:
            notes.append(Problem(f"{path}.when", "deprecated: read as `runIf`"))
    return notes


def _raw_tasks(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        if isinstance(value.get("type"), str) and "id" in value:
            yield path, value
        for k, v in value.items():
            if k not in ("triggers", "inputs", "outputs", "variables", "labels", "sla"):
                yield from _raw_tasks(v, _join(path, str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _raw_tasks(v, f"{path}[{i}]")


def _suggest_field(problem: Problem, path: str, cls: type[Task]) -> Problem:
    if not problem.message.startswith('Unrecognized field "'):
        return problem
    name = problem.message.split('"')[1]
    if problem.path != _join(path, name):
        return problem
    known = [f.alias or n for n, f in cls.model_fields.items() if n != "type"]
    return Problem(problem.path, problem.message + closest(name, known, "property"))


def check_flow(flow: Flow, prefix: str = "") -> list[Problem]:
    """Whole-flow rules Kestra reports as `Invalid Flow`: unique ids, known input references."""
    problems = duplicate_task_ids([t.id for t in flow.all_tasks()], prefix)
    for kind, items in (("inputs", flow.inputs), ("outputs", flow.outputs), ("triggers", flow.triggers)):
        ids: set[str] = set()
        for i, item in enumerate(items):
            if item.id in ids:
                problems.append(Problem(f"{_join(prefix, kind)}[{i}].id", f"Duplicate {kind[:-1]} id [{item.id}]"))
            ids.add(item.id)
    known: set[str] = set()
    for i, inp in enumerate(flow.inputs):
        for dep in inp.dependsOn.inputs if inp.dependsOn else []:
            if dep not in known:
                problems.append(Problem(f"{_join(prefix, 'inputs')}[{i}].dependsOn.inputs",
                                        f"input `{dep}` is unknown or declared after `{inp.id}`"))
        known.add(inp.id)
    return problems
