"""`kflow executions` (alias `list`), `kflow get`, `kflow logs`, `kflow outputs`, `kflow prune`: reading
past and running executions, like `argo list/get/logs` and `tkn pr list/describe/logs`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from kflow.cli.common import EXIT_OK, CliError, parse_pairs, parse_period, parse_when
from kflow.cli.console import Paint, duration, label
from kflow.cli.sources import add_source_options, get_record, history_source
from kflow.engine.state import State, TaskRun
from kflow.history import ExecutionRecord, HistoryError

TREE_MARKS = {State.SUCCESS: "✔", State.FAILED: "✖", State.KILLED: "✖", State.WARNING: "⚠",
              State.SKIPPED: "○", State.RUNNING: "●", State.RETRYING: "↻", State.PAUSED: "॥"}


def span(seconds: float | None) -> str:
    """A duration for tables: 0.42s, 12.3s, 4m05s, 2h03m."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def ago(dt: datetime | None) -> str:
    return "" if dt is None else span((datetime.now(UTC) - dt).total_seconds())


def print_table(headers: list[str], rows: list[list[str]], out: Any = None) -> None:
    out = out or sys.stdout
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    if text.upper().startswith(("P", "-P")):
        return datetime.now(UTC) - parse_period(text)
    return parse_when(text, "--since")


def dump(doc: Any, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(doc, indent=2, default=str))
    else:
        sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False,
                                        allow_unicode=True))


