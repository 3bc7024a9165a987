"""`kflow restart`, `kflow replay`, `kflow resume`, `kflow kill`: Kestra's recovery actions on a recorded
local execution (engine part in kflow.engine.recovery), or on an Execution of the cluster (`--cluster`:
fields the operator reconciles, see kflow.k8s.actions)."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_FAILED, EXIT_OK, CliError, check_inputs, load_flow, load_flow_source, parse_pairs
from kflow.cli.console import ConsoleEvents
from kflow.cli.run import drive, report
from kflow.cli.sources import add_source_options, get_record, history_source, on_cluster
from kflow.engine import recovery
from kflow.engine.state import State
from kflow.errors import InputsInvalid
from kflow.history import ExecutionRecord, LocalHistory


def _flow(rec: ExecutionRecord, args: argparse.Namespace) -> Any:
    """The flow to go on with: the source the history kept (what ran), or `--flow FILE`."""
    defaults = rec.meta.get("pluginDefaults")
    if getattr(args, "flow", None):
        return load_flow(args.flow, defaults=defaults).flow
    if not rec.flow_source:
        raise CliError(f"execution {rec.id}: the history has no flow source; give it with --flow FILE", 1)
    return load_flow_source(rec.flow_source, rec.flow_path or f"{rec.id}/flow.yaml", defaults).flow


def _runner(rec: ExecutionRecord, flow: Any, console: ConsoleEvents) -> Any:
    from kflow.runner.local import LocalRunner

    flow_dir = Path(rec.flow_path).parent if rec.flow_path else None
    return LocalRunner(flow, storage_root=rec.storage_root, events=console, flow_dir=flow_dir)


def _not_live(rec: ExecutionRecord, verb: str) -> None:
    if rec.live:
        raise CliError(f"execution {rec.id} is being run by process {rec.pid}: `kflow kill {rec.id}` it "
                       f"before you {verb} it", 1)


def _go_on(rec: ExecutionRecord, runner: Any, console: ConsoleEvents, args: argparse.Namespace,
           **record: Any) -> int:
    ex, killed = drive(runner, rec.execution, console, restart=True, **record)
    return killed or report(ex, args, console, runner.storage_root)


def cmd_restart(args: argparse.Namespace) -> int:
    if on_cluster(args):
        from kflow.cli.cluster import cluster_action

        return cluster_action(args, "restart")
    rec = get_record(history_source(args), args.execution)
    _not_live(rec, "restart")
    console = ConsoleEvents(sys.stdout, quiet=args.quiet)
    runner = _runner(rec, _flow(rec, args), console)
    ex = rec.execution
    try:
        again = recovery.restart(ex, datetime.now(UTC), crashed=not ex.state.terminal and ex.state != State.PAUSED)
    except recovery.RecoveryError as exc:
        raise CliError(str(exc), 1) from None
    console.header(f"Execution {ex.id} of {ex.namespace}.{ex.flowId} restarted (attempt {rec.attempt + 1}): "
                   f"re-running {', '.join(again) or 'what did not run'}")
    return _go_on(rec, runner, console, args, extra={"attempt": rec.attempt + 1})


def cmd_replay(args: argparse.Namespace) -> int:
    from kflow.runner.local import new_execution_id
    from kflow.runner.storage import ExecutionStorage

    if on_cluster(args):
        from kflow.cli.cluster import cluster_action

        return cluster_action(args, "replay")
    rec = get_record(history_source(args), args.execution)
    flow = _flow(rec, args)
    console = ConsoleEvents(sys.stdout, quiet=args.quiet)
    runner = _runner(rec, flow, console)
    old = rec.execution
    try:
        new, copied = recovery.replay(old, args.from_task, new_execution_id(), datetime.now(UTC))
    except recovery.RecoveryError as exc:
        raise CliError(str(exc), 1) from None
    # the copied task runs' files come along, so their outputs name files of the new execution
    src, dst = LocalHistory.execution_storage(rec), runner.storage_for(new.id).root
    old_prefix = "kestra://" + ExecutionStorage(src, old.namespace, old.flowId, old.id).prefix
    new_prefix = "kestra://" + ExecutionStorage(dst, new.namespace, new.flowId, new.id).prefix
    for tr in new.taskRuns:
        if tr.id in copied:
            folder = src / "tasks" / tr.taskId / tr.id
            if folder.is_dir():
                shutil.copytree(folder, dst / "tasks" / tr.taskId / tr.id, dirs_exist_ok=True)
            tr.outputs = recovery.rewrite_uris(tr.outputs, old_prefix, new_prefix)
    new.labels = {**new.labels, "system.correlationId": old.labels.get("system.correlationId", old.id)} \
        if "system.correlationId" in old.labels else new.labels
    where = f"from {args.from_task}" if args.from_task else "from the start"
    console.header(f"Execution {new.id} of {new.namespace}.{new.flowId}: replay of {old.id} {where} "
                   f"({len(copied)} task run(s) reused)")
    ex, killed = drive(runner, new, console, flow_path=rec.flow_path, flow_source=rec.flow_source,
                       raw_inputs=rec.raw_inputs, original_id=old.id,
                       extra={"pluginDefaults": rec.meta["pluginDefaults"]} if rec.meta.get("pluginDefaults")
                       else None)
    return killed or report(ex, args, console, runner.storage_root)


def cmd_resume(args: argparse.Namespace) -> int:
    given = parse_pairs(args.input)  # a malformed -i is refused before anything is looked up
    if on_cluster(args):
        from kflow.cli.cluster import cluster_action

        return cluster_action(args, "resume")
    rec = get_record(history_source(args), args.execution)
    _not_live(rec, "resume")
    flow = _flow(rec, args)
    console = ConsoleEvents(sys.stdout, quiet=args.quiet)
    runner = _runner(rec, flow, console)
    ex = rec.execution
    from kflow.model.inputs import Input

    declared = [Input.model_validate(d) for tr in ex.taskRuns if tr.state == State.PAUSED
                for d in getattr(next((t for t in flow.all_tasks() if t.id == tr.taskId), None), "onResume", None)
                or []]
    check_inputs(declared, given, "onResume")
    try:
        resumed = recovery.resume(ex, flow, given, datetime.now(UTC),
                                  render=lambda v, ctx: runner.renderer.render_value(v, ctx))
    except recovery.RecoveryError as exc:
        raise CliError(str(exc), 1) from None
    except InputsInvalid as exc:
        raise CliError(f"onResume.{exc.input_id}: {exc}") from None
    console.header(f"Execution {ex.id} of {ex.namespace}.{ex.flowId} resumed at {', '.join(resumed)}")
    return _go_on(rec, runner, console, args)


def cmd_kill(args: argparse.Namespace) -> int:
    if on_cluster(args):
        from kflow.cli.cluster import cluster_action

        return cluster_action(args, "kill")
    source = history_source(args)
    rec = get_record(source, args.execution)
    ex = rec.execution
    if ex.state.terminal:
        raise CliError(f"execution {rec.id} already ended {ex.state.value}", 1)
    if rec.live and rec.pid:
        # its own process kills it (its signal handler: task process groups, afterExecution, record)
        try:
            os.kill(rec.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            rec = source.get(rec.id)
            if not rec.live:
                break
            time.sleep(0.2)
        else:
            raise CliError(f"execution {rec.id}: process {rec.pid} did not stop within {args.timeout:g}s", 1)
        print(f"Execution {rec.id} {rec.execution.state.value}")
        return EXIT_OK if rec.execution.state == State.KILLED else EXIT_FAILED
    # nobody drives it (PAUSED, or its process died): end it here, running afterExecution if any
    console = ConsoleEvents(sys.stdout, quiet=True)
    runner = _runner(rec, _flow(rec, args), console)
    runner.engine.kill(ex, datetime.now(UTC))
    ex, _ = drive(runner, ex, console, restart=True)
    print(f"Execution {ex.id} {ex.state.value}")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    rs = sub.add_parser("restart", help="re-run the failed task runs of an execution (and what follows them)")
    rs.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    rs.add_argument("--flow", metavar="FILE", help="use this flow file instead of the recorded source")
    rs.add_argument("-q", "--quiet", action="store_true")
    add_source_options(rs)
    rs.add_argument("--wait", action="store_true", help="(--cluster) wait until it ends")
    rs.set_defaults(func=cmd_restart)

    rp = sub.add_parser("replay", help="a new execution reusing the task runs before --from TASK")
    rp.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    rp.add_argument("--from", dest="from_task", metavar="TASK", help="task id or task run id to replay from")
    rp.add_argument("--flow", metavar="FILE", help="use this flow file instead of the recorded source")
    rp.add_argument("-q", "--quiet", action="store_true")
    add_source_options(rp)
    rp.add_argument("--wait", action="store_true", help="(--cluster) wait until it ends")
    rp.set_defaults(func=cmd_replay)

    rm = sub.add_parser("resume", help="resume a PAUSED execution (with its Pause's onResume inputs)")
    rm.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    rm.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    rm.add_argument("--flow", metavar="FILE", help="use this flow file instead of the recorded source")
    rm.add_argument("-q", "--quiet", action="store_true")
    add_source_options(rm)
    rm.add_argument("--wait", action="store_true", help="(--cluster) wait until it ends")
    rm.set_defaults(func=cmd_resume)

    kl = sub.add_parser("kill", help="kill a running or paused execution")
    kl.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    kl.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for it to stop")
    kl.add_argument("--flow", metavar="FILE", help="use this flow file instead of the recorded source")
    add_source_options(kl)
    kl.add_argument("--wait", action="store_true", help="(--cluster) wait until it ends")
    kl.set_defaults(func=cmd_kill)
