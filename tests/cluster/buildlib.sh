# Shared helpers of build.sh and build-node.sh (sourced, not run).
# Needs: $out (binary dir). Defines log, modinfo, modtime, build, prepare, k8s_prepare, k8s_ldflags.
log() { echo "$(basename "$0"): $*" >&2; }

need_go() {
    if ! command -v go >/dev/null; then
        echo "$(basename "$0"): Go >= 1.26 is required (not found on PATH)" >&2
        exit 1
    fi
}

need_time() {  # /usr/bin/time is for the measurements only
    if ! [ -x /usr/bin/time ]; then
        log "installing time"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
    fi
}

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

build() {  # build NAME PACKAGE LDFLAGS [TAGS]   (run inside a module, or PACKAGE@VERSION anywhere)
    local name=$1 pkg=$2 ldflags=$3 tags=${4:-}
    log "building $name ($pkg)"
    if [[ $pkg == *@* ]]; then
        # `go install pkg@version` (modules without replace directives): no wrapper module needed.
        local gobin
        gobin=$(mktemp -d)
        /usr/bin/time -v -o "$out/time-${name//\//-}.txt" \
            env GOBIN="$gobin" go install -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" "$pkg"
        mv "$gobin/$(basename "${pkg%@*}")" "$out/$name"
        rmdir "$gobin"
    else
        /usr/bin/time -v -o "$out/time-${name//\//-}.txt" \
            go build -trimpath ${tags:+-tags "$tags"} -ldflags "-s -w $ldflags" \
            -o "$out/$name.tmp" "$pkg"
        mv "$out/$name.tmp" "$out/$name"
    fi
    log "$name: $(grep -E 'Elapsed|Maximum resident' "$out/time-${name//\//-}.txt" | tr -s ' \t' ' ' | paste -sd';')"
}

# Rewrite a wrapper module's go.mod from the pins.
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

# The Kubernetes wrapper module: every binary of the control plane AND the node, so both
# builds resolve the same dependency versions. The replace block is generated from
# k8s.io/kubernetes's own go.mod.
K8S_TOOLS="kube-apiserver kube-controller-manager kubectl kube-scheduler kubelet kube-proxy"
k8s_prepare() {  # k8s_prepare DIR
    local kdir=$1 tools=() kgodebug
    for b in $K8S_TOOLS; do tools+=("k8s.io/kubernetes/cmd/$b"); done
    prepare "$kdir" kflow.invalid/cluster-build/kubernetes "k8s.io/kubernetes@$KUBERNETES_VERSION" "${tools[@]}"
    # The main module's go/godebug lines set runtime defaults; k8s's own go.mod
    # (godebug default=go1.25) is ignored for a dependency, so repeat it here.
    kgodebug=$(sed -nE 's/^godebug[[:space:]]+(default=.*)$/\1/p' "$(modinfo "k8s.io/kubernetes@$KUBERNETES_VERSION" GoMod)")
    (cd "$kdir" && go mod edit ${kgodebug:+-godebug="$kgodebug"})
    "$here/gen-replaces.sh" "$KUBERNETES_VERSION" "$kdir" >/dev/null
    (cd "$kdir" && go mod tidy)
}

k8s_ldflags() {  # version stamps, as upstream's hack/lib/version.sh
    local kcommit kdate kmajor kminor f=""
    kcommit=$(modinfo "k8s.io/kubernetes@$KUBERNETES_VERSION" Hash)
    kdate=$(modtime "k8s.io/kubernetes@$KUBERNETES_VERSION")
    kmajor=${KUBERNETES_VERSION#v}; kmajor=${kmajor%%.*}
    kminor=${KUBERNETES_VERSION#v*.}; kminor=${kminor%%.*}
    for p in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        f+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=$kmajor -X $p.gitMinor=$kminor"
        f+=" -X $p.gitCommit=$kcommit -X $p.gitTreeState=clean -X $p.buildDate=$kdate"
    done
    echo "$f"
}
# Same tags as upstream's hack/lib/golang.sh.
K8S_TAGS=selinux,notest,grpcnotrace
