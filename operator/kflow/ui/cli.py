"""`kflow ui`: serve the web UI over the local history (default) or the cluster (--cluster)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_OK, CliError


def cmd_ui(args: argparse.Namespace) -> int:
    if args.cluster:
        from kubernetes.config.config_exception import ConfigException

        from kflow.ui.cluster import ClusterSource

        try:
            source: Any = ClusterSource(args.namespace)
        except (ConfigException, OSError) as exc:
            raise CliError(f"cannot read the kubeconfig: {exc}") from None
        what = f"the cluster{f' (namespace {args.namespace})' if args.namespace else ''}"
    else:
        from kflow.runner.local import default_storage_root
        from kflow.ui.local import LocalSource

        root = Path(args.storage) if args.storage else default_storage_root()
        flows = args.flows if args.flows is not None else (["flows"] if Path("flows").is_dir() else [])
        source = LocalSource(root, [Path(f) for f in flows])
        what = f"the local history in {root}"
    from kflow.ui.server import serve

    mode = "actions allowed" if args.allow_actions else "read-only"

    def ready(url: str) -> None:
        print(f"kflow ui: {what} at {url} ({mode})", flush=True)

    try:
        serve(source, args.bind, args.port, args.allow_actions, ready)
    except OSError as exc:
        raise CliError(f"cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}", 1) from None
    return EXIT_OK


def add_commands(sub: Any) -> None:
    ui = sub.add_parser("ui", help="web UI over the local history or the cluster")
    where = ui.add_mutually_exclusive_group()
    where.add_argument("--cluster", action="store_true", help="show the cluster's Flows, Executions and CronTriggers "
                       "(kubeconfig)")
    where.add_argument("--storage", metavar="DIR", help="local storage folder (default ~/.kflow/storage)")
    ui.add_argument("--port", type=int, default=8080, help="port (default %(default)s; 0: any free port)")
    ui.add_argument("--bind", default="127.0.0.1", help="address to listen on (default %(default)s)")
    ui.add_argument("--allow-actions", action="store_true",
                    help="allow execute, kill, restart, replay, resume and backfill (default: read-only)")
    ui.add_argument("--flows", action="append", metavar="PATH",
                    help="local: flow files or folders to list and execute (default ./flows)")
    ui.add_argument("-n", "--namespace", help="cluster: only this namespace (default: all)")
    ui.set_defaults(func=cmd_ui)
