"""Dynamic provisioning for the default StorageClass `kflow-hostpath`: one host directory per PVC.

Polls (cheap on a local API server, and simpler than two informers): every Pending
PVC of our provisioner gets a hostPath PV pre-bound to it (claimRef); the PV binder
in kube-controller-manager completes the binding. Released PVs with reclaim policy
Delete are removed together with their directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .kube import ApiError, log

PROVISIONER = "kflow.dev/hostpath"


class Provisioner:
    def __init__(self, agent):
        self.agent, self.kube = agent, agent.kube
        self.root: Path = agent.state_dir / "pv"

    def classes(self) -> dict[str, dict]:
        scs = self.kube.raw("GET", "/apis/storage.k8s.io/v1/storageclasses")["items"]
        return {sc["metadata"]["name"]: sc for sc in scs if sc.get("provisioner") == PROVISIONER}

    def once(self) -> None:
        ours = self.classes()
        if not ours:
            return
        for pvc in self.kube.raw("GET", "/api/v1/persistentvolumeclaims")["items"]:
            sc = ours.get(pvc["spec"].get("storageClassName") or "")
            pending = (pvc.get("status") or {}).get("phase") == "Pending"
            if sc and pending and not pvc["spec"].get("volumeName"):
                self.provision(pvc, sc)
        for pv in self.kube.raw("GET", "/api/v1/persistentvolumes")["items"]:
            ann = pv["metadata"].get("annotations") or {}
            if (ann.get("pv.kubernetes.io/provisioned-by") == PROVISIONER
                    and (pv.get("status") or {}).get("phase") in ("Released", "Failed")
                    and pv["spec"].get("persistentVolumeReclaimPolicy") == "Delete"):
                shutil.rmtree(pv["spec"]["hostPath"]["path"], ignore_errors=True)
                try:
                    self.kube.raw("DELETE", f"/api/v1/persistentvolumes/{pv['metadata']['name']}")
                except ApiError as e:
                    if e.status != 404:
                        raise

    def provision(self, pvc: dict, sc: dict) -> None:
        md = pvc["metadata"]
        name = f"pvc-{md['uid']}"
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # pods may run as any uid
        pv = {
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
            "spec": {
                "capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
                "accessModes": pvc["spec"].get("accessModes") or ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy", "Delete"),
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": pvc["spec"].get("volumeMode", "Filesystem"),
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                             "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]},
            },
        }
        try:
            self.kube.raw("POST", "/api/v1/persistentvolumes", pv)
            log.info("provisioned %s for %s/%s", name, md["namespace"], md["name"])
        except ApiError as e:
            if e.status != 409:
                raise

    def run(self) -> None:
        while not self.agent.stop.is_set():
            try:
                self.once()
            except Exception as e:
                log.warning("provisioner: %s", e)
            self.agent.stop.wait(1)
