#!/usr/bin/env bash
# Debian packages the real node needs on a fresh machine: libseccomp-dev (runc's seccomp, cgo),
# iptables + nftables (kube-proxy's nftables mode execs `nft`; hygiene checks), debootstrap (base
# root filesystem of the images), gcc/libc6-dev (the static pause binary), time (build reports).
set -euo pipefail
need=()
dpkg -s libseccomp-dev >/dev/null 2>&1 || need+=(libseccomp-dev)
command -v nft >/dev/null || need+=(nftables)
command -v iptables >/dev/null || need+=(iptables)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
[ -x /usr/bin/time ] || need+=(time)
if [ ${#need[@]} -gt 0 ]; then
    echo "node-packages.sh: installing ${need[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi
