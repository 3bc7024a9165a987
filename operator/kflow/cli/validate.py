"""`kflow validate`: check flow files."""

from __future__ import annotations

import argparse
from typing import Any

from kflow.cli.common import EXIT_FAILED, EXIT_OK
from kflow.errors import FlowInvalid


def cmd_validate(args: argparse.Namespace) -> int:
    from kflow.model.loader import validate_file

    bad = 0
    for path in args.files:
        try:
            for note in validate_file(path):  # Flows and CronTrigger manifests
                print(f"{path}: warning: {note}")
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


def add_commands(sub: Any) -> None:
    val = sub.add_parser("validate", help="validate flow files")
    val.add_argument("files", nargs="+")
    val.add_argument("-v", "--verbose", action="store_true")
    val.set_defaults(func=cmd_validate)
