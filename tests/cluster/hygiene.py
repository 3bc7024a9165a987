"""What a real node could leave on the host: a snapshot to compare before/after `make cluster-down`.

Processes are ours when their command line names the cluster's state directory (every component's
does, also containerd's shims) or they sit in one of the node's cgroups (containers);
everything else (mounts, links, nftables, iptables, watched sysctls, top-level cgroups) is the
whole host's view, so a difference is a leak whoever made it.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import nodectl


def _run(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"<{e}>"


def our_processes(state: Path) -> list[str]:
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            exe = os.readlink(d / "exe")
            cgroups = (d / "cgroup").read_text()
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if str(state) in cmd or "kflow-node-ns" in cmd or any(
                f":/{name}" in cgroups for name in nodectl.OWNED_CGROUPS):
            found.append(f"{d.name} {exe} {cmd[:200]}")
    return sorted(found)


def _mounts() -> list[str]:
    out = []
    for line in Path("/proc/1/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        out.append(f"{f[4]} {right.split()[0]} {right.split()[1]}")  # mount point, fs type, source
    return sorted(out)


def _cgroups() -> list[str]:
    root = nodectl.CGROOT
    return sorted(f"{h.name}/{c.name}" for h in root.iterdir() if h.is_dir() for c in h.iterdir() if c.is_dir())


def snapshot(state: Path) -> dict:
    links = _run("ip", "-o", "link", "show")
    return {
        "processes": our_processes(state),
        "mounts": _mounts(),
        "links": sorted(line.split(":")[1].strip().split("@")[0] for line in links.splitlines() if ":" in line),
        "nft": _run("nft", "list", "ruleset"),
        "iptables": _run("iptables-save").splitlines()[1:-1] if _run("iptables-save") else [],
        "iptables_legacy": [x for x in _run("iptables-legacy-save").splitlines() if not x.startswith("#")],
        "sysctls": nodectl.read_sysctls(),
        "cgroups": _cgroups(),
    }


def save(path: Path, snap: dict) -> None:
    path.write_text(json.dumps(snap, indent=1))


def load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def diff(before: dict, after: dict) -> dict:
    """Per aspect, what appeared (+) and disappeared (-); empty when the host is as it was."""
    out = {}
    for k in before.keys() | after.keys():
        a, b = before.get(k), after.get(k)
        if isinstance(a, dict) or isinstance(b, dict):
            a, b = a or {}, b or {}
            changed = {x: (a.get(x), b.get(x)) for x in a.keys() | b.keys() if a.get(x) != b.get(x)}
            if changed:
                out[k] = changed
        elif isinstance(a, str) or isinstance(b, str):
            if a != b:
                out[k] = {"before": a, "after": b}
        else:
            plus, minus = sorted(set(b or []) - set(a or [])), sorted(set(a or []) - set(b or []))
            if plus or minus:
                out[k] = {"+": plus, "-": minus}
    return out
