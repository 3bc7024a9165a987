"""Downward API field paths, env resolution and $(VAR) expansion (kubelet semantics)."""

from __future__ import annotations

import base64
import re

from .kube import Kube


class ConfigError(Exception):
    """Container config cannot be built yet (missing ConfigMap/Secret key): retried."""


def field_ref(pod: dict, path: str) -> str:
    md, spec, st = pod["metadata"], pod["spec"], pod.get("status") or {}
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return (md.get(m.group(1)) or {}).get(m.group(2), "")
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((md.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    simple = {
        "metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
        "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": "127.0.0.1", "status.hostIPs": "127.0.0.1",
        "status.podIP": "127.0.0.1", "status.podIPs": "127.0.0.1",
    }
    if path not in simple:
        raise ConfigError(f"unsupported fieldRef {path}")
    return simple[path] or st.get(path, "") or ""


def resource_ref(pod: dict, container_name: str | None, ref: dict) -> str:
    c = next((c for c in pod["spec"]["containers"] + pod["spec"].get("initContainers", [])
              if c["name"] == (ref.get("containerName") or container_name)), {})
    kind, _, res = ref["resource"].partition(".")
    value = ((c.get("resources") or {}).get(kind) or {}).get(res)
    if value is None:  # kubelet falls back to node allocatable; report something sane
        return {"cpu": "2", "memory": str(8 << 30)}.get(res, "0")
    return str(value)


class Lookup:
    """Caches ConfigMaps/Secrets for one container start."""

    def __init__(self, kube: Kube, ns: str):
        self.kube, self.ns, self.cache = kube, ns, {}

    def data(self, kind: str, name: str, optional: bool) -> dict | None:
        key = (kind, name)
        if key not in self.cache:
            obj = self.kube.get(f"/api/v1/namespaces/{self.ns}/{kind}/{name}")
            if obj is None:
                self.cache[key] = None
            elif kind == "secrets":
                self.cache[key] = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
            else:
                d = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
                d.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
                self.cache[key] = d
        if self.cache[key] is None and not optional:
            raise ConfigError(f'{kind[:-1]} "{name}" not found')
        return self.cache[key]

    def key(self, kind: str, ref: dict) -> str | None:
        d = self.data(kind, ref["name"], bool(ref.get("optional")))
        if d is None:
            return None
        if ref["key"] not in d:
            if ref.get("optional"):
                return None
            raise ConfigError(f'couldn\'t find key {ref["key"]} in {kind[:-1]} {self.ns}/{ref["name"]}')
        return d[ref["key"]].decode(errors="replace")


_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(s: str, env: dict[str, str]) -> str:
    """$(VAR) -> value if defined (else left as is); $$ -> $."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return _VAR.sub(sub, s)


def container_env(kube: Kube, pod: dict, c: dict, base: dict[str, str]) -> dict[str, str]:
    look = Lookup(kube, pod["metadata"]["namespace"])
    env = dict(base)
    for src in c.get("envFrom") or []:
        prefix = src.get("prefix", "")
        for kind, field in (("configmaps", "configMapRef"), ("secrets", "secretRef")):
            if field in src:
                d = look.data(kind, src[field]["name"], bool(src[field].get("optional"))) or {}
                env.update({prefix + k: v.decode(errors="replace") for k, v in d.items()})
    for e in c.get("env") or []:
        if "valueFrom" not in e:
            env[e["name"]] = expand(e.get("value", ""), env)
            continue
        vf = e["valueFrom"]
        if "fieldRef" in vf:
            val = field_ref(pod, vf["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in vf:
            val = resource_ref(pod, c["name"], vf["resourceFieldRef"])
        elif "configMapKeyRef" in vf:
            val = look.key("configmaps", vf["configMapKeyRef"])
        elif "secretKeyRef" in vf:
            val = look.key("secrets", vf["secretKeyRef"])
        else:
            raise ConfigError(f"unsupported valueFrom in env {e['name']}")
        if val is not None:
            env[e["name"]] = val
    return env
