"""The KV store on the cluster: one ConfigMap per key (a Secret when the value came from a secret).

Visible with `kubectl get configmaps,secrets -l kflow.dev/kv`; not owned by any Execution, so values outlive
the executions that wrote them and operator restarts. Before an engine pass over a flow that uses KV, the
operator loads its Kubernetes namespace's entries into a `MemoryKVStore`; after it, writes the pass's journal
back (before the Execution's status, so a crash in between only repeats idempotent writes).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubernetes.client.rest import ApiException

from kflow.k8s import naming as n
from kflow.kv.memory import MemoryKVStore
from kflow.kv.model import KVEntry

L_KV = f"{n.LABEL_PREFIX}/kv"
L_KV_NAMESPACE = f"{n.LABEL_PREFIX}/kv-namespace"
A_KEY = f"{n.LABEL_PREFIX}/kv-key"
A_NAMESPACE = f"{n.LABEL_PREFIX}/kv-namespace"
A_EXPIRES = f"{n.LABEL_PREFIX}/kv-expires-at"
ENTRY = "entry.json"


def uses_kv(flow_text: str) -> bool:
    return "kv(" in flow_text or ".kv." in flow_text


def object_name(namespace: str, key: str) -> str:
    return n.dns_label(f"kv-{namespace}-{key}".replace(".", "-").replace("_", "-"), 253)


def manifest(entry: KVEntry, k8s_namespace: str) -> dict[str, Any]:
    """The ConfigMap (or Secret, for secret-derived values) holding `entry`; pure."""
    meta = {"name": object_name(entry.namespace, entry.key), "namespace": k8s_namespace,
            "labels": {L_KV: "true", L_KV_NAMESPACE: n.label_value(entry.namespace), n.L_MANAGED: "kflow"},
            "annotations": {A_KEY: entry.key, A_NAMESPACE: entry.namespace,
                            **({A_EXPIRES: entry.expirationDate} if entry.expirationDate else {})}}
    text = entry.to_json()
    if entry.secret:
        return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": meta,
                "data": {ENTRY: base64.b64encode(text.encode()).decode()}}
    shown = entry.value if isinstance(entry.value, str) else json.dumps(entry.value)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
            "data": {ENTRY: text, "value": shown, "type": entry.type}}


def _entry(obj: Any, secret: bool) -> KVEntry | None:
    data = obj.data or {}
    raw = data.get(ENTRY)
    if raw is None:
        return None
    try:
        text = base64.b64decode(raw).decode() if secret else raw
        return KVEntry.from_json(text)
    except ValueError:
        return None  # a hand-edited object that no longer parses reads as missing


async def load(kube: Any, k8s_namespace: str) -> MemoryKVStore:
    selector = f"{L_KV}=true"
    cms = await kube._call(kube.core.list_namespaced_config_map, k8s_namespace, label_selector=selector)
    secrets = await kube._call(kube.core.list_namespaced_secret, k8s_namespace, label_selector=selector)
    entries = [e for obj in cms.items if (e := _entry(obj, False)) is not None]
    entries += [e for obj in secrets.items if (e := _entry(obj, True)) is not None]
    return MemoryKVStore(entries)


async def flush(kube: Any, k8s_namespace: str, store: MemoryKVStore | None) -> None:
    if store is None or not store.journal:
        return
    journal, store.journal = store.journal, {}
    for (namespace, key), entry in journal.items():
        name = object_name(namespace, key)
        if entry is None:
            await _delete(kube, "ConfigMap", k8s_namespace, name)
            await _delete(kube, "Secret", k8s_namespace, name)
            continue
        obj = manifest(entry, k8s_namespace)
        await _upsert(kube, obj)
        # A key whose value stopped (or started) coming from a secret moves between the two kinds.
        await _delete(kube, "ConfigMap" if entry.secret else "Secret", k8s_namespace, name)


async def _upsert(kube: Any, obj: dict[str, Any]) -> None:
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    if obj["kind"] == "Secret":
        create, replace = kube.core.create_namespaced_secret, kube.core.replace_namespaced_secret
    else:
        create, replace = kube.core.create_namespaced_config_map, kube.core.replace_namespaced_config_map
    try:
        await kube._call(create, ns, obj)
    except ApiException as exc:
        if exc.status != 409:
            raise
        await kube._call(replace, name, ns, obj)


async def _delete(kube: Any, kind: str, ns: str, name: str) -> None:
    fn = kube.core.delete_namespaced_secret if kind == "Secret" else kube.core.delete_namespaced_config_map
    try:
        await kube._call(fn, name, ns)
    except ApiException as exc:
        if exc.status != 404:
            raise
