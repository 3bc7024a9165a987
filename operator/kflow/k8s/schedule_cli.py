"""`kflow convert` (Kestra flow -> Flow / CronTrigger manifests) and `kflow backfill` (set or preview a
CronTrigger's spec.backfill through the kubeconfig, like kubectl)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def cmd_convert(args: argparse.Namespace) -> int:
    from kflow.k8s.schedules import convert

    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        docs = convert(yaml.safe_load(text), split_triggers=args.split_triggers)
    except ValueError as exc:
        print(f"kflow convert: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for doc in docs:
        if args.namespace:
            doc["metadata"]["namespace"] = args.namespace
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, allow_unicode=True))
    return EXIT_OK


def _when(text: str) -> str:
    from kflow.schedule.naming import iso, parse_time

    return iso(datetime.now(UTC).replace(microsecond=0) if text == "now" else parse_time(text))


def cmd_backfill(args: argparse.Namespace) -> int:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    from kflow.k8s.models import GROUP, VERSION
    from kflow.k8s.schedules import check_backfill, run_of
    from kflow.schedule import naming as sn
    from kflow.schedule.cron import Cron, CronError
    from kflow.schedule.plan import backfill_id, backfill_ticks, by_tick, dry_run

    config.load_kube_config()
    namespace = args.namespace or config.list_kube_config_contexts()[1]["context"].get("namespace", "default")
    api = client.CustomObjectsApi()
    try:
        trigger = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "crontriggers", args.trigger)
    except ApiException as exc:
        print(f"kflow backfill: crontrigger {namespace}/{args.trigger}: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    backfill: dict[str, Any] = {"start": _when(args.start), "end": _when(args.end), "reprocess": args.reprocess,
                                "maxActive": args.max_active, "order": args.order, "paused": args.paused,
                                "inputs": dict(p.split("=", 1) for p in args.input),
                                "labels": dict(p.split("=", 1) for p in args.label)}
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
    bf.add_argument("trigger", help="CronTrigger name")
    bf.add_argument("--start", required=True, help="RFC 3339 time or date (UTC), e.g. 2019-01-01")
    bf.add_argument("--end", required=True, help="RFC 3339 time or date (UTC), or `now`")
    bf.add_argument("--reprocess", choices=["missing", "failed", "all"], default="missing")
    bf.add_argument("--max-active", type=int, default=1, help="backfill executions at once (default 1)")
    bf.add_argument("--order", choices=["oldest-first", "newest-first"], default="oldest-first")
    bf.add_argument("--paused", action="store_true", help="set it paused")
    bf.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    bf.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    bf.add_argument("--dry-run", action="store_true", help="list the ticks and which would run; change nothing")
    bf.add_argument("-n", "--namespace", help="namespace (default: the kubeconfig context's)")
    bf.set_defaults(func=cmd_backfill)
