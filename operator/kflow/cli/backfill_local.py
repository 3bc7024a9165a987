"""`kflow backfill --local FLOW --start --end [--trigger ID]`: a Schedule trigger's past ticks run on this
machine, oldest first, as many at once as the flow's concurrency allows, each recorded in the history."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import Any

from kflow.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    check_inputs,
    load_flow,
    parse_pairs,
    parse_when,
    read_plugin_defaults,
    storage_root,
)
from kflow.cli.console import ConsoleEvents
from kflow.engine.state import State
from kflow.errors import InputsInvalid


def plan(args: argparse.Namespace, flow: Any, inputs: dict[str, Any]) -> tuple[Any, list[datetime]]:
    from kflow.schedule.local import TriggerChoiceError, cron_of, pick_schedule

    try:
        trigger = pick_schedule(flow, args.trigger_id, inputs)
    except TriggerChoiceError as exc:
        raise CliError(str(exc)) from None
    if trigger is None:
        raise CliError(f"{args.local}: the flow has no Schedule trigger to backfill")
    start, end = parse_when(args.start, "--start"), parse_when(args.end, "--end")
    if end < start:
        raise CliError(f"--end {args.end} is before --start {args.start}")
    ticks = list(cron_of(trigger).ticks(start, end, inclusive_start=True))
    if args.order == "newest-first":
        ticks.reverse()
    return trigger, ticks


def cmd_backfill_local(args: argparse.Namespace) -> int:
    from kflow.runner.local import LocalRunner
    from kflow.runner.recording import execute_recorded
    from kflow.schedule.local import trigger_variables

    defaults = read_plugin_defaults(args.plugin_defaults)
    flow = load_flow(args.local, defaults=defaults).flow
    given = parse_pairs(args.input)
    check_inputs(flow.inputs, given, f"{args.local}: inputs")
    labels = parse_pairs(args.label, "-l")
    trigger, ticks = plan(args, flow, given)
    inputs = {**(trigger.inputs or {}), **given}
    limit = flow.concurrency.limit if flow.concurrency is not None else args.max_active
    workers = max(1, min(limit, args.max_active))
    print(f"{len(ticks)} tick(s) of {flow.namespace}.{flow.id} trigger {trigger.id} from {args.start} to "
          f"{args.end}, {workers} at a time", flush=True)
    if args.dry_run:
        for tick in ticks:
            print(f"  {trigger_variables(flow, trigger, tick)['date']}")
        return EXIT_OK
    root = storage_root(args)
    source = Path(args.local).read_text(encoding="utf-8")
    runners: list[Any] = []
    stop = threading.Event()
    results: list[tuple[str, str, State]] = []

    def one(tick: datetime) -> None:
        if stop.is_set():
            return
        variables = trigger_variables(flow, trigger, tick)
        runner = LocalRunner(flow, storage_root=root, events=ConsoleEvents(sys.stdout, quiet=True),
                             flow_dir=Path(args.local).resolve().parent)
        runners.append(runner)
        try:
            ex = runner.create(inputs, labels=labels, trigger=variables)
        except InputsInvalid as exc:
            raise CliError(f"{args.local}: inputs.{exc.input_id}: {exc}") from None
        print(f"{variables['date']}  {ex.id}  started", flush=True)
        ex = execute_recorded(runner, ex, flow_path=str(Path(args.local).absolute()), flow_source=source,
                              raw_inputs=inputs, extra={"pluginDefaults": defaults} if defaults else None)
        results.append((variables["date"], ex.id, ex.state))
        print(f"{variables['date']}  {ex.id}  {ex.state.value}", flush=True)

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()
        print(f"{signal.Signals(signum).name}: killing the running ticks, starting no more", file=sys.stderr)
        for runner in list(runners):
            threading.Thread(target=runner.request_kill, args=(f"killed by {signal.Signals(signum).name}",),
                             daemon=True).start()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[None]] = set()
            for tick in ticks:  # submitted in order, at most `workers` running: the order holds
                while len(pending) >= workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        f.result()
                if stop.is_set():
                    break
                pending.add(pool.submit(one, tick))
            for f in pending:
                f.result()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    bad = [r for r in results if r[2] not in (State.SUCCESS, State.WARNING)]
    print(f"{len(results)} execution(s): {len(results) - len(bad)} succeeded, {len(bad)} not")
    return EXIT_OK if not bad and not stop.is_set() else EXIT_FAILED
