"""`kflow run`: run a flow on this machine."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kflow.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    check_inputs,
    load_flow,
    parse_pairs,
    parse_period,
    parse_when,
    read_plugin_defaults,
    storage_root,
)
from kflow.cli.console import ConsoleEvents, execution_json
from kflow.cli.signals import KillOnSignal
from kflow.engine.state import Execution, State
from kflow.errors import InputsInvalid


def _preview(uri: str, storage_root: Path, ex: Execution, out: Any) -> None:
    """Show the first rows of a STORE result so a run ends with its data, like Kestra's preview."""
    from kflow.runner.storage import ExecutionStorage
    from kflow.tasks.ion import read_rows

    root = storage_root / ex.namespace.replace(".", "/") / ex.flowId / "executions" / ex.id
    try:
        rows = list(_take(read_rows(ExecutionStorage(root, ex.namespace, ex.flowId, ex.id).resolve(uri)), 21))
    except Exception:
        return
    if not rows or not all(isinstance(r, dict) for r in rows):
        return
    columns = list(dict.fromkeys(k for r in rows[:20] for k in r))
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows[:20]]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("    " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=out)
    print("    " + "-+-".join("-" * w for w in widths), file=out)
    for row in cells:
        print("    " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
    if len(rows) > 20:
        print("    ...", file=out)


def _take(it: Any, n: int) -> Any:
    for i, item in enumerate(it):
        if i >= n:
            return
        yield item


def _trigger(args: argparse.Namespace, flow: Any, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """`trigger.*` of a run given --trigger-date (a naive date is wall time in the trigger's zone)."""
    from kflow.schedule.cron import zone
    from kflow.schedule.local import TriggerChoiceError, pick_schedule, trigger_variables

    if args.trigger_date is None:
        if args.trigger is not None:
            raise CliError("--trigger needs --trigger-date (the tick the run stands for)")
        return None
    date = parse_when(args.trigger_date, "--trigger-date")
    try:
        trigger = pick_schedule(flow, args.trigger, inputs, date)
    except TriggerChoiceError as exc:
        raise CliError(str(exc)) from None
    if trigger is not None and "+" not in args.trigger_date[10:] and not args.trigger_date.endswith("Z") \
            and "-" not in args.trigger_date[10:]:
        date = date.replace(tzinfo=zone(trigger.timezone or "UTC"))
    return trigger_variables(flow, trigger, date)


def apply_retention(root: Path) -> None:
    """The default retention of the local history, on each run (KFLOW_HISTORY_RETENTION=P30D,
    KFLOW_HISTORY_MAX=1000; `0` turns one off)."""
    from kflow.history import DEFAULT_MAX_EXECUTIONS, DEFAULT_RETENTION, LocalHistory

    age, keep = os.environ.get("KFLOW_HISTORY_RETENTION"), os.environ.get("KFLOW_HISTORY_MAX")
    try:
        older = DEFAULT_RETENTION if age is None else (None if age == "0" else parse_period(age))
        most = DEFAULT_MAX_EXECUTIONS if keep is None else (int(keep) or None)
    except (CliError, ValueError):
        raise CliError("KFLOW_HISTORY_RETENTION must be an ISO-8601 duration (P30D) and KFLOW_HISTORY_MAX "
                       "a number") from None
    LocalHistory(root).prune(older_than=older, keep=None if most is None else max(most - 1, 0))  # + this run


def cmd_run(args: argparse.Namespace) -> int:
    from kflow.runner.local import LocalRunner

    out = sys.stderr if args.json else sys.stdout
    defaults = read_plugin_defaults(args.plugin_defaults)
    loaded = load_flow(args.flow, defaults=defaults)
    flow = loaded.flow
    raw_inputs = parse_pairs(args.input)
    labels = parse_pairs(args.label, "-l")
    check_inputs(flow.inputs, raw_inputs, f"{args.flow}: inputs")
    trigger = _trigger(args, flow, raw_inputs)
    root = storage_root(args)
    console = ConsoleEvents(out, quiet=args.quiet)
    if getattr(args, "namespace_files", None):  # kflow.tasks.nsfiles reads it from the task's environment
        os.environ["KFLOW_NAMESPACE_FILES"] = str(Path(args.namespace_files).resolve())
    if getattr(args, "flows", None):  # where Subflow/ForEachItem children are found (runner/subflows.py)
        os.environ["KFLOW_FLOWS"] = os.pathsep.join(
            [*(str(Path(d).resolve()) for d in args.flows), *filter(None, [os.environ.get("KFLOW_FLOWS")])])
    runner = LocalRunner(flow, storage_root=root, events=console, flow_dir=Path(args.flow).resolve().parent)
    try:
        ex = runner.create(raw_inputs, labels=labels, trigger=trigger)
    except InputsInvalid as exc:
        raise CliError(f"{args.flow}: inputs.{exc.input_id}: {exc}") from None
    apply_retention(root)
    console.header(f"Execution {ex.id} of {flow.namespace}.{flow.id}")
    ex, killed = drive(runner, ex, console, flow_path=str(Path(args.flow).absolute()),
                       flow_source=Path(args.flow).read_text(encoding="utf-8"), raw_inputs=raw_inputs,
                       extra={"pluginDefaults": defaults} if defaults else None)
    code = report(ex, args, console, root)
    return killed or code


def drive(runner: Any, ex: Execution, console: ConsoleEvents, **record: Any) -> tuple[Execution, int | None]:
    """Run `ex` recorded in the history, SIGINT/SIGTERM killing it (`signals.KillOnSignal`); with the exit
    code of the signal that killed it, if one did."""
    from kflow.runner.recording import execute_recorded

    with KillOnSignal(runner, console) as killer:
        ex = execute_recorded(runner, ex, on_recorder=killer.attach, **record)
        # retry behavior CREATE_NEW_EXECUTION: the execution ended RETRIED, a new one runs after the delay
        while ex.state == State.RETRIED and ex.retryAt is not None and killer.exit_code is None:
            from kflow.runner.local import new_execution_id

            delay = (ex.retryAt - runner.clock()).total_seconds()
            console.header(f"Execution {ex.id} RETRIED: a new execution starts in {max(delay, 0):.1f}s")
            if delay > 0:
                import time

                time.sleep(delay)
            ex = execute_recorded(runner, runner.engine.next_execution(ex, new_execution_id(), runner.clock()),
                                  on_recorder=killer.attach, **record)
    return ex, killer.exit_code


def report(ex: Execution, args: argparse.Namespace, console: ConsoleEvents, root: Path) -> int:
    out = console.out
    if getattr(args, "json", False):
        print(json.dumps(execution_json(ex), indent=2, default=str))
    else:
        console.final(ex)
        if ex.labels and not console.quiet:
            print("Labels: " + ", ".join(f"{k}={v}" for k, v in ex.labels.items()), file=out)
        data = execution_json(ex)
        if data["outputs"] and not console.quiet:
            print("Outputs:", file=out)
            for task_id, value in data["outputs"].items():
                print(f"  {task_id}: {json.dumps(value, default=str)[:2000]}", file=out)
                uri = value.get("uri") if isinstance(value, dict) else None
                if isinstance(uri, str) and uri.endswith(".ion"):
                    _preview(uri, root, ex, out)
        if ex.outputs and not console.quiet:
            print("Flow outputs: " + json.dumps(ex.outputs, default=str), file=out)
    # PAUSED is no failure: the run waits for `kflow resume` (Kestra's manual resume)
    return EXIT_OK if ex.state in (State.SUCCESS, State.WARNING, State.PAUSED) else EXIT_FAILED


def add_commands(sub: Any) -> None:
    run = sub.add_parser("run", help="run a flow on this machine")
    run.add_argument("flow", help="a Kestra flow YAML or a Flow manifest")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    run.add_argument("--plugin-defaults", metavar="FILE",
                     help="YAML list of global plugin defaults ({type, values, forced})")
    run.add_argument("--storage", metavar="DIR", help="internal storage folder (default ~/.kflow/storage)")
    run.add_argument("--trigger-date", metavar="DATE",
                     help="run as the Schedule tick at DATE (sets trigger.date/next/previous), e.g. 2019-01-01T09:00")
    run.add_argument("--trigger", metavar="ID", help="the Schedule trigger DATE belongs to (when the flow has several)")
    run.add_argument("-q", "--quiet", action="store_true", help="print only the final state line")
    run.add_argument("--namespace-files", metavar="DIR", help="the flow namespace's files (namespaceFiles); "
                     "default <KFLOW_HOME>/namespaces/<namespace>/files")
    run.add_argument("--flows", metavar="DIR", action="append", default=[],
                     help="folder of flow files Subflow/ForEachItem children are looked up in (repeatable; "
                     "the flow file's folder is searched first, then these, then $KFLOW_FLOWS)")
    run.set_defaults(func=cmd_run)
