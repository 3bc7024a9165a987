"""Container launcher, run as `python3 -I launch.py SPEC.json` by the node agent (as root).

Containers are host processes, but a pod must see its volumes, service-account
token and termination-log file at the paths the pod spec names (e.g.
/var/run/secrets/kubernetes.io/serviceaccount, /kflow/work, /dev/termination-log).
So this process enters a private mount namespace, bind-mounts each host
directory/file at its mount path (visible only to this process and its
children), drops to the pod's user, and execs the container command.

Missing mount points are created on the host as empty placeholders (a bind mount
needs an existing target) and recorded so `cluster-down` can remove them.

Stdlib only: it runs before (and instead of) any agent code.
"""

import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)


def check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src, dst, flags):
    check(libc.mount(src and src.encode(), dst.encode(), None, flags, None), f"mount {src} {dst}")


def ensure_target(path: str, is_dir: bool, placeholders: str) -> None:
    if os.path.lexists(path):
        return
    parent = os.path.dirname(path)
    missing = []
    p = parent
    while p and not os.path.lexists(p):
        missing.append(p)
        p = os.path.dirname(p)
    os.makedirs(parent, exist_ok=True)
    if is_dir:
        os.mkdir(path)
    else:
        open(path, "a").close()
    with open(placeholders, "a") as f:
        for m in [path, *missing]:
            f.write(m + "\n")


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    # Keep our mounts out of the host namespace.
    mount("none", "/", MS_REC | MS_PRIVATE)
    for m in spec["mounts"]:  # parents before children
        src, dst = m["src"], m["dst"]
        ensure_target(dst, os.path.isdir(src), spec["placeholders"])
        mount(src, dst, MS_BIND | MS_REC)
        if m.get("readOnly"):
            mount(None, dst, MS_BIND | MS_REMOUNT | MS_RDONLY)
    os.makedirs(spec["cwd"], exist_ok=True)  # kubelet creates a missing workingDir too
    if spec.get("groups") is not None:
        os.setgroups(spec["groups"])
    if spec.get("gid") is not None:
        os.setgid(spec["gid"])
    if spec.get("uid") is not None:
        os.setuid(spec["uid"])
    if spec.get("noNewPrivs"):
        check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    os.chdir(spec["cwd"])
    argv = spec["argv"]
    try:
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as e:
        print(f"kflow-nodeagent: exec {argv[0]!r}: {e.strerror}", file=sys.stderr, flush=True)
        sys.exit(127 if e.errno == 2 else 126)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        print(f"kflow-nodeagent: container setup failed: {e}", file=sys.stderr, flush=True)
        sys.exit(128)
