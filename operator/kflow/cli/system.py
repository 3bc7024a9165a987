"""`kflow operator` and the internal `kflow worker` (what a task pod runs)."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from kflow.cli.common import EXIT_OK, CliError


def cmd_operator(args: argparse.Namespace) -> int:
    from kflow.k8s import operator
    from kflow.k8s.config import OperatorConfig

    try:  # the settings the chart passes, checked before anything starts
        OperatorConfig.from_env()
    except (ValueError, yaml.YAMLError) as exc:
        raise CliError(str(exc)) from None
    operator.run(args.namespace, args.liveness, metrics=args.metrics, log_format=args.log_format)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    from kflow import worker

    return worker.pod_prepare() if args.mode == "prepare" else worker.pod_run()


def cmd_completion(args: argparse.Namespace) -> int:
    import shtab

    from kflow.cli import build_parser

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def _address(text: str) -> str:
    """[HOST:]PORT for --metrics, checked before the operator starts."""
    port = text.rpartition(":")[2]
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT with a port in 1-65535, got {text!r}")
    return text


def add_commands(sub: Any) -> None:
    comp = sub.add_parser("completion", help="print a shell completion script: "
                          "source <(kflow completion bash), or kflow completion zsh > ~/.zfunc/_kflow")
    comp.add_argument("shell", choices=["bash", "zsh"])
    comp.set_defaults(func=cmd_completion)
    op = sub.add_parser("operator", help="run the Kubernetes operator (kubeconfig or in-cluster)")
    op.add_argument("-n", "--namespace", action="append", default=[],
                    help="watch only this namespace (repeatable); default: all namespaces")
    op.add_argument("--liveness", metavar="URL", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint (default %(default)s)")
    op.add_argument("--metrics", metavar="[HOST:]PORT", type=_address,
                    help="serve Prometheus metrics on /metrics there")
    op.add_argument("--log-format", choices=["plain", "full", "json"], default="full",
                    help="log lines: kopf's full format (default), plain, or one JSON object per line")
    op.set_defaults(func=cmd_operator)
    # internal: no help= so argparse leaves it out of the verb list
    wk = sub.add_parser("worker")
    wk.add_argument("mode", choices=["run", "prepare"])
    wk.set_defaults(func=cmd_worker)
