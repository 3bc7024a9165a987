#!/usr/bin/env bash
# Build (or reuse) the pinned node binaries from Go modules: kubelet, kube-scheduler and
# kube-proxy (the control plane's k8s.io/kubernetes wrapper module), containerd + shim + ctr,
# runc (cgo, libseccomp), the CNI bridge/host-local/loopback plugins, BuildKit (buildkitd,
# buildctl), rancher's local-path-provisioner, and the pause binary (C, from the k8s module).
#
# Binaries go to ${KFLOW_CACHE:-$HOME/.cache/kflow}/node/<key>/, <key> = hash of
# node-versions.env + versions.env + Go toolchain: rebuilt only when a pin changes. The
# control-plane binaries of build.sh (keyed by versions.env alone) are not touched.
#
# stdout: the bin directory (last line). Everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
# shellcheck source=node-versions.env
source "$here/node-versions.env"
# shellcheck source=buildlib.sh
source "$here/buildlib.sh"
need_go
cache=${KFLOW_CACHE:-$HOME/.cache/kflow}
key=$( { cat "$here/versions.env" "$here/node-versions.env"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache/node/$key"
if [ -f "$out/.complete" ]; then
    log "reusing $out"
    echo "$out"
    exit 0
fi
need_time
"$here/node-packages.sh"
mkdir -p "$out"
export GOFLAGS="-p=2 -buildvcs=false"

hash7() { local h; h=$(modinfo "$1" Hash); echo "${h:0:12}"; }

# --- runc: cgo + seccomp (libseccomp-dev) ---------------------------------------
[ -x "$out/runc" ] || CGO_ENABLED=1 build runc "github.com/opencontainers/runc@$RUNC_VERSION" \
    "-X main.version=${RUNC_VERSION#v} -X main.gitCommit=$(hash7 "github.com/opencontainers/runc@$RUNC_VERSION")" seccomp
export CGO_ENABLED=0

# --- CNI plugins -----------------------------------------------------------------
mkdir -p "$out/cni"
for p in main/bridge ipam/host-local main/loopback; do
    n=$(basename "$p")
    [ -x "$out/cni/$n" ] || build "cni/$n" "github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION" \
        "-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION"
done

# --- containerd ----------------------------------------------------------------------
cm=github.com/containerd/containerd/v2
cldflags="-X $cm/version.Version=${CONTAINERD_VERSION#v} -X $cm/version.Revision=$(hash7 "$cm@$CONTAINERD_VERSION")"
for b in containerd containerd-shim-runc-v2 ctr; do
    [ -x "$out/$b" ] || build "$b" "$cm/cmd/$b@$CONTAINERD_VERSION" "$cldflags" no_btrfs
done

# --- pause (the sandbox image's only binary) -----------------------------------------
if ! [ -x "$out/pause" ]; then
    kmod=$(modinfo "k8s.io/kubernetes@$KUBERNETES_VERSION" Dir)
    log "building pause ($kmod/build/pause/linux/pause.c)"
    gcc -Os -static -Wall -Werror -DVERSION="${KUBERNETES_VERSION}-kflow" \
        -o "$out/pause.tmp" "$kmod/build/pause/linux/pause.c"
    strip "$out/pause.tmp"
    mv "$out/pause.tmp" "$out/pause"
fi

# --- kubelet, kube-scheduler, kube-proxy (same wrapper module as the control plane) -------
kdir="$here/build/kubernetes"
if ! [ -x "$out/kubelet" ] || ! [ -x "$out/kube-scheduler" ] || ! [ -x "$out/kube-proxy" ]; then
    k8s_prepare "$kdir"
    kldflags=$(k8s_ldflags)
    for b in kubelet kube-scheduler kube-proxy; do
        [ -x "$out/$b" ] || (cd "$kdir" && build "$b" "k8s.io/kubernetes/cmd/$b" "$kldflags" "$K8S_TAGS")
    done
fi

# --- BuildKit, local-path-provisioner ------------------------------------------------------
# BuildKit's go.mod has `exclude` directives, which `go install pkg@version` refuses: a wrapper
# module (like Kubernetes') that repeats them.
if ! [ -x "$out/buildkitd" ] || ! [ -x "$out/buildctl" ]; then
    bdir="$here/build/buildkit"
    mkdir -p "$bdir"
    prepare "$bdir" kflow.invalid/cluster-build/buildkit "github.com/moby/buildkit@$BUILDKIT_VERSION" \
        github.com/moby/buildkit/cmd/buildkitd github.com/moby/buildkit/cmd/buildctl
    bmod=$(modinfo "github.com/moby/buildkit@$BUILDKIT_VERSION" GoMod)
    excludes=$(awk '/^exclude \(/{on=1; next} on && /^\)/{on=0} on && $1 !~ /^\/\// && NF==2 {print "-exclude=" $1 "@" $2}' "$bmod")
    # shellcheck disable=SC2086
    (cd "$bdir" && { [ -z "$excludes" ] || go mod edit $excludes; } && go mod tidy)
    for b in buildkitd buildctl; do
        [ -x "$out/$b" ] || (cd "$bdir" && build "$b" "github.com/moby/buildkit/cmd/$b" \
            "-X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION")
    done
fi
[ -x "$out/local-path-provisioner" ] || build local-path-provisioner \
    "github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" \
    "-X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION"

cp "$here/versions.env" "$here/node-versions.env" "$out/"
touch "$out/.complete"
log "done: $out"
echo "$out"
