"""Static checks on a parsed flow, before anything runs.

Kestra's own rules (reported as errors): `inputs.my-key` / `outputs.my-task.x` read with dots (the dash
is a subtraction, bracket notation is required), duplicate Flow-trigger `preconditions` ids, a Schedule
on a flow whose required input has no default and the trigger gives none.
Beyond Kestra: every `{{ }}` / `{% %}` is parsed now, so an unknown function or filter or a syntax error
is an error with its path; an `outputs.X` naming no task or `inputs.X` naming no input is a warning
(Kestra's own test flows read a missing output on purpose, guarded by `required: false`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from kflow.errors import Problem
from kflow.model.common import is_template

_NOT_RENDERED = {"description", "displayName"}


def walk_strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """(path, text) of every string holding an expression, map keys included."""
    if isinstance(value, str):
        if is_template(value):
            yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k in _NOT_RENDERED:
                continue
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and is_template(k):
                yield sub, k
            yield from walk_strings(v, sub)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk_strings(v, f"{path}[{i}]")


def _refs(text: str) -> Iterator[tuple[str, str]]:
    """('inputs'|'outputs', first key) of each static reference in a template."""
    from jinja2 import nodes

    from kflow.expr.renderer import _ENV, translate_cached

    tree = _ENV.parse(translate_cached(text).source)
    for f in tree.find_all(nodes.Filter):
        if f.name == "_kf_get" and isinstance(f.node, nodes.Name) and f.node.name in ("inputs", "outputs") \
                and f.args and isinstance(f.args[0], nodes.Tuple) and f.args[0].items \
                and isinstance(f.args[0].items[0], nodes.Const):
            yield f.node.name, str(f.args[0].items[0].value)


def check_expressions(body: dict[str, Any], task_ids: set[str], input_ids: set[str],
                      prefix: str) -> tuple[list[Problem], list[Problem]]:
    from kflow.expr.renderer import RenderError, _compile

    errors: list[Problem] = []
    warnings: list[Problem] = []
    dashed = [("inputs", i) for i in input_ids if "-" in i] + [("outputs", t) for t in task_ids if "-" in t]
    input_roots = {i.split(".")[0] for i in input_ids}
    for key in ("tasks", "errors", "finally", "afterExecution", "triggers", "outputs", "variables", "sla"):
        base = f"{prefix}.{key}" if prefix else key
        for path, text in walk_strings(body.get(key), base):
            if key != "outputs":  # flow outputs are read leniently by Kestra (see flow-with-optional-outputs)
                for root, name in dashed:
                    if re.search(rf"(?<![\w'\"\[]){root}\.{re.escape(name)}(?![\w-])", text):
                        errors.append(Problem(path, f"`{root}.{name}` is read as a subtraction: use the "
                                                    f"bracket notation {root}['{name}']"))
            try:
                _compile(text)
                refs = list(_refs(text))
            except RenderError as exc:
                errors.append(Problem(path, f"invalid expression: {exc}"))
                continue
            except Exception:  # a static check never hides the flow's real problems
                continue
            for root, name in refs:
                if root == "outputs" and name not in task_ids:
                    warnings.append(Problem(path, f"`outputs.{name}`: no task has the id `{name}`"))
                elif root == "inputs" and name not in input_roots:
                    warnings.append(Problem(path, f"`inputs.{name}`: the flow declares no input `{name}`"))
    return errors, warnings


def check_triggers(body: dict[str, Any], inputs: list[Any], prefix: str) -> list[Problem]:
    problems: list[Problem] = []
    base = f"{prefix}.triggers" if prefix else "triggers"
    triggers = body.get("triggers") if isinstance(body.get("triggers"), list) else []
    seen: dict[str, int] = {}
    for i, trig in enumerate(triggers):
        if not isinstance(trig, dict):
            continue
        pre = trig.get("preconditions")
        if isinstance(pre, dict) and isinstance(pre.get("id"), str):
            if pre["id"] in seen:
                first = seen[pre["id"]]
                problems.append(Problem(f"{base}[{i}].preconditions.id",
                                        f"Duplicate preconditions id [{pre['id']}] (also on triggers[{first}])"))
            seen.setdefault(pre["id"], i)
        if str(trig.get("type", "")).endswith("trigger.Schedule") or \
                str(trig.get("type", "")).endswith("triggers.types.Schedule"):
            given = trig.get("inputs") if isinstance(trig.get("inputs"), dict) else {}
            for inp in inputs:
                if inp.required and inp.defaults is None and inp.id not in given:
                    problems.append(Problem(f"{base}[{i}].inputs",
                                            f"the Schedule cannot start the flow: input `{inp.id}` is required, "
                                            "has no defaults and the trigger gives no value"))
    return problems


# Kestra's task runner and condition types (aliases included); kflow runs every runner as a local
# process or a pod, so the type only has to be one Kestra knows.
RUNNERS = frozenset({
    "io.kestra.plugin.core.runner.Process", "io.kestra.core.models.tasks.runners.types.ProcessTaskRunner",
    "io.kestra.plugin.scripts.runner.docker.Docker", "io.kestra.plugin.scripts.runner.docker.DockerTaskRunner",
    "io.kestra.plugin.ee.kubernetes.runner.Kubernetes", "io.kestra.plugin.ee.kubernetes.runner.KubernetesTaskRunner",
    "io.kestra.plugin.kubernetes.runner.Kubernetes", "io.kestra.plugin.kubernetes.runner.KubernetesTaskRunner",
    "io.kestra.plugin.ee.aws.runner.Batch", "io.kestra.plugin.ee.gcp.runner.Batch",
    "io.kestra.plugin.ee.gcp.runner.CloudRun", "io.kestra.plugin.ee.azure.runner.Batch",
    "io.kestra.plugin.aws.runner.AwsBatchTaskRunner", "io.kestra.plugin.gcp.runner.GcpBatchTaskRunner",
    "io.kestra.plugin.gcp.runner.GcpCloudRunTaskRunner", "io.kestra.plugin.azure.runner.AzureBatchTaskRunner",
})
CONDITIONS = ("DateTimeBetween", "DayWeek", "DayWeekInMonth", "ExecutionFlow", "ExecutionLabels",
              "ExecutionNamespace", "ExecutionOutputs", "ExecutionStatus", "Expression", "FlowNamespace",
              "Flow", "HasRetryAttempt", "MultipleCondition", "Not", "Or", "PublicHoliday", "TimeBetween",
              "Weekend")
CONDITION_TYPES = frozenset(
    t for n in CONDITIONS for t in (f"io.kestra.plugin.core.condition.{n}",
                                    f"io.kestra.plugin.core.condition.{n}Condition",
                                    f"io.kestra.core.models.conditions.types.{n}Condition",
                                    f"io.kestra.core.models.conditions.types.{n}"))


def check_plugin_types(body: dict[str, Any], prefix: str) -> list[Problem]:
    """Unknown `taskRunner` and trigger condition types, with the closest known name."""
    from kflow.model.suggest import closest

    problems: list[Problem] = []

    def check(value: Any, path: str, known: frozenset[str], what: str) -> None:
        kind = value.get("type") if isinstance(value, dict) else None
        if isinstance(kind, str) and "{{" not in kind and kind not in known:
            problems.append(Problem(f"{path}.type", f"Invalid type: {kind} (not a Kestra {what})"
                                    + closest(kind, known, "type")))

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                sub = f"{path}.{k}" if path else str(k)
                if k == "taskRunner":
                    check(v, sub, RUNNERS, "task runner")
                elif k in ("conditions", "scheduleConditions") and isinstance(v, list):
                    for i, c in enumerate(v):
                        check(c, f"{sub}[{i}]", CONDITION_TYPES, "condition")
                        walk(c, f"{sub}[{i}]")  # Not/Or nest conditions
                else:
                    walk(v, sub)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")

    for key in ("tasks", "errors", "finally", "afterExecution", "triggers"):
        walk(body.get(key), f"{prefix}.{key}" if prefix else key)
    return problems
