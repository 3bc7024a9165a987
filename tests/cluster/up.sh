#!/usr/bin/env bash
# Build what is missing (control plane, node, images) and start (or reuse / repair) the local
# cluster; see clusterctl.py. Needs root (the node: mounts, cgroups, a bridge, nftables).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
if ! "$py" -c 'import kubernetes, cryptography' 2>/dev/null; then
    echo "up.sh: $py needs the 'kubernetes' and 'cryptography' packages: run \`make setup\` first" >&2
    exit 1
fi
if [ "$(id -u)" != 0 ]; then
    echo "up.sh: the real node (containerd, kubelet) needs root" >&2
    exit 1
fi
"$here/node-packages.sh"   # Debian packages of a fresh machine (nft for kube-proxy, libseccomp-dev, ...)
bin=$("$here/build.sh" | tail -n1)
node_bin=$("$here/build-node.sh" | tail -n1)
exec "$py" "$here/clusterctl.py" up "$bin" "$node_bin"
