"""The real node: containerd + runc + CNI + kubelet + kube-proxy, and what it must undo on the host.

Host side effects are kept off the host or undone by `sweep()`:
* mounts: containerd, kubelet and buildkitd run in one private mount namespace held by `node-ns`
  (a `sleep` whose argv[0] names it), with a tmpfs on /run (shim sockets under /run/containerd/s,
  netns files) and the state dir bound over /var/log and /var/lib (container logs, CNI cache). When
  the last of its processes dies the namespace and every mount in it go away, also after kill -9.
* sysctls: kubelet runs in a child namespace where kernel.panic, kernel.panic_on_oops and
  vm.overcommit_memory are state files bound over /proc/sys, so it never writes the host's values;
  the CNI bridge is no gateway (we give the bridge its address), so ip_forward is not touched;
  kube-proxy's conntrack settings are 0 (= leave the kernel's); `sweep` restores any recorded value.
* processes: every node component starts in the pids cgroup /kflow-node; containers live in
  /kubepods (and BuildKit's in /buildkit): `sweep` kills everything in those and removes them.
* network: the bridge kflow0 (node address NODE_IP, pod subnet POD_CIDR) and kube-proxy's nftables
  tables are deleted; pod veths vanish with their network namespaces.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
BRIDGE = "kflow0"
CGROOT = Path("/sys/fs/cgroup")
TRACK = CGROOT / "pids" / "kflow-node"  # every node process (and its children) starts here
OWNED_CGROUPS = ("kubepods", "kflow-node", "buildkit")
NFT_TABLES = (("ip", "kube-proxy"), ("ip6", "kube-proxy"))
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"
# What kubelet insists on (it writes them unless it reads these values); served from state files.
KUBELET_SYSCTLS = {"kernel/panic": "10", "kernel/panic_on_oops": "1", "vm/overcommit_memory": "1"}
# Host sysctls a node could plausibly change: recorded before the first start, restored by `sweep`.
WATCHED_SYSCTLS = (
    "net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
    "net/netfilter/nf_conntrack_max", "net/netfilter/nf_conntrack_tcp_timeout_established",
    "net/netfilter/nf_conntrack_tcp_timeout_close_wait", "net/netfilter/nf_conntrack_tcp_be_liberal",
    "kernel/panic", "kernel/panic_on_oops", "vm/overcommit_memory", "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes", "fs/inotify/max_user_instances", "fs/inotify/max_user_watches",
    "user/max_user_namespaces", "net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter",
)
NODE_COMPONENTS = ["node-ns", "containerd", "kubelet", "kube-proxy", "local-path-provisioner"]


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def read_sysctls() -> dict[str, str]:
    out = {}
    for k in WATCHED_SYSCTLS:
        try:
            out[k] = Path("/proc/sys", k).read_text().strip()
        except OSError:
            pass
    return out


# ---------------------------------------------------------------- network


def network_up() -> None:
    if sh("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        sh("ip", "link", "add", BRIDGE, "type", "bridge")
    if NODE_IP not in sh("ip", "-4", "-o", "addr", "show", "dev", BRIDGE).stdout:
        sh("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


def track_preexec() -> None:
    """preexec_fn: the child joins /kflow-node (pids), which all its descendants inherit."""
    TRACK.mkdir(exist_ok=True)
    (TRACK / "cgroup.procs").write_text(str(os.getpid()))


# ---------------------------------------------------------------- configuration


def _yaml(path: Path, doc: dict) -> str:
    path.write_text(json.dumps(doc, indent=2) + "\n")  # JSON is YAML
    return str(path)


def write_configs(state: Path, st: dict) -> None:
    n, pki, nb, p = state / "node", state / "pki", Path(st["node_bin"]), st["ports"]
    for d in ("containerd/root", "kubelet", "cni/net.d", "cni/ipam", "log", "lib", "sysctl/kernel",
              "sysctl/vm", "local-path", "buildkit"):
        (n / d).mkdir(parents=True, exist_ok=True)
    (n / "local-path").chmod(0o755)
    for k, v in KUBELET_SYSCTLS.items():
        (n / "sysctl" / k).write_text(v + "\n")
    (n / "containerd" / "config.toml").write_text(f"""version = 3
root = "{n}/containerd/root"
state = "/run/containerd"
[grpc]
  address = "{n}/containerd.sock"