# ---- executions ------------------------------------------------------------------------------------
def cmd_executions(args: argparse.Namespace) -> int:
    source = history_source(args)
    records = source.list_executions(flow=args.flow, namespace=args.flow_namespace, state=args.state,
                                     labels=parse_pairs(args.label, "-l") or None, since=_since(args.since),
                                     limit=args.limit)
    if args.output in ("json", "yaml"):
        dump([r.to_json() for r in records], args.output)
        return EXIT_OK
    if not records:
        print("No executions found.", file=sys.stderr)
        return EXIT_OK
    paint = Paint(sys.stdout)
    headers = ["ID", "NAMESPACE", "FLOW", "STATE", "STARTED", "DURATION"]
    if args.output == "wide":
        headers += ["TASKS", "ATTEMPT", "LABELS"]
    rows = []
    for rec in records:
        ex = rec.execution
        end = ex.endDate if ex.state.terminal else None
        started = ex.startDate.astimezone().strftime("%Y-%m-%d %H:%M:%S") if ex.startDate else ""
        took = span((end - ex.startDate).total_seconds()) if end and ex.startDate else \
            (f"{ago(ex.startDate)}+" if rec.live else "")
        state = ex.state.value + ("" if rec.live or ex.state.terminal or ex.state == State.PAUSED
                                  or rec.source != "local" else " (orphaned)")
        row = [ex.id, ex.namespace, ex.flowId, state, started, took]
        if args.output == "wide":
            done = sum(tr.state.terminal for tr in ex.taskRuns)
            row += [f"{done}/{len(ex.taskRuns)}", str(rec.attempt),
                    ",".join(f"{k}={v}" for k, v in ex.labels.items())]
        rows.append(row)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("   ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for rec, row in zip(records, rows, strict=True):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=True)]
        cells[3] = paint(cells[3], paint_code(rec.execution.state))
        print("   ".join(cells).rstrip())
    return EXIT_OK


def paint_code(state: State) -> str | None:
    from kflow.cli.console import COLOURS

    return COLOURS.get(state)


# ---- get -------------------------------------------------------------------------------------------
def tree_lines(rec: ExecutionRecord, paint: Paint) -> list[list[str]]:
    """Rows of the task run tree: children under their parent, as `argo get` draws nodes."""
    runs = rec.execution.taskRuns
    children: dict[str | None, list[TaskRun]] = {}
    for tr in runs:
        children.setdefault(tr.parentId, []).append(tr)
    rows: list[list[str]] = []

    def walk(parent: str | None, prefix: str) -> None:
        kids = children.get(parent, [])
        for i, tr in enumerate(kids):
            last = i == len(kids) - 1
            branch = "" if parent is None else ("└─ " if last else "├─ ")
            where = "" if tr.branch == "tasks" else f" ({tr.branch})"
            mark = TREE_MARKS.get(tr.state, "◷")
            name = f"{prefix}{branch}{paint(mark, paint_code(tr.state))} {label(tr)}{where}"
            exit_code = tr.attempts[-1].exitCode if tr.attempts else None
            message = (tr.error or "") + (f" (exit code {exit_code})" if exit_code and tr.error
                                          and "exit code" not in tr.error else "")
            rows.append([name, tr.state.value, str(len(tr.attempts)) if tr.attempts else "",
                         duration(tr), message.splitlines()[0][:120] if message else ""])
            walk(tr.id, prefix + ("" if parent is None else ("   " if last else "│  ")))

    walk(None, "")
    return rows


def cmd_get(args: argparse.Namespace) -> int:
    rec = get_record(history_source(args), args.execution)
    if args.output in ("json", "yaml"):
        dump(rec.to_json(), args.output)
        return EXIT_OK
    ex = rec.execution
    paint = Paint(sys.stdout)
    state = paint(ex.state.value, paint_code(ex.state))
    if rec.source == "local" and not rec.live and not ex.state.terminal and ex.state != State.PAUSED:
        state += " (its kflow process is gone: `kflow restart` or `kflow kill` it)"
    fields = [("Name", ex.id), ("Flow", f"{ex.namespace}.{ex.flowId}"), ("Status", state)]
    if rec.namespace_k8s:
        fields.insert(1, ("Namespace", rec.namespace_k8s))
    if ex.error:
        fields.append(("Message", ex.error))
    if ex.startDate:
        fields.append(("Started", f"{ex.startDate.astimezone():%Y-%m-%d %H:%M:%S %Z} ({ago(ex.startDate)} ago)"))
    if ex.endDate and ex.state.terminal:
        fields.append(("Finished", f"{ex.endDate.astimezone():%Y-%m-%d %H:%M:%S %Z}"))
        if ex.startDate:
            fields.append(("Duration", span((ex.endDate - ex.startDate).total_seconds())))
    if rec.attempt > 1:
        fields.append(("Attempt", f"{rec.attempt} (restarted {rec.attempt - 1}x)"))
    if rec.original_id:
        fields.append(("Replay of", rec.original_id))
    if ex.inputs:
        fields.append(("Inputs", ", ".join(f"{k}={_short(v)}" for k, v in ex.inputs.items())))
    if ex.labels:
        fields.append(("Labels", ", ".join(f"{k}={v}" for k, v in ex.labels.items())))
    if ex.trigger:
        fields.append(("Trigger", ", ".join(f"{k}={v}" for k, v in ex.trigger.items() if v is not None)))
    if ex.outputs:
        fields.append(("Outputs", json.dumps(ex.outputs, default=str)[:300]))
    for name, value in fields:
        print(f"{name + ':':<13}{value}")
    print()
    rows = tree_lines(rec, paint)
    if rows:
        print_table(["STEP", "STATE", "ATTEMPTS", "DURATION", "MESSAGE"], rows)
    return EXIT_OK


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


# ---- logs ------------------------------------------------------------------------------------------
def cmd_logs(args: argparse.Namespace) -> int:
    source = history_source(args)
    rec = get_record(source, args.execution)
    if args.task and not any(args.task in (tr.taskId, tr.id) for tr in rec.execution.taskRuns) \
            and not rec.live and rec.execution.state.terminal:
        tasks = ", ".join(dict.fromkeys(tr.taskId for tr in rec.execution.taskRuns)) or "none"
        raise CliError(f"execution {rec.id} has no task {args.task!r} (its tasks: {tasks})", 1)
    values = {tr.id: tr.value for tr in rec.execution.taskRuns}
    paint = Paint(sys.stdout)
    from kflow.cli.console import LEVEL_COLOURS

    levels = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
    floor = levels.index(args.level) if args.level else 0
    try:
        for entry in source.logs(rec.id, task=args.task, follow=args.follow):
            level_name = "WARN" if entry.level.upper() == "WARNING" else entry.level.upper()
            if level_name in levels and levels.index(level_name) < floor:
                continue
            who = entry.task_id or "execution"
            if entry.task_run_id and values.get(entry.task_run_id) is not None:
                who += f"[{values[entry.task_run_id]}]"
            stamp = "" if args.no_timestamps else paint(entry.date.astimezone().strftime("%H:%M:%S.%f")[:-3], "2") + " "
            level = paint(f"{entry.level:<5}", LEVEL_COLOURS.get(entry.level.upper()))
            first, *more = str(entry.message).splitlines() or [""]
            print(f"{stamp}{who} {level} {first}", flush=True)
            for line in more:  # continuation lines under the first, like a wrapped log record
                print(f"{'':>{len(stamp) if stamp else 0}}    {line}", flush=True)
    except HistoryError as exc:
        raise CliError(str(exc), 1) from None
    return EXIT_OK


# ---- outputs ---------------------------------------------------------------------------------------
def cmd_outputs(args: argparse.Namespace) -> int:
    from kflow.ui.views import output_uris, preview_file

    source = history_source(args)
    rec = get_record(source, args.execution)
    outputs = rec.outputs(args.task)
    if args.task and not outputs and not any(tr.taskId == args.task for tr in rec.execution.taskRuns):
        raise CliError(f"execution {rec.id} has no task {args.task!r}", 1)
    files: dict[str, str] = {}
    for _, uri in output_uris(outputs):
        try:
            files[uri] = str(source.resolve(rec.id, uri))
        except HistoryError as exc:
            files[uri] = f"<{exc}>"
    if args.output in ("json", "yaml"):
        doc = {"outputs": outputs, "files": files}
        if rec.execution.outputs and not args.task:
            doc["flowOutputs"] = rec.execution.outputs
        dump(doc, args.output)
        return EXIT_OK
    if not outputs and not rec.execution.outputs:
        print(f"Execution {rec.id} has no outputs.", file=sys.stderr)
        return EXIT_OK
    text = yaml.safe_dump(json.loads(json.dumps(outputs, default=str)), sort_keys=False, allow_unicode=True,
                          width=120)
    sys.stdout.write(text)
    if rec.execution.outputs and not args.task:
        sys.stdout.write(yaml.safe_dump({"flow outputs": rec.execution.outputs}, sort_keys=False))
    for path, uri in output_uris(outputs):
        local = files[uri]
        print(f"\n{path}: {uri}\n  -> {local}")
        if args.no_preview or local.startswith("<"):
            continue
        preview = preview_file(Path(local), limit=args.rows)
        _print_preview(preview)
    return EXIT_OK


def _print_preview(preview: dict[str, Any]) -> None:
    if preview["kind"] == "table":
        cols = [str(c) for c in preview["columns"]]
        rows = [["" if v is None else str(v)[:40] for v in r] for r in preview["rows"]]
        if len(cols) > 8:
            cols, rows = [*cols[:8], "..."], [[*r[:8], "..."] for r in rows]
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        print("  " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
        print("  " + "-+-".join("-" * w for w in widths))
        for r in rows:
            print("  " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
        if preview.get("truncated"):
            print("  ...")
    elif preview["kind"] == "text":
        for line in preview["text"].splitlines()[:20]:
            print("  " + line[:200])
    else:
        print(f"  ({preview['message']})")


# ---- prune -----------------------------------------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> int:
    from kflow.cli.common import storage_root
    from kflow.history import LocalHistory

    older = parse_period(args.older_than) if args.older_than else None
    if older is None and args.keep is None:
        raise CliError("say what to delete: --older-than P7D and/or --keep N")
    gone = LocalHistory(storage_root(args)).prune(older_than=older, keep=args.keep, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for rec in gone:
        ex = rec.execution
        print(f"{verb} {ex.id}  {ex.namespace}.{ex.flowId}  {ex.state.value}  "
              f"{ex.startDate.astimezone():%Y-%m-%d %H:%M:%S}" if ex.startDate else f"{verb} {ex.id}")
    print(f"{len(gone)} execution(s) {verb}", file=sys.stderr)
    return EXIT_OK


def add_commands(sub: Any) -> None:
    ls = sub.add_parser("executions", aliases=["list"], help="list executions (newest first)")
    ls.add_argument("--flow", help="flow id or namespace.flowId")
    ls.add_argument("--flow-namespace", metavar="NS", help="Kestra namespace (and its sub-namespaces)")
    ls.add_argument("--state", help="state, or states separated by commas (FAILED,KILLED)")
    ls.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    ls.add_argument("--since", metavar="WHEN", help="started after: a date-time or a duration back (P1D, PT2H)")
    ls.add_argument("--limit", type=int, metavar="N")
    ls.add_argument("-o", "--output", choices=["wide", "json", "yaml"])
    add_source_options(ls)
    ls.set_defaults(func=cmd_executions)

    get = sub.add_parser("get", help="show an execution and its task runs as a tree")
    get.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    get.add_argument("-o", "--output", choices=["json", "yaml"])
    add_source_options(get)
    get.set_defaults(func=cmd_get)

    logs = sub.add_parser("logs", help="print an execution's logs")
    logs.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    logs.add_argument("--task", metavar="ID", help="only this task's (or task run's) lines")
    logs.add_argument("-f", "--follow", action="store_true", help="wait for more lines until it ends")
    logs.add_argument("--no-timestamps", action="store_true")
    logs.add_argument("--level", type=str.upper, choices=["TRACE", "DEBUG", "INFO", "WARN", "ERROR"],
                      help="this level and the more severe ones (Kestra's log filter)")
    add_source_options(logs)
    logs.set_defaults(func=cmd_logs)

    outs = sub.add_parser("outputs", help="an execution's task outputs, stored files resolved and previewed")
    outs.add_argument("execution", help="execution id (a unique prefix, or @latest)")
    outs.add_argument("task", nargs="?", help="only this task's outputs")
    outs.add_argument("-o", "--output", choices=["json", "yaml"])
    outs.add_argument("--rows", type=int, default=10, help="preview rows (default %(default)s)")
    outs.add_argument("--no-preview", action="store_true")
    add_source_options(outs)
    outs.set_defaults(func=cmd_outputs)

    prune = sub.add_parser("prune", help="delete old local executions and their stored files")
    prune.add_argument("--older-than", metavar="DURATION", help="ISO-8601 duration, e.g. P7D")
    prune.add_argument("--keep", type=int, metavar="N", help="keep only the N newest")
    prune.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    prune.add_argument("--storage", metavar="DIR", help="local internal storage (default ~/.kflow/storage)")
    prune.set_defaults(func=cmd_prune)
