"""`kflow namespace files upload|list`: a Kestra namespace's files, locally or on the cluster.

Locally they are a folder (`<KFLOW_HOME>/namespaces/<namespace>/files`); on the cluster, ConfigMaps
labelled `kflow.dev/namespace-files=<namespace>` that the operator mounts into script tasks with
`namespaceFiles`. An upload replaces the namespace's whole set.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from kflow.cli.common import EXIT_OK, CliError


def _local_dir(namespace: str) -> Path:
    from kflow.tasks import nsfiles

    return nsfiles.source_dir({}, namespace)


def _core(args: argparse.Namespace) -> tuple[Any, str]:
    from kubernetes import client, config

    try:
        config.load_kube_config(context=args.context)
    except Exception as exc:  # no kubeconfig, unknown context
        raise CliError(f"cannot load the kubeconfig: {exc}") from None
    ns = args.k8s_namespace or config.list_kube_config_contexts()[1]["context"].get("namespace", "default")
    return client.CoreV1Api(), ns


def _selector(namespace: str) -> str:
    from kflow.k8s.naming import label_value
    from kflow.tasks.nsfiles import LABEL

    return f"{LABEL}={label_value(namespace)}"


def cmd_upload(args: argparse.Namespace) -> int:
    from kflow.tasks import nsfiles

    src = Path(args.dir)
    if not src.is_dir():
        raise CliError(f"{args.dir}: not a directory")
    files = nsfiles.select(src, args.include or None, args.exclude or None)
    if not args.cluster:
        dest = _local_dir(args.namespace)
        shutil.rmtree(dest, ignore_errors=True)
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, dest / rel)
        print(f"{len(files)} file(s) of namespace {args.namespace} in {dest}")
        return EXIT_OK
    from kubernetes.client.rest import ApiException

    try:
        maps = nsfiles.config_maps(args.namespace, src, args.include or None, args.exclude or None)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    core, kns = _core(args)
    try:
        old = {c.metadata.name for c in core.list_namespaced_config_map(kns, label_selector=_selector(
            args.namespace)).items}
        for cm in maps:
            name = cm["metadata"]["name"]
            if name in old:
                core.replace_namespaced_config_map(name, kns, cm)
            else:
                core.create_namespaced_config_map(kns, cm)
        for name in sorted(old - {cm["metadata"]["name"] for cm in maps}):
            core.delete_namespaced_config_map(name, kns)
    except ApiException as exc:
        raise CliError(f"namespace {kns}: {exc.reason} ({exc.status})", code=1) from None
    print(f"{len(files)} file(s) of namespace {args.namespace} in {len(maps)} ConfigMap(s) of {kns}")
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    import json

    from kflow.tasks import nsfiles

    if not args.cluster:
        for rel in nsfiles.select(_local_dir(args.namespace), None, None):
            print(rel)
        return EXIT_OK
    core, kns = _core(args)
    for cm in core.list_namespaced_config_map(kns, label_selector=_selector(args.namespace)).items:
        paths = json.loads((cm.metadata.annotations or {}).get(nsfiles.PATHS_ANNOTATION) or "{}")
        for key in sorted({*(cm.data or {}), *(cm.binary_data or {})}):
            print(f"{paths.get(key, key)}\t{cm.metadata.name}", file=sys.stdout)
    return EXIT_OK


def add_commands(sub: Any) -> None:
    ns = sub.add_parser("namespace", help="namespace files (namespaceFiles of script tasks)")
    ns_sub = ns.add_subparsers(dest="what", required=True, metavar="WHAT")
    files = ns_sub.add_parser("files", help="upload or list a namespace's files")
    verbs = files.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, func, text in (("upload", cmd_upload, "replace the namespace's files with DIR's"),
                             ("list", cmd_list, "list the namespace's files")):
        p = verbs.add_parser(name, help=text)
        if name == "upload":
            p.add_argument("dir", metavar="DIR")
            p.add_argument("--include", action="append", metavar="GLOB", help="only these files (repeatable)")
            p.add_argument("--exclude", action="append", metavar="GLOB", help="leave these out (repeatable)")
        p.add_argument("--namespace", required=True, metavar="NS", help="the Kestra namespace (company.team)")
        p.add_argument("--cluster", action="store_true", help="ConfigMaps on the cluster (kubeconfig)")
        p.add_argument("--context", metavar="CTX", help="kubeconfig context")
        p.add_argument("-n", "--k8s-namespace", metavar="KNS", help="Kubernetes namespace (default: the "
                       "context's)")
        p.set_defaults(func=func)
