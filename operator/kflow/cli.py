"""`kflow` command line: run and validate flows (the embedded default), and run the operator."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kflow.engine.state import Execution, State, TaskRun
from kflow.errors import FlowInvalid, InputsInvalid

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _parse_inputs(pairs: list[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"kflow: -i expects name=value, got {pair!r}")
        inputs[name] = value
    return inputs


def _duration(tr: TaskRun) -> str:
    if tr.startDate and tr.endDate:
        return f"{(tr.endDate - tr.startDate).total_seconds():.2f}s"
    return ""


class ConsoleEvents:
    def __init__(self, out: Any):
        self.out = out

    def task_started(self, ex: Execution, tr: TaskRun) -> None:
        label = tr.taskId + (f"[{tr.value}]" if tr.value is not None else "")
        attempt = f"attempt {len(tr.attempts)}" if tr.attempts else ""
        print(f"  > {label:<40} {tr.state.value:<9} {attempt}", file=self.out, flush=True)

    def task_ended(self, ex: Execution, tr: TaskRun) -> None:
        label = tr.taskId + (f"[{tr.value}]" if tr.value is not None else "")
        attempt = f"attempt {len(tr.attempts)}" if tr.attempts else ""
        mark = {State.SUCCESS: "ok", State.SKIPPED: "--", State.WARNING: "!!"}.get(tr.state, "XX")
        line = f"  {mark} {label:<40} {tr.state.value:<9} {_duration(tr):>8} {attempt}"
        if tr.error and tr.state in (State.FAILED, State.WARNING, State.KILLED):
            line += f"\n       {tr.error}"
        print(line, file=self.out, flush=True)

    def log(self, task_id: str, run_id: str, level: str, message: str) -> None:
        for line in str(message).splitlines() or [""]:
            print(f"     [{task_id}] {level:<5} {line}", file=self.out, flush=True)


def execution_json(ex: Execution) -> dict[str, Any]:
    outputs: dict[str, Any] = {}
    for tr in ex.taskRuns:
        if not tr.outputs:
            continue
        if tr.valuePath:
            node = outputs.setdefault(tr.taskId, {})
            for v in tr.valuePath[:-1]:
                node = node.setdefault(v, {})
            node[tr.valuePath[-1]] = tr.outputs
        else:
            outputs[tr.taskId] = tr.outputs
    return {
        "id": ex.id, "namespace": ex.namespace, "flowId": ex.flowId, "state": ex.state.value,
        "labels": ex.labels, "inputs": ex.inputs, "outputs": outputs, "flowOutputs": ex.outputs,
        "error": ex.error,
        "startDate": ex.startDate.isoformat() if ex.startDate else None,
        "endDate": ex.endDate.isoformat() if ex.endDate else None,
        "taskRuns": [{
            "id": tr.id, "taskId": tr.taskId, "value": tr.value, "state": tr.state.value,
            "attempts": len(tr.attempts), "startDate": tr.startDate.isoformat() if tr.startDate else None,
            "endDate": tr.endDate.isoformat() if tr.endDate else None, "error": tr.error,
        } for tr in ex.taskRuns],
    }


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


def cmd_run(args: argparse.Namespace) -> int:
    from kflow.model.loader import load_flow_file
    from kflow.model.yamlio import load_yaml
    from kflow.runner.local import LocalRunner, default_storage_root

    out = sys.stderr if args.json else sys.stdout
    global_defaults = None
    if args.plugin_defaults:
        global_defaults = load_yaml(Path(args.plugin_defaults).read_text(), args.plugin_defaults) or []
    try:
        loaded = load_flow_file(args.flow, global_defaults)
    except FlowInvalid as exc:
        for line in exc.lines():
            print(line, file=sys.stderr)
        return EXIT_INVALID
    storage_root = Path(args.storage) if args.storage else default_storage_root()
    runner = LocalRunner(loaded.flow, storage_root=storage_root, events=ConsoleEvents(out),
                         flow_dir=Path(args.flow).resolve().parent)
    try:
        ex = runner.create(_parse_inputs(args.input), labels=dict(_parse_inputs(args.label)))
    except InputsInvalid as exc:
        print(f"{args.flow}: inputs.{exc.input_id}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    flow = loaded.flow
    print(f"Execution {ex.id} of {flow.namespace}.{flow.id}", file=out, flush=True)
    started = datetime.now(UTC)
    ex = runner.execute(ex)
    took = (datetime.now(UTC) - started).total_seconds()
    if args.json:
        print(json.dumps(execution_json(ex), indent=2, default=str))
    else:
        print(f"\nExecution {ex.id} ended {ex.state.value} in {took:.2f}s", file=out)
        if ex.error:
            print(f"  {ex.error}", file=out)
        if ex.labels:
            print("Labels: " + ", ".join(f"{k}={v}" for k, v in ex.labels.items()), file=out)
        data = execution_json(ex)
        if data["outputs"]:
            print("Outputs:", file=out)
            for task_id, value in data["outputs"].items():
                print(f"  {task_id}: {json.dumps(value, default=str)[:2000]}", file=out)
                uri = value.get("uri") if isinstance(value, dict) else None
                if isinstance(uri, str) and uri.endswith(".ion"):
                    _preview(uri, storage_root, ex, out)
        if ex.outputs:
            print("Flow outputs: " + json.dumps(ex.outputs, default=str), file=out)
    return EXIT_OK if ex.state in (State.SUCCESS, State.WARNING) else EXIT_FAILED


def cmd_validate(args: argparse.Namespace) -> int:
    from kflow.model.loader import load_flow_file

    bad = 0
    for path in args.files:
        try:
            load_flow_file(path)
        except FlowInvalid as exc:
            bad += 1
            for line in exc.lines():
                print(line)
        except Exception as exc:  # never a traceback: report and go on
            bad += 1
            print(f"{path}: internal error while validating: {type(exc).__name__}: {exc}")
        else:
            if args.verbose:
                print(f"{path}: valid")
    return EXIT_OK if bad == 0 else EXIT_FAILED


def cmd_operator(args: argparse.Namespace) -> int:
    from kflow.k8s import operator

    operator.run(args.namespace, args.liveness)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from kflow import worker

    return worker.pod_prepare() if args.mode == "prepare" else worker.pod_run()


def build_parser() -> argparse.ArgumentParser:
    from kflow import __version__

    parser = argparse.ArgumentParser(prog="kflow", description="Kestra flows on one machine or on Kubernetes")
    parser.add_argument("--version", action="version", version=f"kflow {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a flow on this machine")
    run.add_argument("flow", help="a Kestra flow YAML or a Flow manifest")
    run.add_argument("-i", "--input", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("-l", "--label", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    run.add_argument("--plugin-defaults", metavar="FILE",
                     help="YAML list of global plugin defaults ({type, values, forced})")
    run.add_argument("--storage", metavar="DIR", help="internal storage folder (default ~/.kflow/storage)")
    run.set_defaults(func=cmd_run)
    val = sub.add_parser("validate", help="validate flow files")
    val.add_argument("files", nargs="+")
    val.add_argument("-v", "--verbose", action="store_true")
    val.set_defaults(func=cmd_validate)
    op = sub.add_parser("operator", help="run the Kubernetes operator (kubeconfig or in-cluster)")
    op.add_argument("-n", "--namespace", action="append", default=[],
                    help="watch only this namespace (repeatable); default: all namespaces")
    op.add_argument("--liveness", metavar="URL", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint (default %(default)s)")
    op.set_defaults(func=cmd_operator)
    wk = sub.add_parser("worker", help="run one task attempt inside a task pod (used by the operator)")
    wk.add_argument("mode", choices=["run", "prepare"])
    wk.set_defaults(func=cmd_worker)
    from kflow.k8s.schedule_cli import add_commands

    add_commands(sub)  # convert, backfill
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
