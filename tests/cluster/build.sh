#!/usr/bin/env bash
# Build (or reuse) the pinned control-plane binaries from Go modules.
#
# Binaries go to ${KFLOW_CACHE:-$HOME/.cache/kflow}/bin/<key>/ where <key> is a
# hash of versions.env and the Go toolchain version, so they are rebuilt only
# when a pin changes. Go's own module and build caches (GOMODCACHE, GOCACHE)
# stay at their defaults, also outside git.
#
# Each binary is built by `/usr/bin/time -v`; its report is kept next to the
# binary as time-<name>.txt (cold-build cost, see README.md).
#
# stdout: the bin directory (last line). Everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

# shellcheck source=buildlib.sh
source "$here/buildlib.sh"
need_go
# The kind config checker of test_kind_config.py: cached apart (its own key), seconds when cold.
"$here/build-kindconfig.sh" >/dev/null
cache=${KFLOW_CACHE:-$HOME/.cache/kflow}
key=$( { cat "$here/versions.env"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache/bin/$key"

if [ -f "$out/.complete" ]; then
    log "reusing $out"
    echo "$out"
    exit 0
fi
need_time

mkdir -p "$out"
export CGO_ENABLED=0
# Two cores: never more than two compile/link jobs at once, one binary at a time.
export GOFLAGS="-p=2 -buildvcs=false"

# --- kubernetes -------------------------------------------------------------
# One wrapper module for the control plane and the node (kubelet etc. are built by build-node.sh).
kdir="$here/build/kubernetes"
k8s_prepare "$kdir"
kldflags=$(k8s_ldflags)
for b in kube-apiserver kube-controller-manager kubectl; do
    (cd "$kdir" && build "$b" "k8s.io/kubernetes/cmd/$b" "$kldflags" "$K8S_TAGS")
done

# --- etcd -------------------------------------------------------------------
edir="$here/build/etcd"
prepare "$edir" kflow.invalid/cluster-build/etcd "go.etcd.io/etcd/server/v3@$ETCD_VERSION" \
    go.etcd.io/etcd/server/v3
(cd "$edir" && go mod tidy)
# The proxy has no VCS origin for this nested module: fall back to the tag.
ecommit=$(modinfo "go.etcd.io/etcd/server/v3@$ETCD_VERSION" Hash)
ecommit=${ecommit:0:7}
(cd "$edir" && build etcd go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=${ecommit:-$ETCD_VERSION}")

# --- helm -------------------------------------------------------------------
hdir="$here/build/helm"
prepare "$hdir" kflow.invalid/cluster-build/helm "helm.sh/helm/v3@$HELM_VERSION" helm.sh/helm/v3/cmd/helm
(cd "$hdir" && go mod tidy)
hcommit=$(modinfo "helm.sh/helm/v3@$HELM_VERSION" Hash)
# Helm stamps the Kubernetes version it was built against (client-go v0.X.Y -> 1.X).
hkv=$(cd "$hdir" && go list -m -f '{{.Version}}' k8s.io/client-go)
hkminor=$(echo "$hkv" | cut -d. -f2)
hldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
hldflags+=" -X helm.sh/helm/v3/internal/version.gitCommit=$hcommit -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    hldflags+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$hkminor"
done
(cd "$hdir" && build helm helm.sh/helm/v3/cmd/helm "$hldflags")

cp "$here/versions.env" "$out/versions.env"
touch "$out/.complete"
log "done: $out"
echo "$out"
