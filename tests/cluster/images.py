"""The node's images, built here and loaded into containerd (nothing is pulled from anywhere).

* base: a Debian root filesystem made by debootstrap from Debian's packages (python3, venv, sh, CA
  certificates: the host's bundle, so pip in a build trusts what the host trusts). It is the local
  stand-in for the Dockerfile's `python:3.11-slim-bookworm` (a BuildKit named context) and the
  helper image of local-path-provisioner.
* pause: `registry.k8s.io/pause:3.10.1`, the static pause binary of build-node.sh.
* kflow:dev: the repository's Dockerfile, built by BuildKit (buildkitd on the node's containerd,
  started for the build only).
* python:3.11-alpine: a TEST-ONLY stand-in (Debian's Python 3.11 + POSIX sh, not Alpine) for the
  seed flows' image, from tests/cluster/images/python-standin.Dockerfile. The same image is also
  tagged `ubuntu:latest` and `python:3.13-slim` (the images kflow gives script tasks that name none)
  and `python:slim` (flows/02_python.yaml).
* kflow-taxi-tools:dev: TEST-ONLY, kflow:dev plus the taxi fixture's fake wget
  (tests/fixtures/taxi-tools.Dockerfile), the runtime image of the operator's taxi tests.

Each image is an OCI tarball in ${KFLOW_CACHE:-~/.cache/kflow}/images named by the hash of its inputs,
so it is rebuilt only when they change and re-imported cheaply after `make cluster-down`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nodectl
import oci

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = Path(os.environ.get("KFLOW_CACHE", Path.home() / ".cache" / "kflow")) / "images"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
PACKAGES = "python3,python3-venv,ca-certificates,passwd"
BASE_REF = "kflow.local/debian-python:bookworm"
BASE_NAME = "python:3.11-slim-bookworm"  # the Dockerfile's FROM, replaced by the base layout
KFLOW_REF = "docker.io/library/kflow:dev"
STANDIN_REF = "docker.io/library/python:3.11-alpine"
TAXI_REF = "docker.io/library/kflow-taxi-tools:dev"
ALIASES = {STANDIN_REF: ("docker.io/library/ubuntu:latest", "docker.io/library/python:3.13-slim",
                        "docker.io/library/python:slim")}
HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
CONTAINERD_NS = "k8s.io"


def log(msg: str) -> None:
    print(f"images: {msg}", file=sys.stderr, flush=True)


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def _tree(*roots: Path) -> list[bytes]:
    """Contents of the build inputs (paths + bytes), skipping caches."""
    out = []
    for root in roots:
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"
            and not any(part == "__pycache__" or part.endswith(".egg-info") for part in p.parts))
        for f in files:
            out += [str(f.relative_to(REPO)).encode(), f.read_bytes()]
    return out


# ---------------------------------------------------------------- images without a Dockerfile


def base_layout() -> tuple[Path, str]:
    key = _digest(SUITE, MIRROR, PACKAGES, HOST_CA.read_bytes(), "v1")
    layout = CACHE / f"base-{key}"
    if not (layout / "index.json").exists():
        rootfs = CACHE / f"rootfs-{key}"
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.parent.mkdir(parents=True, exist_ok=True)
        log(f"debootstrap {SUITE} ({PACKAGES}) from {MIRROR}")
        subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(rootfs), MIRROR],
                       check=True, stdout=subprocess.DEVNULL)
        shutil.copyfile(HOST_CA, rootfs / "etc/ssl/certs/ca-certificates.crt")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (rootfs / junk).glob("*"):
                if f.is_file():
                    f.unlink()
        oci.write_layout(layout, rootfs, BASE_REF, {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8",
                    f"PIP_CERT={HOST_CA}"],
            "Cmd": ["/bin/sh"]})
        shutil.rmtree(rootfs)
    return layout, json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def pause_layout(node_bin: Path) -> Path:
    key = _digest((node_bin / "pause").read_bytes(), nodectl.PAUSE_IMAGE)
    layout = CACHE / f"pause-{key}"
    if not (layout / "index.json").exists():
        rootfs = CACHE / f"pause-rootfs-{key}"
        shutil.rmtree(rootfs, ignore_errors=True)
        rootfs.mkdir(parents=True)
        shutil.copy2(node_bin / "pause", rootfs / "pause")
        oci.write_layout(layout, rootfs, nodectl.PAUSE_IMAGE, {"User": "65535:65535", "Entrypoint": ["/pause"]})
        shutil.rmtree(rootfs)
    return layout


def _tarball(layout: Path) -> Path:
    dest = layout.with_name(layout.name + ".tar")
    return dest if dest.exists() else oci.tar_layout(layout, dest)


# ---------------------------------------------------------------- BuildKit


class BuildKit:
    """buildkitd in the node's mount namespace with the containerd worker, for the builds only."""

    def __init__(self, state: Path, st: dict):
        self.state, self.st = state, st
        self.sock = state / "node" / "buildkitd.sock"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> BuildKit:
        n, nb = self.state / "node", Path(self.st["node_bin"])
        argv = [*nodectl.in_node_ns(self.st), str(nb / "buildkitd"), f"--root={n}/buildkit",
                f"--addr=unix://{self.sock}", "--oci-worker=false", "--containerd-worker=true",
                f"--containerd-worker-addr={n}/containerd.sock", "--containerd-worker-namespace=buildkit",
                "--containerd-worker-net=host", "--containerd-worker-gc=false"]
        log_file = open(self.state / "logs" / "buildkitd.log", "ab")
        self.proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env=nodectl.env_for("buildkitd", self.st), start_new_session=True,
                                     preexec_fn=nodectl.track_preexec)
        self._log = log_file
        (self.state / "pids" / "buildkitd.pid").write_text(str(self.proc.pid))
        deadline = time.monotonic() + 60
        while self.ctl("debug", "workers", check=False).returncode != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"images: buildkitd did not start; see {self.state / 'logs' / 'buildkitd.log'}")
            time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        (self.state / "pids" / "buildkitd.pid").unlink(missing_ok=True)

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(self.st["node_bin"]) / "buildctl"), f"--addr=unix://{self.sock}", *args],
                              check=check, capture_output=True, text=True)

    def build(self, dockerfile: Path, context: Path, ref: str, dest: Path, named: dict[str, tuple[Path, str]]) -> Path:
        """Build `ref` into the OCI tarball `dest`; `named` maps FROM names to local layouts (nothing is pulled)."""
        log(f"building {ref} from {dockerfile.relative_to(REPO)} with BuildKit")
        tmp = dest.with_suffix(".tmp")
        opts = []
        for i, (name, (layout, digest)) in enumerate(named.items()):
            opts += [f"--oci-layout=l{i}={layout}", f"--opt=context:{name}=oci-layout://l{i}@{digest}"]
        with open(self.state / "logs" / "image-build.log", "a") as out:
            r = subprocess.run(
                [str(Path(self.st["node_bin"]) / "buildctl"), f"--addr=unix://{self.sock}", "build",
                 "--progress=plain", "--frontend=dockerfile.v0", f"--local=context={context}",
                 f"--local=dockerfile={dockerfile.parent}", f"--opt=filename={dockerfile.name}",
                 *opts, f"--output=type=oci,dest={tmp},name={ref}"], stdout=out, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise SystemExit(f"images: building {ref} failed; see {self.state / 'logs' / 'image-build.log'}")
        tmp.rename(dest)
        return dest


# ---------------------------------------------------------------- containerd


def ctr(st: dict, state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(st["node_bin"]) / "ctr"), f"--address={state / 'node' / 'containerd.sock'}",
                           "-n", CONTAINERD_NS, *args], check=check, capture_output=True, text=True)


