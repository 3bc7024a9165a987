"""Where the read and recovery verbs find executions: this machine's history (default) or the cluster
(`--cluster`, `-n NS`, `--context CTX`), behind the same read API (kflow.history.HistorySource)."""

from __future__ import annotations

import argparse
from typing import Any

from kflow.cli.common import CliError, storage_root


def add_source_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", metavar="DIR", help="local internal storage (default ~/.kflow/storage)")
    parser.add_argument("--cluster", action="store_true", help="read Executions on the cluster (kubeconfig)")
    parser.add_argument("-n", "--namespace", metavar="NS", help="Kubernetes namespace (implies --cluster)")
    parser.add_argument("--context", metavar="CTX", help="kubeconfig context (implies --cluster)")


def on_cluster(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "cluster", False) or getattr(args, "namespace", None)
                or getattr(args, "context", None))


def history_source(args: argparse.Namespace) -> Any:
    if on_cluster(args):
        from kflow.history.cluster import ClusterHistory

        return ClusterHistory.connect(namespace=args.namespace, context=args.context)
    from kflow.history import LocalHistory

    return LocalHistory(storage_root(args))


def get_record(source: Any, execution_id: str) -> Any:
    from kflow.history import HistoryError

    try:
        return source.get(execution_id)
    except HistoryError as exc:
        raise CliError(str(exc), 1) from None
