"""Start/stop the local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and a
real node (containerd, kubelet, kube-proxy, local-path-provisioner; see nodectl.py, images.py).

usage: clusterctl.py up BIN_DIR NODE_BIN_DIR | images [REF] | down | status

State lives in <repo>/.cluster (override with KFLOW_CLUSTER_DIR). `up` is idempotent:
every component that is not running is (re)started with the ports recorded in
state.json, so it both reuses a healthy cluster and repairs one whose API server
or kubelet was killed (the resilience tests rely on that).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import controlplane
import hygiene
import images
import nodectl
from nodectl import NODE_IP

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STATE = Path(os.environ.get("KFLOW_CLUSTER_DIR", REPO / ".cluster")).resolve()
PKI = STATE / "pki"
LOGS = STATE / "logs"
PIDS = STATE / "pids"
NODE_NAME = "kflow-node"
# Start order; `down` stops in reverse.
COMPONENTS = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", *nodectl.NODE_COMPONENTS]
PORTS = ("etcd", "etcd_peer", "apiserver", "kcm", "scheduler", "kubelet", "kubelet_healthz", "proxy_healthz",
         "proxy_metrics")


def log(msg: str) -> None:
    print(f"clusterctl: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- processes


def pid_of(name: str, pids: Path = PIDS) -> int | None:
    """The component's pid if it is alive (not a zombie, same program)."""
    try:
        pid = int((pids / f"{name}.pid").read_text())
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return None
    # /proc/<pid>/cmdline can read empty for a moment (seen once, right after exec): trust the pid then.
    marker = b"kflow-node-ns" if name == "node-ns" else name.encode()
    return pid if not cmdline or marker in cmdline else None


def spawn(name: str, argv: list[str], env: dict | None = None) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    PIDS.mkdir(parents=True, exist_ok=True)
    node = name in nodectl.NODE_COMPONENTS
    with open(LOGS / f"{name}.log", "ab") as out:
        # New session: survives the calling shell/make and is not hit by its Ctrl-C. Node processes
        # start in the /kflow-node cgroup, so `down` finds whatever they leave behind.
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             cwd=STATE, env=env, start_new_session=True,
                             preexec_fn=nodectl.track_preexec if node else None)
    (PIDS / f"{name}.pid").write_text(str(p.pid))
    log(f"started {name} (pid {p.pid})")


def stop(name: str, timeout: float = 15) -> None:
    pid = pid_of(name)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_of(name) is not None:
        time.sleep(0.1)
    if pid_of(name) is not None:
        os.kill(pid, signal.SIGKILL)
    log(f"stopped {name}")


# ---------------------------------------------------------------- health


def _ssl(verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(PKI / "ca.crt"))
    ctx.load_cert_chain(PKI / "admin.crt", PKI / "admin.key")
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def http_ok(url: str, verify: bool = True) -> bool:
    try:
        ctx = _ssl(verify) if url.startswith("https") else None
        with urllib.request.urlopen(url, timeout=3, context=ctx) as r:
            return r.status == 200
    except Exception:
        return False


def _gone(name: str) -> bool:
    """Dead on two looks half a second apart (one look has been fooled by a transient /proc read)."""
    if pid_of(name) is not None:
        return False
    time.sleep(0.5)
    return pid_of(name) is None


