"""The Kestra flow model: a typed tree parsed strictly from YAML, with errors that name their path."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from kflow.errors import FlowInvalid, Problem
from kflow.model.common import Retry, Strict, normalize_labels
from kflow.model.defaults import apply_plugin_defaults, normalize_plugin_defaults
from kflow.model.inputs import Input, InputType
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
    sla: list[dict[str, Any]] = Field(default_factory=list)
    checks: list[dict[str, Any]] = Field(default_factory=list)
    workerGroup: dict[str, Any] | None = None

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

_MESSAGES = {
    "missing": "required property is missing",
    "extra_forbidden": "Unrecognized field (not a property of this type)",
    "too_short": "must not be empty",
}


def _loc_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("function-after", "function-before", "function-wrap") or "[" in str(part):
            continue
        else:
            path += f".{part}" if path else str(part)
    return path


def _problems(exc: ValidationError, prefix: str) -> list[Problem]:
    out = []
    for err in exc.errors():
        msg = _MESSAGES.get(err["type"], err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if err["type"] == "extra_forbidden":
            msg = f'Unrecognized field "{err["loc"][-1]}"'
        elif err["type"] == "literal_error":
            msg = f"{err['msg']}, got {err.get('input')!r}"
        out.append(Problem(_loc_path(prefix, err["loc"]), msg))
    return out


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Parser:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def task(self, raw: Any, path: str) -> Task | None:
        if not isinstance(raw, dict):
            self.problems.append(Problem(path, "expected a task: a map with `id` and `type`"))
            return None
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            self.problems.append(Problem(_join(path, "type"), "required property is missing"))
            return None
        cls = registry.task_class(type_name)
        if cls is None:
            self.problems.append(Problem(_join(path, "type"), f"Invalid type: {type_name}"))
            return None
        data = dict(raw)
        data["type"] = cls.TYPE
        ok = True
        for name in getattr(cls, "TASK_LISTS", ()):
            if name in data:
                data[name], fine = self.task_list(data[name], _join(path, name))
                ok &= fine
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
            self.problems.extend(_problems(exc, path))
            return None
        return task if ok else None

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
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        problems = [p for p in _problems(exc, path_prefix)
                    if not (parser.problems and p.path == _join(path_prefix, "tasks")
                            and "empty" in p.message)]
        raise FlowInvalid(parser.problems + problems, source) from None
    if parser.problems:
        raise FlowInvalid(parser.problems, source)
    problems = check_flow(flow, path_prefix)
    if problems:
        raise FlowInvalid(problems, source)
    return flow


def check_flow(flow: Flow, prefix: str = "") -> list[Problem]:
    """Whole-flow rules Kestra reports as `Invalid Flow`: unique ids, known input references."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for task in flow.all_tasks():
        if task.id in seen:
            problems.append(Problem(_join(prefix, "tasks"), f"Duplicate task id with name [{task.id}]"))
        seen.add(task.id)
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
