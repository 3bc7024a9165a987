"""`kflow` command line. One module per verb group, each with `add_commands(sub)`:

- `run`       kflow run (the embedded local runner)
- `validate`  kflow validate
- `history`   kflow executions (list), get, logs, outputs, prune
- `gantt`     kflow gantt
- `recovery`  kflow restart, replay, resume, kill (local, or --cluster through `cluster`)
- `cluster`   kflow submit, kflow trigger
- `schedule`  kflow convert, kflow backfill
- `system`    kflow operator, the internal kflow worker
- `namespace` kflow namespace files upload|list

`main` turns a `CliError` into one line on stderr and its exit code, so no verb prints a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from kflow.cli import cluster, gantt, history, namespace, recovery, run, schedule, system, validate
from kflow.cli.common import EXIT_FAILED, EXIT_INVALID, EXIT_OK, CliError

__all__ = ["EXIT_FAILED", "EXIT_INVALID", "EXIT_OK", "CliError", "build_parser", "main"]


class Parser(argparse.ArgumentParser):
    """Usage errors on one line, as every other error (the usage is one `--help` away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_INVALID, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="kflow", description="Kestra flows on one machine or on Kubernetes")
    parser.add_argument("--version", action="version", version=f"kflow {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for module in (run, validate, history, gantt, recovery, cluster, schedule, system, namespace):
        module.add_commands(sub)
    from kflow.ui import cli as ui_cli  # `kflow ui` lives with the web UI (operator/kflow/ui/)

    ui_cli.add_commands(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kflow")
    except PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"kflow {args.command}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `kflow logs ... | head`: the reader is gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except Exception as exc:
        if os.environ.get("KFLOW_DEBUG"):
            raise
        # never a traceback for the user; KFLOW_DEBUG=1 shows it
        print(f"kflow {args.command}: internal error: {type(exc).__name__}: {exc} (KFLOW_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