def wait_for(what: str, check, timeout: float, name: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if name and _gone(name):
            raise SystemExit(f"clusterctl: {name} exited; see {LOGS / (name + '.log')}")
        time.sleep(0.2)
    raise SystemExit(f"clusterctl: timed out waiting for {what}")


# ---------------------------------------------------------------- components


def argv_for(name: str, st: dict) -> list[str]:
    if name in nodectl.NODE_COMPONENTS:
        return nodectl.argv_for(name, STATE, st)
    return controlplane.argv_for(name, st, STATE)


def healthy(name: str, st: dict) -> bool:
    p = st["ports"]
    if name == "etcd":
        return http_ok(f"http://127.0.0.1:{p['etcd']}/health")
    if name == "kube-apiserver":
        return http_ok(f"https://{NODE_IP}:{p['apiserver']}/readyz")
    if name == "kube-controller-manager":
        return http_ok(f"https://127.0.0.1:{p['kcm']}/healthz", verify=False)
    if name == "kube-scheduler":
        return http_ok(f"https://127.0.0.1:{p['scheduler']}/healthz", verify=False)
    if name == "containerd":
        return images.ctr(st, STATE, "version", check=False).returncode == 0
    if name == "kubelet":
        return http_ok(f"http://127.0.0.1:{p['kubelet_healthz']}/healthz")
    if name == "kube-proxy":
        return http_ok(f"http://127.0.0.1:{p['proxy_healthz']}/livez")
    if name == "node-ns":
        return nodectl.node_ns_ready(pid_of(name))
    return pid_of(name) is not None  # local-path-provisioner


def write_kubeconfig(st: dict) -> None:
    import base64

    def b64(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "kflow", "cluster": {
            "server": f"https://{NODE_IP}:{st['ports']['apiserver']}",
            "certificate-authority-data": b64(PKI / "ca.crt")}}],
        "users": [{"name": "kflow-admin", "user": {
            "client-certificate-data": b64(PKI / "admin.crt"),
            "client-key-data": b64(PKI / "admin.key")}}],
        "contexts": [{"name": "kflow", "context": {"cluster": "kflow", "user": "kflow-admin"}}],
        "current-context": "kflow",
    }
    # JSON is valid YAML; kubectl, helm and the Python client all read it.
    path = STATE / "kubeconfig"
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    path.chmod(0o600)


def write_env(st: dict) -> None:
    (STATE / "env").write_text(
        "# source me: puts the pinned kubectl/helm on PATH and points them at the local cluster\n"
        f'export PATH="{st["bin"]}:$PATH"\n'
        f'export KUBECONFIG="{STATE / "kubeconfig"}"\n'
        f'export KFLOW_CLUSTER_DIR="{STATE}"\n'
        "# the node's address: servers that pods must reach (HTTP fixtures, PostgreSQL) listen on it\n"
        f'export KFLOW_NODE_IP="{NODE_IP}"\n'
    )


def kubectl(st: dict, *args: str, stdin: str | None = None) -> str:
    return subprocess.run([str(Path(st["bin"]) / "kubectl"), f"--kubeconfig={STATE / 'kubeconfig'}", *args],
                          input=stdin, text=True, check=True, capture_output=True).stdout


