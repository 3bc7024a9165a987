"""`kflow convert` (Kestra flow -> Flow / CronTrigger manifests) and `kflow backfill` (set or preview a
CronTrigger's spec.backfill through the kubeconfig, like kubectl)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError


def cmd_convert(args: argparse.Namespace) -> int:
    from kflow.cli.convert import convert_text

    if args.file == "-":
        text, source = sys.stdin.read(), "<stdin>"
    else:
        try:
            text, source = Path(args.file).read_text(encoding="utf-8"), args.file
        except OSError as exc:
            raise CliError(f"{args.file}: cannot read file: {exc.strerror}") from None
    sys.stdout.write(convert_text(text, source, split_triggers=args.split_triggers, namespace=args.namespace))
    return EXIT_OK


def _when(text: str, what: str) -> str:
    from kflow.cli.common import parse_when
    from kflow.schedule.naming import iso

    return iso(datetime.now(UTC).replace(microsecond=0) if text == "now" else parse_when(text, what))


def cmd_backfill(args: argparse.Namespace) -> int:
    if args.local:
        if args.trigger:
            raise CliError("give either a CronTrigger name (cluster) or --local FLOW, not both")
        from kflow.cli.backfill_local import cmd_backfill_local

        return cmd_backfill_local(args)
    if not args.trigger:
        raise CliError("name the CronTrigger to backfill, or --local FLOW to run the ticks on this machine")
    if args.trigger_id:
        raise CliError("--trigger picks a Schedule trigger of a --local flow; on the cluster name the CronTrigger")
    import urllib3
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from kflow.cli.common import parse_pairs
    from kflow.history import HistoryError
    from kflow.history.cluster import api_error, connect
    from kflow.k8s.models import GROUP, VERSION
    from kflow.k8s.schedules import check_backfill, run_of
    from kflow.schedule import naming as sn
    from kflow.schedule.cron import Cron, CronError
    from kflow.schedule.plan import backfill_id, backfill_ticks, by_tick, dry_run

    backfill: dict[str, Any] = {"start": _when(args.start, "--start"), "end": _when(args.end, "--end"),
                                "reprocess": args.reprocess, "maxActive": args.max_active, "order": args.order,
                                "paused": args.paused, "inputs": parse_pairs(args.input),
                                "labels": parse_pairs(args.label, "-l")}
    try:
        api_client, namespace = connect(args.namespace, getattr(args, "context", None))
    except HistoryError as exc:
        raise CliError(str(exc), EXIT_FAILED) from None
    api = client.CustomObjectsApi(api_client)
    try:
        trigger = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "crontriggers", args.trigger)
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise CliError(str(api_error(exc, f"crontrigger {namespace}/{args.trigger}")), EXIT_FAILED) from None
    spec = trigger["spec"]
    try:
        cron = Cron(spec["cron"], spec.get("timezone") or "UTC")
        start, end = check_backfill(backfill, datetime.now(UTC))
        ticks = backfill_ticks(cron, start, end, args.order)
    except (CronError, ValueError) as exc:
        print(f"kflow backfill: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.dry_run:
        items = api.list_namespaced_custom_object(GROUP, VERSION, namespace, "executions",
                                                  label_selector=f"{sn.L_TRIGGER}={sn.label_value(args.trigger)}")
        runs = [r for r in map(run_of, items.get("items") or []) if r is not None]
        decisions = dry_run(ticks, by_tick(runs), backfill_id(backfill), args.reprocess)
        print(f"{'TICK':<27} {'DECISION':<8} {'EXECUTION':<50} WHY")
        for d in decisions:
            name = sn.execution_name(args.trigger, d.tick, cron.seconds, d.attempt) if d.action == "run" else ""
            print(f"{cron.local(d.tick).isoformat():<27} {d.action:<8} {name:<50} {d.why}")
        runs_n = sum(d.action == "run" for d in decisions)
        print(f"{len(ticks)} tick(s): {runs_n} would run, {len(ticks) - runs_n} not (reprocess={args.reprocess})")
        return EXIT_OK
    patch = {"spec": {"backfill": {**backfill, "inputs": backfill["inputs"] or None,
                                   "labels": backfill["labels"] or None}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, namespace, "crontriggers", args.trigger, patch)
    print(f"crontrigger.kflow.dev/{args.trigger} backfill set: {len(ticks)} tick(s) from {backfill['start']} "
          f"to {backfill['end']} (reprocess={args.reprocess}, maxActive={args.max_active})")
    return EXIT_OK


def add_commands(sub: Any) -> None:
    conv = sub.add_parser("convert", help="print the Flow manifest of a plain Kestra flow")
    conv.add_argument("file", help="Kestra flow YAML (- for stdin)")
    conv.add_argument("--split-triggers", action="store_true",
                      help="Schedule triggers as separate CronTrigger manifests (and removed from the Flow)")
    conv.add_argument("-n", "--namespace", help="metadata.namespace of the manifests")
    conv.set_defaults(func=cmd_convert)
    bf = sub.add_parser("backfill", help="run a CronTrigger's ticks of a past period (sets spec.backfill)")
    bf.add_argument("trigger", nargs="?", help="CronTrigger name (cluster)")
    bf.add_argument("--local", metavar="FLOW", help="run the ticks of this flow file's Schedule on this machine")
    bf.add_argument("--trigger", dest="trigger_id", metavar="ID", help="(--local) which Schedule trigger")
    bf.add_argument("--plugin-defaults", metavar="FILE", help="(--local) global plugin defaults")
    bf.add_argument("--storage", metavar="DIR", help="(--local) internal storage (default ~/.kflow/storage)")
    bf.add_argument("--start", required=True, help="RFC 3339 time or date (UTC), e.g. 2019-01-01")
    bf.add_argument("--end", required=True, help="RFC 3339 time or date (UTC), or `now`")
    bf.add_argument("--reprocess", choices=["missing", "failed", "all"], default="missing")
    bf.add_argument("--max-active", type=int, default=1,
                    help="backfill executions at once (default 1; --local: also bounded by the flow's concurrency)")
    bf.add_argument("--order", choices=["oldest-first", "newest-first"], default="oldest-first")
    bf.add_argument("--paused", action="store_true", help="set it paused")
    bf.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    bf.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    bf.add_argument("--dry-run", action="store_true", help="list the ticks and which would run; change nothing")
    bf.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    bf.set_defaults(func=cmd_backfill)
