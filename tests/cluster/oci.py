"""Minimal OCI image layouts written from a root filesystem folder (no registry, no daemon).

Used for the images that have no Dockerfile: the Debian base root filesystem (debootstrap) and the
pause image. The layout directory is what BuildKit reads as a named context (`oci-layout://`); its
tarball is what `ctr images import` loads.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tarfile
from pathlib import Path

SKIP_TOP = {"dev", "proc", "sys", "run", "tmp"}  # the runtime mounts these; keep the empty dirs


def _blob(layout: Path, data: bytes, media_type: str) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _layer(layout: Path, rootfs: Path) -> tuple[dict, str]:
    """gzip'd tar of rootfs (owners and modes kept, mtimes zeroed); returns descriptor, diff_id."""
    tmp = layout / "layer.tar"

    def reset(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.mtime = 0
        return ti

    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(rootfs)):
            if entry in SKIP_TOP:
                tar.add(rootfs / entry, arcname=entry, recursive=False, filter=reset)
            else:
                tar.add(rootfs / entry, arcname=entry, filter=reset)
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    gz = layout / "layer.tar.gz"
    with open(tmp, "rb") as src, open(gz, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb",
                                                                     compresslevel=1, mtime=0) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    tmp.unlink()
    gh = hashlib.sha256()
    with open(gz, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            gh.update(chunk)
    digest = gh.hexdigest()
    dest = layout / "blobs" / "sha256" / digest
    dest.parent.mkdir(parents=True, exist_ok=True)
    gz.rename(dest)
    desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{digest}",
            "size": dest.stat().st_size}
    return desc, f"sha256:{h.hexdigest()}"


def write_layout(layout: Path, rootfs: Path, ref: str, config: dict) -> str:
    """Write an OCI layout holding one linux/amd64 image `ref`; returns the manifest digest."""
    if layout.exists():
        shutil.rmtree(layout)
    layout.mkdir(parents=True)
    layer, diff_id = _layer(layout, rootfs)
    cfg = {"architecture": "amd64", "os": "linux", "config": config,
           "rootfs": {"type": "layers", "diff_ids": [diff_id]},
           "history": [{"created_by": f"kflow tests/cluster/oci.py from {rootfs.name}"}]}
    cfg_desc = _blob(layout, json.dumps(cfg, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": cfg_desc, "layers": [layer]}
    m_desc = _blob(layout, json.dumps(manifest, sort_keys=True).encode(), "application/vnd.oci.image.manifest.v1+json")
    m_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    m_desc["annotations"] = {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [m_desc]}))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return m_desc["digest"]


def tar_layout(layout: Path, dest: Path) -> Path:
    """The layout as one tarball (what `ctr images import` reads)."""
    tmp = dest.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for entry in ("oci-layout", "index.json", "blobs"):
            tar.add(layout / entry, arcname=entry)
    tmp.rename(dest)
    return dest
