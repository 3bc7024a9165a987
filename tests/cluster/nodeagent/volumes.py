"""Realise pod volumes as host directories under the pod's state dir.

Each volume becomes one host path; launch.py bind-mounts it at every
volumeMount's mountPath. PVCs resolve to their PV's hostPath (or local.path),
which is how two pods in sequence share data.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .fields import ConfigError, Lookup, field_ref, resource_ref
from .kube import Kube

KINDS = {"configMap": ("configmaps", "configMap"), "secret": ("secrets", "secret")}


class NotReady(ConfigError):
    """Volume source not ready yet (e.g. PVC still Pending): keep the pod ContainerCreating."""


def _write(base: Path, rel: str, data: bytes, mode: int) -> None:
    p = base / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    p.chmod(mode)


def _keyed(base: Path, data: dict[str, bytes], items: list | None, default_mode: int, what: str) -> None:
    if items:
        for it in items:
            if it["key"] not in data:
                raise ConfigError(f"{what}: key {it['key']} not found")
            _write(base, it["path"], data[it["key"]], it.get("mode", default_mode))
    else:
        for k, v in data.items():
            _write(base, k, v, default_mode)


def _downward(base: Path, pod: dict, items: list, default_mode: int) -> None:
    for it in items:
        if "fieldRef" in it:
            val = field_ref(pod, it["fieldRef"]["fieldPath"])
        else:
            val = resource_ref(pod, None, it["resourceFieldRef"])
        _write(base, it["path"], val.encode(), it.get("mode", default_mode))


def _token(kube: Kube, pod: dict, src: dict) -> bytes:
    md = pod["metadata"]
    sa = pod["spec"].get("serviceAccountName") or "default"
    spec = {
        "audiences": [src["audience"]] if src.get("audience") else [],
        "expirationSeconds": src.get("expirationSeconds", 3607),
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": md["name"], "uid": md["uid"]},
    }
    tr = kube.raw("POST", f"/api/v1/namespaces/{md['namespace']}/serviceaccounts/{sa}/token",
                  {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec})
    return tr["status"]["token"].encode()


def _pvc_path(kube: Kube, ns: str, claim: str) -> str:
    pvc = kube.get(f"/api/v1/namespaces/{ns}/persistentvolumeclaims/{claim}")
    if pvc is None:
        raise NotReady(f'persistentvolumeclaim "{claim}" not found')
    if (pvc.get("status") or {}).get("phase") != "Bound":
        raise NotReady(f'persistentvolumeclaim "{claim}" is not bound')
    pv = kube.get(f"/api/v1/persistentvolumes/{pvc['spec']['volumeName']}") or {}
    spec = pv.get("spec") or {}
    path = (spec.get("hostPath") or spec.get("local") or {}).get("path")
    if not path:
        raise ConfigError(f"persistentvolume {pvc['spec']['volumeName']} has no hostPath/local path")
    os.makedirs(path, exist_ok=True)
    return path


def fs_group(path: Path, gid: int) -> None:
    """What kubelet does for fsGroup on writable volumes: group-own and group-write everything."""
    for root, dirs, files in os.walk(path):
        for n in [root, *(os.path.join(root, f) for f in dirs + files)]:
            try:
                os.chown(n, -1, gid, follow_symlinks=False)
                os.chmod(n, os.stat(n).st_mode | 0o060 | (0o2010 if os.path.isdir(n) else 0))
            except OSError:
                pass


def realise(kube: Kube, pod: dict, root: Path) -> dict[str, str]:
    """Map volume name -> host path. Idempotent (called again after a NotReady)."""
    ns = pod["metadata"]["namespace"]
    look = Lookup(kube, ns)
    fsgroup = (pod["spec"].get("securityContext") or {}).get("fsGroup")
    out: dict[str, str] = {}
    for v in pod["spec"].get("volumes") or []:
        name, d = v["name"], root / "volumes" / v["name"]
        writable = False
        if "emptyDir" in v:
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o1777)  # any runAsUser can write, like a fresh tmpfs
            writable = True
        elif "hostPath" in v:
            hp = v["hostPath"]
            if hp.get("type") == "DirectoryOrCreate":
                os.makedirs(hp["path"], exist_ok=True)
            elif hp.get("type") == "FileOrCreate" and not os.path.exists(hp["path"]):
                open(hp["path"], "a").close()
            out[name] = hp["path"]
            continue
        elif "persistentVolumeClaim" in v or "ephemeral" in v:
            claim = (v["persistentVolumeClaim"]["claimName"] if "persistentVolumeClaim" in v
                     else f"{pod['metadata']['name']}-{name}")
            out[name] = _pvc_path(kube, ns, claim)
            if fsgroup is not None:
                fs_group(Path(out[name]), fsgroup)
            continue
        else:
            # Materialised read-only content: rebuilt from scratch each time.
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            d.chmod(0o755)
            if "configMap" in v or "secret" in v:
                kind, field = KINDS["configMap" if "configMap" in v else "secret"]
                src = v[field]
                data = look.data(kind, src.get("name") or src.get("secretName"), bool(src.get("optional")))
                _keyed(d, data or {}, src.get("items"), src.get("defaultMode", 0o644), f"{field} {name}")
            elif "downwardAPI" in v:
                dapi = v["downwardAPI"]
                _downward(d, pod, dapi.get("items") or [], dapi.get("defaultMode", 0o644))
            elif "projected" in v:
                mode = v["projected"].get("defaultMode", 0o644)
                for s in v["projected"].get("sources") or []:
                    if "serviceAccountToken" in s:
                        sat = s["serviceAccountToken"]
                        _write(d, sat["path"], _token(kube, pod, sat), mode)
                    elif "configMap" in s or "secret" in s:
                        kind, field = KINDS["configMap" if "configMap" in s else "secret"]
                        data = look.data(kind, s[field]["name"], bool(s[field].get("optional")))
                        _keyed(d, data or {}, s[field].get("items"), mode, f"{field} {name}")
                    elif "downwardAPI" in s:
                        _downward(d, pod, s["downwardAPI"].get("items") or [], mode)
            else:
                raise ConfigError(f"volume {name}: unsupported volume type (node agent)")
        if writable and fsgroup is not None:
            fs_group(d, fsgroup)
        out[name] = str(d)
    return out

