"""Pure builders of the Kubernetes objects an Execution owns: task pods, the storage PVC, ConfigMaps."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from typing import Any

from kflow.k8s import naming as n
from kflow.k8s import secret_refs
from kflow.k8s.config import OperatorConfig
from kflow.tasks.scripts.common import ScriptTask

WORKER_SPEC_ENV = "KFLOW_TASK_SPEC"
PREPARE_PYTHON = "python"  # the interpreter a script task's commands call `python` (the task's image has it)


def owner_reference(execution: dict[str, Any]) -> dict[str, Any]:
    meta = execution["metadata"]
    return {"apiVersion": execution["apiVersion"], "kind": execution["kind"], "name": meta["name"],
            "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}


def _meta(execution: dict[str, Any], name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    meta = execution["metadata"]
    return {"name": name, "namespace": meta["namespace"],
            "labels": {n.L_EXECUTION: n.label_value(meta["name"]), n.L_MANAGED: "kflow", **(labels or {})},
            "ownerReferences": [owner_reference(execution)]}


def storage_pvc(execution: dict[str, Any], config: OperatorConfig) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": [config.storage_access_mode],
                            "resources": {"requests": {"storage": config.storage_size}}}
    if config.storage_class:
        spec["storageClassName"] = config.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(execution, n.pvc_name(execution["metadata"]["name"])), "spec": spec}


def config_map(execution: dict[str, Any], name: str, data: dict[str, str], kind: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(execution, name, {f"{n.LABEL_PREFIX}/content": kind}), "data": data}


def _restricted() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"}}


def task_pod(execution: dict[str, Any], *, flow_name: str, task: Any, task_run_id: str, attempt: int,
             worker_spec: dict[str, Any], timeout: timedelta | None, config: OperatorConfig,
             extra_volumes: list[tuple[dict[str, Any], str]] | None = None,
             secret_keys: list[str] | None = None, claim: bool = True, inline: str | None = None) -> dict[str, Any]:
    """One pod per task run attempt. Built-in tasks run `kflow worker run` in the runtime image; a script
    task's init container (runtime image) stages files and its own `containerImage` runs the command.
    `extra_volumes`: (volume, mountPath) read by the worker (FILE inputs, namespace files), mounted read-only
    where the worker runs. `secret_keys`: the `secretsFrom` keys the pod gets (None: all of them). `claim`:
    False for an execution whose pods share no files (k8s/volumes.py): an emptyDir instead of its PVC.
    `inline`: a script task's files and run.sh as one `sh -c` script (k8s/inline_prepare.py): no init
    container."""
    exec_name = execution["metadata"]["name"]
    name = n.pod_name(exec_name, task_run_id, attempt)
    labels = {n.L_FLOW: n.label_value(flow_name), n.L_TASK: n.label_value(task.id),
              n.L_TASK_RUN: n.label_value(task_run_id), n.L_ATTEMPT: str(attempt)}
    meta = _meta(execution, name, labels)
    meta["annotations"] = {n.A_TASK_RUN_ID: task_run_id}
    mounts = [{"name": "storage", "mountPath": config.storage_mount}]
    worker_mounts = [*mounts, *({"name": v["name"], "mountPath": path, "readOnly": True}
                                for v, path in extra_volumes or [])]
    env = [{"name": WORKER_SPEC_ENV, "value": json.dumps(worker_spec, separators=(",", ":"), default=str)}]
    env_from: list[dict[str, Any]] = []
    secret_env: list[dict[str, Any]] = []
    if config.secrets_from and secret_keys is None:  # a computed secret() key: the whole Secret
        env_from = [{"secretRef": {"name": config.secrets_from, "optional": True}}]
    elif config.secrets_from:  # only what the flow names (k8s/secret_refs.py)
        secret_env = secret_refs.pod_env(config.secrets_from, secret_keys or [])
    env = [*env, *secret_env]
    base = {"volumeMounts": mounts, "securityContext": _restricted(), "terminationMessagePolicy": "File",
            "imagePullPolicy": config.pull_policy}
    if isinstance(task, ScriptTask):
        prepare = {"name": "prepare", "image": config.runtime_image,
                   "command": [*config.worker_command, "prepare"], "env": [*env, {"name": "KFLOW_PYTHON",
                                                                               "value": PREPARE_PYTHON}],
                   "envFrom": env_from, **base, "volumeMounts": worker_mounts}
        run_sh = f"{worker_spec['workdir']}/.kflow/run.sh"
        command = ["/bin/sh", "-c", inline] if inline is not None else ["/bin/sh", run_sh]
        main = {"name": "task", "image": task.containerImage or _default_image(task, config),
                "command": command, "env": secret_env, "envFrom": env_from, **base}
        init = [prepare] if inline is None else []
    else:
        main = {"name": "task", "image": config.runtime_image, "command": [*config.worker_command, "run"],
                "env": env, "envFrom": env_from, **base, "volumeMounts": worker_mounts}
        init = []
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {"runAsNonRoot": True, "runAsUser": config.run_as_user,
                            "runAsGroup": config.run_as_user, "fsGroup": config.run_as_user,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "volumes": [{"name": "storage", **({"persistentVolumeClaim": {"claimName": n.pvc_name(exec_name)}} if claim
                                           else {"emptyDir": {}})},
                    *(v for v, _ in extra_volumes or [])],
        "containers": [main],
    }
    if init:
        spec["initContainers"] = init
    if config.node_lost_seconds != 300:  # else the API server's default tolerations say the same
        spec["tolerations"] = [{"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
                                "tolerationSeconds": config.node_lost_seconds}
                               for taint in ("not-ready", "unreachable")]
    if claim and config.storage_access_mode == "ReadWriteOnce":
        spec["affinity"] = same_node_as_running_pods(exec_name)
    if timeout is not None:
        spec["activeDeadlineSeconds"] = max(1, math.ceil(timeout.total_seconds()))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def same_node_as_running_pods(execution: str) -> dict[str, Any]:
    """A ReadWriteOnce volume attaches to one node at a time: a task pod goes where the execution's other
    running pods are (none running: anywhere; a local volume's own node affinity then decides)."""
    return {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
        "labelSelector": {"matchLabels": {n.L_EXECUTION: n.label_value(execution)}},
        "topologyKey": "kubernetes.io/hostname"}]}}


def _default_image(task: Any, config: OperatorConfig) -> str:
    if str((task.taskRunner or {}).get("type", "")).endswith(".runner.Process"):
        return config.runtime_image  # Kestra runs these in the worker's own environment: kflow's image
    if task.TYPE.startswith("io.kestra.plugin.scripts.python"):
        return "python:3.13-slim"
    if task.TYPE.startswith("io.kestra.plugin.scripts.shell"):
        return "ubuntu"
    return config.runtime_image
