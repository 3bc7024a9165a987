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

if ! command -v go >/dev/null; then
    echo "build.sh: Go >= 1.26 is required (not found on PATH)" >&2
    exit 1
fi
cache=${KFLOW_CACHE:-$HOME/.cache/kflow}
key=$( { cat "$here/versions.env"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache/bin/$key"
log() { echo "build.sh: $*" >&2; }

if [ -f "$out/.complete" ]; then
    log "reusing $out"
    echo "$out"
    exit 0
fi

# The build itself needs only Go; /usr/bin/time is for the measurements.
if ! [ -x /usr/bin/time ]; then
    log "installing time"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
fi

mkdir -p "$out"
export CGO_ENABLED=0
# Two cores: never more than two compile/link jobs at once, one binary at a time.
export GOFLAGS="-p=2 -buildvcs=false"

modinfo() {  # modinfo MODULE@VERSION FIELD  (from `go mod download -json`)
    go mod download -json "$1" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print({'Hash': (d.get('Origin') or {}).get('Hash', ''), 'Time': ''}.get(sys.argv[1]) or d.get(sys.argv[1], ''))" "$2"
}
modtime() {  # release time of a module version, ISO 8601 (used as buildDate)
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['Time'])" \
        "$(modinfo "$1" Info)"
}

build() {  # build NAME PACKAGE LDFLAGS [TAGS]
    local name=$1 pkg=$2 ldflags=$3 tags=${4:-}
    log "building $name ($pkg)"
    /usr/bin/time -v -o "$out/time-$name.txt" \
        go build -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" \
        -o "$out/$name.tmp" "$pkg"
    mv "$out/$name.tmp" "$out/$name"
    log "$name: $(grep -E 'Elapsed|Maximum resident' "$out/time-$name.txt" | tr -s ' \t' ' ' | paste -sd';')"
}

# Rewrite a wrapper module's go.mod from the pins. The replace block of the
# kubernetes module is generated from k8s.io/kubernetes's own go.mod.
prepare() {  # prepare DIR MODULE REQUIRE@VERSION TOOL...
    local dir=$1 module=$2 req=$3
    shift 3
    log "preparing $dir"
    (
        cd "$dir"
        rm -f go.mod
        go mod init "$module" 2>/dev/null
        go mod edit -go=1.26 -require="$req"
        for t in "$@"; do go mod edit -tool="$t"; done
    )
}

# --- kubernetes -------------------------------------------------------------
kdir="$here/build/kubernetes"
prepare "$kdir" kflow.invalid/cluster-build/kubernetes "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kubectl
# The main module's go/godebug lines set runtime defaults; k8s's own go.mod
# (godebug default=go1.25) is ignored for a dependency, so repeat it here.
kgodebug=$(sed -nE 's/^godebug[[:space:]]+(default=.*)$/\1/p' "$(modinfo "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)")
(cd "$kdir" && go mod edit ${kgodebug:+-godebug="$kgodebug"})
"$here/gen-replaces.sh" "$KUBERNETES_VERSION" "$kdir" >/dev/null
(cd "$kdir" && go mod tidy)

kcommit=$(modinfo "k8s.io/kubernetes@$KUBERNETES_VERSION" Hash)
kdate=$(modtime "k8s.io/kubernetes@$KUBERNETES_VERSION")
kmajor=${KUBERNETES_VERSION#v}; kmajor=${kmajor%%.*}
kminor=${KUBERNETES_VERSION#v*.}; kminor=${kminor%%.*}
kldflags=""
for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    kldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$kmajor -X $p.gitMinor=$kminor"
    kldflags+=" -X $p.gitCommit=$kcommit -X $p.gitTreeState=clean -X $p.buildDate=$kdate"
done
# Same tags as upstream's hack/lib/golang.sh.
ktags=selinux,notest,grpcnotrace
for b in kube-apiserver kube-controller-manager kubectl; do
    (cd "$kdir" && build "$b" "k8s.io/kubernetes/cmd/$b" "$kldflags" "$ktags")
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