def node_ready(st: dict) -> bool:
    try:
        out = kubectl(st, "get", "node", NODE_NAME, "-o",
                      'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
    except subprocess.CalledProcessError:
        return False
    return out.strip() == "True"


def default_sa(st: dict) -> bool:
    try:
        kubectl(st, "get", "serviceaccount", "default", "-n", "default", "-o", "name")
        return True
    except subprocess.CalledProcessError:
        return False


def _save(st: dict) -> None:
    (STATE / "state.json").write_text(json.dumps(st, indent=2))


OWNER = Path("/run/kflow-node.owner")  # the state directory of the checkout whose node runs here


def _owner() -> Path | None:
    try:
        return Path(OWNER.read_text().strip())
    except OSError:
        return None


def _alive(state: Path) -> bool:
    return any(pid_of(n, state / "pids") is not None for n in COMPONENTS) or bool(nodectl.live_pids())


def _other_node_running() -> str | None:
    """Only one real node fits on a host (fixed /kubepods cgroups, the kflow0 bridge).

    A checkout whose node was killed (its session ended without `make cluster-down`) leaves the owner
    file and its host side effects behind: with none of its processes left, restore the host for it
    rather than refuse every other checkout until someone runs `make cluster-down` there."""
    other = _owner()
    if other is None or other == STATE or not nodectl.TRACK.exists():
        return None
    if _alive(other):
        return str(other)
    log(f"the node of {other} died without `make cluster-down`: restoring what it left on this host")
    baseline = hygiene.load(other / "host-baseline.json")
    nodectl.sweep(baseline.get("sysctls") if baseline else None, other)
    OWNER.unlink(missing_ok=True)
    return None


def up(bin_dir: str, node_bin: str) -> None:
    t0 = time.monotonic()
    if other := _other_node_running():
        raise SystemExit(f"clusterctl: the real node of {other} runs on this host; `make cluster-down` there first")
    state_file = STATE / "state.json"
    bins = {"bin": str(Path(bin_dir).resolve()), "node_bin": str(Path(node_bin).resolve())}
    if state_file.exists():
        st = json.loads(state_file.read_text())
        if any(st.get(k) != v for k, v in bins.items()):
            log("pinned versions changed: restarting every component on the new binaries")
            for name in reversed(COMPONENTS):
                stop(name)
            st.update(bins)
    else:
        STATE.mkdir(parents=True, exist_ok=True)
        # What the host looked like before this cluster touched it: `down` restores it, a test compares.
        hygiene.save(STATE / "host-baseline.json", hygiene.snapshot(STATE))
        st = {**bins, "bootstrapped": False, "node_name": NODE_NAME, "ports": {k: free_port() for k in PORTS}}
    OWNER.write_text(str(STATE))
    if not (PKI / "ca.crt").exists():
        sys.path.insert(0, str(HERE))
        import pki

        pki.generate(PKI, NODE_NAME, NODE_IP)
    _save(st)
    write_kubeconfig(st)
    write_env(st)
    nodectl.network_up()
    started = []
    for name in COMPONENTS:
        if name in nodectl.NODE_COMPONENTS[1:]:
            st["node_ns_pid"] = pid_of("node-ns")
        if name == "kubelet":  # images first: the sandbox (pause) image must be there for the first pod
            images.ensure(STATE, st)
            _save(st)
        if name == "node-ns":
            nodectl.write_configs(STATE, st)
        if pid_of(name) is not None and healthy(name, st):
            continue
        if name == "node-ns":  # a new mount namespace: whatever ran in the old one must restart too
            for dependent in reversed(nodectl.NODE_COMPONENTS[1:]):
                stop(dependent)
        if pid_of(name) is not None:  # running but not healthy yet (e.g. just started): give it time
            try:
                wait_for(name, lambda n=name: healthy(n, st), 30, name)
                continue
            except SystemExit:
                stop(name)
        spawn(name, argv_for(name, st), nodectl.env_for(name, st) if name in nodectl.NODE_COMPONENTS else None)
        started.append(name)
        wait_for(f"{name} to become healthy", lambda n=name: healthy(n, st), 120, name)
        if name == "kube-apiserver" and not st["bootstrapped"]:
            manifest = (HERE / "manifests" / "local-path.yaml").read_text()
            manifest = manifest.replace("LOCAL_PATH_DIR", str(STATE / "node" / "local-path"))
            kubectl(st, "apply", "-f", "-", stdin=manifest.replace("HELPER_IMAGE", images.BASE_REF))
            st["bootstrapped"] = True
            _save(st)

    wait_for("node Ready", lambda: node_ready(st), 90)
    wait_for("default service account", lambda: default_sa(st), 60)
    _save(st)
    what = f"started {', '.join(started)}" if started else "reused running cluster"
    log(f"cluster up ({what}) in {time.monotonic() - t0:.1f}s; run: source {STATE / 'env'}")


def build_images(only: str | None) -> None:
    """`make image`: (re)build what is stale and load it into the running node."""
    st = json.loads((STATE / "state.json").read_text())
    if not healthy("containerd", st):
        raise SystemExit("clusterctl: the node is not running: `make cluster-up` builds and loads the images")
    st["node_ns_pid"] = pid_of("node-ns")
    images.ensure(STATE, st, only)
    _save(st)


def down() -> None:
    for name in reversed(COMPONENTS):
        stop(name)
    for pidfile in PIDS.glob("*.pid") if PIDS.is_dir() else []:  # e.g. a buildkitd of a killed build
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass
    other = _owner()
    if other not in (None, STATE) and _alive(other):
        # The host's cgroups, bridge and tables are that node's now: sweeping them would kill it.
        log(f"the node on this host is {other}'s: leaving the host as it is")
    else:
        baseline = hygiene.load(STATE / "host-baseline.json")
        nodectl.sweep(baseline.get("sysctls") if baseline else None, STATE)
    if _owner() == STATE:
        OWNER.unlink()
    if STATE.exists():
        subprocess.run(["rm", "-rf", "--one-file-system", str(STATE)], check=True)
    log("cluster down, state removed")


def status() -> int:
    st = json.loads((STATE / "state.json").read_text()) if (STATE / "state.json").exists() else None
    rc = 0
    for name in COMPONENTS:
        ok = st is not None and pid_of(name) is not None and healthy(name, st)
        rc |= not ok
        print(f"{name:26} {'healthy' if ok else 'DOWN'}")
    return rc


def main(argv: list[str]) -> int:
    if argv[:1] == ["up"] and len(argv) == 3:
        up(argv[1], argv[2])
        return 0
    if argv[:1] == ["images"] and len(argv) <= 2:
        build_images(argv[1] if len(argv) == 2 else None)
        return 0
    if argv == ["down"]:
        down()
        return 0
    if argv == ["status"]:
        return status()
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
