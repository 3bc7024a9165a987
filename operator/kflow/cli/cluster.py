"""Cluster verbs: `kflow submit` (an Execution of a Flow, its progress streamed like `argo submit --watch`),
`kflow trigger` (one CronTrigger tick now), and restart / resume / kill `--cluster` as the annotations and
fields the operator reconciles (kflow.k8s.actions)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_FAILED, EXIT_OK, CliError, parse_pairs, parse_when
from kflow.cli.console import ConsoleEvents
from kflow.engine.state import State
from kflow.history import HistoryError
from kflow.history.cluster import GROUP, PLURAL, VERSION, ClusterHistory, _call

POLL = 0.5


def _history(args: argparse.Namespace) -> ClusterHistory:
    try:
        return ClusterHistory.connect(namespace=getattr(args, "namespace", None),
                                      context=getattr(args, "context", None))
    except HistoryError as exc:
        raise CliError(str(exc), 1) from None


def _safe(fn: Any, *a: Any, **kw: Any) -> Any:
    try:
        return fn(*a, **kw)
    except HistoryError as exc:
        raise CliError(str(exc), 1) from None


# ---- watching ----------------------------------------------------------------------------------------
def watch(hist: ClusterHistory, name: str, console: ConsoleEvents, quiet_logs: bool = False,
          timeout: float | None = None) -> State:
    """Print task state changes and log lines as they happen until the execution ends; its final state."""
    seen: dict[str, tuple[str, int]] = {}
    offset = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    state = State.CREATED
    while True:
        rec = _safe(hist.get, name)
        ex = rec.execution
        for tr in ex.taskRuns:
            key = (tr.state.value, len(tr.attempts))
            before = seen.get(tr.id)
            if before == key:
                continue
            seen[tr.id] = key
            if before is None or (tr.state == State.RUNNING and before[1] != key[1]):
                console.task_started(ex, tr)
            if tr.state.terminal:
                console.task_ended(ex, tr)
        if not quiet_logs:
            offset = _print_logs(hist, name, offset, console)
        state = ex.state
        if state.terminal or state == State.PAUSED:
            if not quiet_logs:  # lines flushed with the final status
                _print_logs(hist, name, offset, console)
            console.final(ex)
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise CliError(f"execution {name} still {state.value} after {timeout:g}s", 1)
        time.sleep(POLL)


def _print_logs(hist: ClusterHistory, name: str, offset: int, console: ConsoleEvents) -> int:
    start = offset
    for entry in _safe(lambda: list(hist.logs(name, offset=start))):
        offset = entry.offset
        console.log(entry.task_id or "execution", entry.task_run_id or "", entry.level, entry.message)
    return offset


def _exit(state: State) -> int:
    # PAUSED is no failure: it waits for `kflow resume` (the final line says so), as `kflow run` does
    return EXIT_OK if state in (State.SUCCESS, State.WARNING, State.PAUSED) else EXIT_FAILED


# ---- submit ------------------------------------------------------------------------------------------
def _flow_manifest(path: str) -> dict[str, Any]:
    from kflow.cli.common import load_flow
    from kflow.k8s.schedules import convert
    from kflow.model.yamlio import load_yaml

    load_flow(path)  # validated here first: a bad flow never reaches the cluster
    doc = load_yaml(Path(path).read_text(encoding="utf-8"), path)
    if isinstance(doc, dict) and doc.get("kind") == "Flow":
        return doc
    return convert(doc)[0]


def _apply_flow(hist: ClusterHistory, manifest: dict[str, Any], force: bool, out: Any) -> str:
    from kubernetes.client.rest import ApiException

    name = manifest["metadata"]["name"]
    body = {**manifest, "metadata": {**manifest["metadata"], "namespace": hist.namespace}}
    try:
        current = hist.custom.get_namespaced_custom_object(GROUP, VERSION, hist.namespace, "flows", name)
    except ApiException as exc:
        if exc.status != 404:
            raise CliError(str(_err(exc, f"flow {hist.namespace}/{name}")), 1) from None
        _call(hist.custom.create_namespaced_custom_object, f"create flow {name}", GROUP, VERSION,
              hist.namespace, "flows", body)
        print(f"flow.kflow.dev/{name} created", file=out)
        return name
    except Exception as exc:
        raise CliError(str(_err(exc, f"flow {hist.namespace}/{name}")), 1) from None
    if current.get("spec") == manifest.get("spec"):
        return name
    if not force:
        raise CliError(f"flow {hist.namespace}/{name} on the cluster differs from the file: --apply to "
                       "update it, or submit the Flow by name", 1)
    patch = {"spec": manifest["spec"]}
    _call(hist.custom.patch_namespaced_custom_object, f"update flow {name}", GROUP, VERSION, hist.namespace,
          "flows", name, patch)
    print(f"flow.kflow.dev/{name} configured", file=out)
    return name


def _err(exc: Exception, what: str) -> HistoryError:
    from kflow.history.cluster import api_error

    return api_error(exc, what)


def cmd_submit(args: argparse.Namespace) -> int:
    inputs, labels = parse_pairs(args.input), parse_pairs(args.label, "-l")
    hist = _history(args)
    out = sys.stderr if args.output else sys.stdout
    if Path(args.flow).suffix in (".yaml", ".yml") or Path(args.flow).exists():
        if not Path(args.flow).exists():
            raise CliError(f"{args.flow}: no such file")
        manifest = _flow_manifest(args.flow)
        from kflow.cli.common import check_inputs
        from kflow.cli.common import load_flow as _lf

        check_inputs(_lf(args.flow).flow.inputs, inputs, f"{args.flow}: inputs")
        flow_name = _apply_flow(hist, manifest, args.apply, out)
    else:
        flow_name = args.flow
        _safe(_call, hist.custom.get_namespaced_custom_object, f"flow {hist.namespace}/{flow_name}", GROUP,
              VERSION, hist.namespace, "flows", flow_name)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Execution",
            "metadata": {"generateName": f"{flow_name[:40]}-", "namespace": hist.namespace,
                         "labels": {"kflow.dev/submitted-by": "kflow-cli"}},
            "spec": {"flowRef": {"name": flow_name}, "inputs": inputs, "labels": labels}}
    created = _safe(_call, hist.custom.create_namespaced_custom_object, f"create an execution of {flow_name}",
                    GROUP, VERSION, hist.namespace, PLURAL, body)
    name = created["metadata"]["name"]
    console = ConsoleEvents(out, quiet=args.quiet)
    print(f"execution.kflow.dev/{name} created in {hist.namespace}", file=out, flush=True)
    if not (args.watch or args.wait):
        if args.output:
            print(json.dumps(created, indent=2) if args.output == "json" else name)
        return EXIT_OK
    if args.watch:
        state = watch(hist, name, console, timeout=args.timeout)
    else:
        state = _wait(hist, name, args.timeout)
        console.final(_safe(hist.get, name).execution)
    if args.output == "json":
        print(json.dumps(_safe(hist.get, name).to_json(), indent=2, default=str))
    elif args.output == "name":
        print(name)
    return _exit(state)


def _wait(hist: ClusterHistory, name: str, timeout: float | None) -> State:
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        state = _safe(hist.get, name).execution.state
        if state.terminal or state == State.PAUSED:
            return state
        if deadline is not None and time.monotonic() > deadline:
            raise CliError(f"execution {name} still {state.value} after {timeout:g}s", 1)
        time.sleep(POLL)


# ---- trigger -----------------------------------------------------------------------------------------
def cmd_trigger(args: argparse.Namespace) -> int:
    from kflow.k8s.schedules import execution_for_tick
    from kflow.schedule.cron import Cron, CronError

    hist = _history(args)
    trigger = _safe(_call, hist.custom.get_namespaced_custom_object, f"crontrigger {hist.namespace}/{args.trigger}",
                    GROUP, VERSION, hist.namespace, "crontriggers", args.trigger)
    spec = trigger.get("spec") or {}
    try:
        cron = Cron(spec["cron"], spec.get("timezone") or "UTC")
    except (CronError, KeyError) as exc:
        raise CliError(f"crontrigger {args.trigger}: {exc}", 1) from None
    now = datetime.now(UTC)
    when = parse_when(args.date, "--date") if args.date else now
    if when > now:
        raise CliError(f"--date {when.isoformat()} is in the future")
    tick = cron.previous_before(when) if cron.next_after(cron.previous_before(when)) != when else when
    body = execution_for_tick(trigger, cron, tick)
    body["metadata"]["labels"]["kflow.dev/manual"] = "true"
    from kubernetes.client.rest import ApiException

    try:
        hist.custom.create_namespaced_custom_object(GROUP, VERSION, hist.namespace, PLURAL, body)
    except ApiException as exc:
        if exc.status == 409:
            raise CliError(f"the tick {cron.local(tick).isoformat()} already has execution "
                           f"{body['metadata']['name']} (`kflow restart` it to run it again)", 1) from None
        raise CliError(str(_err(exc, f"create an execution of {args.trigger}")), 1) from None
    except Exception as exc:
        raise CliError(str(_err(exc, f"create an execution of {args.trigger}")), 1) from None
    name = body["metadata"]["name"]
    print(f"execution.kflow.dev/{name} created for tick {cron.local(tick).isoformat()}")
    if args.watch:
        return _exit(watch(hist, name, ConsoleEvents(sys.stdout)))
    return EXIT_OK


# ---- recovery on the cluster -------------------------------------------------------------------------
def cluster_action(args: argparse.Namespace, verb: str) -> int:
    from kflow.k8s.actions import PREFIX, RESUME_INPUTS

    hist = _history(args)
    obj = _safe(hist.execution_object, args.execution)
    meta, status = obj["metadata"], obj.get("status") or {}
    state = State(status.get("state") or "CREATED")
    name = meta["name"]
    if verb == "replay":
        raise CliError("replay on the cluster is not supported yet: the reused outputs' files live in the "
                       "original execution's volume (restart it, or submit the flow again)", 1)
    if verb == "kill":
        if state.terminal:
            raise CliError(f"execution {name} already ended {state.value}", 1)
        patch: dict[str, Any] = {"spec": {"kill": True}}
    else:
        if verb == "restart" and not (state.terminal or state == State.PAUSED):
            raise CliError(f"execution {name} is {state.value}: it must be terminated to be restarted", 1)
        if verb == "resume" and state != State.PAUSED:
            raise CliError(f"execution {name} is {state.value}, not PAUSED: nothing to resume", 1)
        current = (meta.get("annotations") or {}).get(PREFIX + verb) or "0"
        token = str(int(current) + 1 if current.isdigit() else 1)
        annotations = {PREFIX + verb: token}
        if verb == "resume":
            annotations[RESUME_INPUTS] = json.dumps(parse_pairs(args.input))
        patch = {"metadata": {"annotations": annotations}}
    _safe(_call, hist.custom.patch_namespaced_custom_object, f"execution {hist.namespace}/{name}", GROUP,
          VERSION, hist.namespace, PLURAL, name, patch)
    print(f"execution.kflow.dev/{name} {verb} requested"
          + (f" ({PREFIX}{verb}={patch['metadata']['annotations'][PREFIX + verb]})" if verb != "kill" else ""))
    if not getattr(args, "wait", False):
        return EXIT_OK
    if verb != "kill":
        _await_request(hist, name, f"{verb} {token}")
    final = watch(hist, name, ConsoleEvents(sys.stdout), quiet_logs=True)
    return EXIT_OK if verb == "kill" else _exit(final)


def _await_request(hist: ClusterHistory, name: str, reason: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for h in (hist.execution_object(name).get("status") or {}).get("histories") or []:
            got = h.get("reason") or ""
            if got == reason:
                return
            if got.startswith(reason + " refused"):
                raise CliError(f"execution {name}: {got}", 1)
        time.sleep(POLL)
    raise CliError(f"execution {name}: the operator did not act on `{reason}` within {timeout:g}s", 1)


def add_commands(sub: Any) -> None:
    from kflow.cli.sources import add_source_options

    sm = sub.add_parser("submit", help="run a Flow on the cluster (a Flow name, or a flow file)")
    sm.add_argument("flow", help="Flow name in the namespace, or a flow file (created there if missing)")
    sm.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    sm.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    sm.add_argument("--apply", action="store_true", help="update the cluster's Flow from the file first")
    sm.add_argument("-w", "--watch", action="store_true", help="stream task states and logs until it ends")
    sm.add_argument("--wait", action="store_true", help="wait until it ends; exit 0 on SUCCESS/WARNING")
    sm.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this long")
    sm.add_argument("-o", "--output", choices=["name", "json"])
    sm.add_argument("-q", "--quiet", action="store_true")
    add_source_options(sm)
    sm.set_defaults(func=cmd_submit)

    tg = sub.add_parser("trigger", help="run one tick of a CronTrigger now")
    tg.add_argument("trigger", help="CronTrigger name")
    tg.add_argument("--date", metavar="WHEN", help="the tick at (or last before) this date; default now")
    tg.add_argument("-w", "--watch", action="store_true")
    add_source_options(tg)
    tg.set_defaults(func=cmd_trigger)