def _load(st: dict, state: Path, ref: str, tarball: Path) -> None:
    loaded = st.setdefault("images", {})
    present = ref in ctr(st, state, "images", "ls", "-q").stdout.split()
    if present and loaded.get(ref) == tarball.name:
        return
    log(f"loading {ref} ({tarball.name})")
    ctr(st, state, "images", "import", "--no-unpack=false", str(tarball))
    # Pinned: kubelet's image garbage collection must never remove an image nobody can pull again.
    ctr(st, state, "images", "label", ref, "io.cri-containerd.pinned=pinned")
    for alias in ALIASES.get(ref, ()):
        ctr(st, state, "images", "tag", "--force", ref, alias)
        ctr(st, state, "images", "label", alias, "io.cri-containerd.pinned=pinned")
    loaded[ref] = tarball.name


def dockerfile_images() -> list[tuple[str, Path, Path, list[Path]]]:
    """(ref, Dockerfile, context, inputs) of every image built by BuildKit, in build order."""
    standin = HERE / "images" / "python-standin.Dockerfile"
    taxi = REPO / "tests" / "fixtures" / "taxi-tools.Dockerfile"
    return [
        (KFLOW_REF, REPO / "Dockerfile", REPO,
         [REPO / "Dockerfile", REPO / ".dockerignore", REPO / "pyproject.toml", REPO / "operator"]),
        (STANDIN_REF, standin, standin.parent, [standin]),
        (TAXI_REF, taxi, taxi.parent, [taxi, taxi.parent / "fake_wget.py"]),
    ]


def _layout_of(tarball: Path) -> tuple[Path, str]:
    """The OCI layout inside a tarball BuildKit wrote (a named context for images built FROM it)."""
    layout = tarball.with_suffix(".layout")
    if not (layout / "index.json").exists():
        shutil.rmtree(layout, ignore_errors=True)
        layout.mkdir()
        subprocess.run(["tar", "-xf", str(tarball), "-C", str(layout)], check=True)
    return layout, json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]


def ensure(state: Path, st: dict, only: str | None = None) -> None:
    """Build what is missing or stale, load what containerd lacks (called once containerd is up)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    base = base_layout()
    st["helper_image"] = BASE_REF
    _load(st, state, nodectl.PAUSE_IMAGE, _tarball(pause_layout(Path(st["node_bin"]))))
    _load(st, state, BASE_REF, _tarball(base[0]))
    # Each image's key covers its inputs and the digest of what it is built FROM.
    named = {BASE_NAME: base, BASE_REF: base}
    todo, kflow_key = [], ""
    for ref, df, ctx, inputs in dockerfile_images():
        parent = kflow_key if df.read_text().count("FROM kflow:dev") else base[1]
        key = _digest(ref, parent, *_tree(*inputs))
        kflow_key = key if ref == KFLOW_REF else kflow_key
        todo.append((ref, df, ctx, CACHE / f"{ref.rsplit('/', 1)[-1].replace(':', '-')}-{key}.oci.tar"))
    bk = None
    try:
        for ref, df, ctx, tarball in todo:
            if not tarball.exists():
                bk = bk or BuildKit(state, st).__enter__()
                t0 = time.monotonic()
                bk.build(df, ctx, ref, tarball, named)
                log(f"built {ref} in {time.monotonic() - t0:.0f}s")
            if ref == KFLOW_REF:
                named["kflow:dev"] = named[KFLOW_REF] = _layout_of(tarball)
    finally:
        if bk:
            bk.__exit__(None, None, None)
    for ref, _, _, tarball in todo:
        if only in (None, ref):
            _load(st, state, ref, tarball)