[ttrpc]
  address = "{n}/containerd.sock.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"
[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # No CAP_SYS_RESOURCE on this VM: a negative oom_score_adj cannot be written.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{nb}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{nb}/cni"]
    conf_dir = "{n}/cni/net.d"
""")
    # No isGateway: the bridge gets NODE_IP from network_up(), the pods a default route via it;
    # the plugin then neither adds the address nor turns on ip_forward.
    (n / "cni" / "net.d" / "10-kflow.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0", "name": "kflow",
        "plugins": [{"type": "bridge", "bridge": BRIDGE, "isGateway": False, "ipMasq": False,
                     "hairpinMode": True,
                     "ipam": {"type": "host-local", "dataDir": str(n / "cni" / "ipam"),
                              "ranges": [[{"subnet": POD_CIDR, "rangeStart": "10.244.0.10",
                                           "gateway": NODE_IP}]],
                              "routes": [{"dst": "0.0.0.0/0", "gw": NODE_IP}]}}],
    }, indent=2))
    kube_user = {"client-certificate": str(pki / "node.crt"), "client-key": str(pki / "node.key")}
    _kubeconfig(n / "kubelet.kubeconfig", st, kube_user)
    _yaml(n / "kubelet.yaml", {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": NODE_IP, "port": p["kubelet"], "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": p["kubelet_healthz"],
        "tlsCertFile": str(pki / "node.crt"), "tlsPrivateKeyFile": str(pki / "node.key"),
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "AlwaysAllow"},
        # cgroup v1 host (pinned by the VM's init): kubelet 1.35 refuses it unless told otherwise.
        "failCgroupV1": False, "cgroupDriver": "cgroupfs",
        "containerRuntimeEndpoint": f"unix://{n}/containerd.sock",
        "oomScoreAdj": 0, "makeIPTablesUtilChains": False, "protectKernelDefaults": False,
        "failSwapOn": False, "resolvConf": "", "clusterDomain": "cluster.local",
        "serializeImagePulls": False, "registerNode": True,
        "nodeLeaseDurationSeconds": 10, "nodeStatusUpdateFrequency": "3s",
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 99, "imageGCLowThresholdPercent": 98,
        "shutdownGracePeriod": "0s", "maxPods": 110,
    })
    _kubeconfig(n / "admin.kubeconfig", st, {"client-certificate": str(pki / "admin.crt"),
                                             "client-key": str(pki / "admin.key")})
    _yaml(n / "kube-proxy.yaml", {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "mode": "nftables", "clientConnection": {"kubeconfig": str(n / "admin.kubeconfig")},
        "hostnameOverride": st["node_name"], "bindAddress": NODE_IP, "clusterCIDR": POD_CIDR,
        "healthzBindAddress": f"127.0.0.1:{p['proxy_healthz']}",
        "metricsBindAddress": f"127.0.0.1:{p['proxy_metrics']}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # 0 = leave the kernel's conntrack settings alone (no host sysctl writes).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    })


def _kubeconfig(path: Path, st: dict, user: dict) -> None:
    pki = path.parent.parent / "pki"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "kflow", "cluster": {"server": f"https://{NODE_IP}:{st['ports']['apiserver']}",
                                                   "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "kflow", "context": {"cluster": "kflow", "user": "u"}}],
        "current-context": "kflow"}, indent=2))
    path.chmod(0o600)


def in_node_ns(st: dict) -> list[str]:
    """argv prefix entering the node's mount namespace (held by node-ns)."""
    return ["nsenter", f"--target={st['node_ns_pid']}", "--mount", "--"]


def argv_for(name: str, state: Path, st: dict) -> list[str]:
    n, nb = state / "node", Path(st["node_bin"])
    if name == "node-ns":
        script = (f"set -e; mount --make-rshared /; mount -t tmpfs -o mode=0755 kflow-run /run; "
                  f"mkdir -p /run/containerd /run/netns; mount --bind {n}/log /var/log; "
                  f"mount --bind {n}/lib /var/lib; ln -s {n}/containerd.sock /run/containerd/containerd.sock; "
                  f"exec -a kflow-node-ns sleep infinity")
        return ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", script]
    if name == "containerd":
        return [*in_node_ns(st), str(nb / "containerd"), f"--config={n}/containerd/config.toml",
                "--log-level=warn"]
    if name == "kubelet":
        # A child namespace whose /proc is a slave: the sysctl overmounts stay kubelet's own.
        binds = "; ".join(f"mount --bind {n}/sysctl/{k} /proc/sys/{k}" for k in KUBELET_SYSCTLS)
        script = (f"set -e; mount --make-rslave /proc; {binds}; exec {nb}/kubelet --config={n}/kubelet.yaml "
                  f"--kubeconfig={n}/kubelet.kubeconfig --node-ip={NODE_IP} --hostname-override={st['node_name']} "
                  f"--root-dir={n}/kubelet --cert-dir={n}/kubelet/pki --v=1")
        return [*in_node_ns(st), "unshare", "--mount", "--propagation", "unchanged", "--", "bash", "-c", script]
    if name == "kube-proxy":
        return [str(nb / "kube-proxy"), f"--config={n}/kube-proxy.yaml", "--v=1"]
    if name == "local-path-provisioner":
        return [str(nb / "local-path-provisioner"), "--debug", "start", f"--kubeconfig={n}/admin.kubeconfig",
                "--namespace=local-path-storage", "--configmap-name=local-path-config",
                f"--helper-image={st['helper_image']}",
                "--service-account-name=local-path-provisioner-service-account"]
    raise KeyError(name)


def node_ns_ready(pid: int | None) -> bool:
    """node-ns has made its mounts and exec'd its sleep. Until then its argv (which names the marker
    too) is unshare's or bash's, and an nsenter into it would land in the host's mount namespace:
    every pod mount would leak onto the host."""
    if pid is None:
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
        ours = os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        return False
    return argv0 == b"kflow-node-ns" and ours


def env_for(name: str, st: dict) -> dict:
    # containerd finds its shim (and ctr, runc) next to itself.
    return dict(os.environ, PATH=f"{st['node_bin']}:{os.environ.get('PATH', '/usr/bin:/bin')}")


# ---------------------------------------------------------------- clean-up


def _cgroup_dirs() -> list[Path]:
    """Our cgroups in every hierarchy, deepest first."""
    found = []
    for h in CGROOT.iterdir():
        for name in OWNED_CGROUPS:
            top = h / name
            if top.is_dir():
                found += [Path(r) for r, _, _ in os.walk(top)]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _pids_in(dirs: list[Path]) -> set[int]:
    pids: set[int] = set()
    for d in dirs:
        try:
            pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
        except (OSError, ValueError):
            pass
    return pids


def live_pids() -> set[int]:
    """Every process still in our cgroups (a node's daemons, shims and containers)."""
    return _pids_in(_cgroup_dirs())


def kill_all() -> None:
    """SIGKILL every process in our cgroups until none is left (containers, shims, stragglers)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pids = _pids_in(_cgroup_dirs())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)


# Where only a node's pods mount things: a mount there in the host's namespace is one the node leaked.
LEAK_PREFIXES = ("/run/containerd/io.containerd.", "/run/netns/cni-")


def unmount_leaks(state: Path) -> list[str]:
    """Lazily unmount, deepest first, what a node left in the host's mount namespace (a pod's netns
    bind mount also holds its veth alive)."""
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(LEAK_PREFIXES) or point.startswith(f"{state}/"):
            points.append(point)
    for point in sorted(set(points), key=len, reverse=True):
        sh("umount", "--lazy", point, check=False)
    return points


def sweep(baseline_sysctls: dict[str, str] | None, state: Path) -> None:
    kill_all()
    if leaked := unmount_leaks(state):
        print(f"clusterctl: unmounted {len(leaked)} mounts the node left on the host", flush=True)
    deadline = time.monotonic() + 20
    for d in _cgroup_dirs():
        while d.exists():
            try:
                d.rmdir()
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
    for family, table in NFT_TABLES:
        sh("nft", "delete", "table", family, table, check=False)
    # Pod veths go when their network namespaces are freed (asynchronously, after the processes).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and f"master {BRIDGE}" in sh("ip", "-o", "link").stdout:
        time.sleep(0.2)
    sh("ip", "link", "del", BRIDGE, check=False)
    for k, v in (baseline_sysctls or {}).items():
        try:
            if Path("/proc/sys", k).read_text().strip() != v:
                Path("/proc/sys", k).write_text(v + "\n")
        except OSError:
            pass
