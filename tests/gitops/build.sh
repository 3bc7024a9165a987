#!/usr/bin/env bash
# Build (or reuse) Flux's source-controller and kustomize-controller from the Go module proxy.
#
# Binaries go to ${KFLOW_CACHE:-$HOME/.cache/kflow}/flux/<key>/ where <key> hashes versions.env and Go,
# so they are rebuilt only when a pin changes (the control plane's cache, bin/<key>, is untouched).
# Each controller is built as upstream builds it: its own module (go.mod + go.sum as released) is
# the main module, in a copy under the cache; only the `./api` replace of the nested API module,
# which the module zip does not contain, is pointed at the published API module of the same
# version, plus the replaces versions.env lists (modules the proxy does not serve). Builds run at nice 19: they must not slow the machine's other work.
#
# stdout: the bin directory (last line). Everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
command -v go >/dev/null || { echo "gitops/build.sh: Go is required (not found on PATH)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-p=2 -buildvcs=false -mod=mod"
cache=${KFLOW_CACHE:-$HOME/.cache/kflow}
key=$( { cat "$here/versions.env"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache/flux/$key"
log() { echo "gitops/build.sh: $*" >&2; }

if [ -f "$out/.complete" ]; then
    log "reusing $out"
    echo "$out"
    exit 0
fi
mkdir -p "$out/src"

build() {  # build NAME MODULE VERSION [REPLACE...]
    local name=$1 mod=$2 ver=$3 src dir apiver r
    shift 3
    src=$(go mod download -json "$mod@$ver" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    dir="$out/src/$name"
    rm -rf "$dir" && cp -r "$src" "$dir" && chmod -R u+w "$dir"
    apiver=$(sed -nE "s#^[[:space:]]*$mod/api (v[^ ]+).*#\1#p" "$dir/go.mod" | head -1)
    (cd "$dir" && go mod edit -dropreplace="$mod/api" -require="$mod/api@$apiver")
    for r in "$@"; do (cd "$dir" && go mod edit -replace="$r"); done
    log "building $name $ver (api $apiver, $(go env GOVERSION))"
    local t0=$SECONDS
    (cd "$dir" && nice -n 19 go build -trimpath -ldflags "-s -w" -o "$out/$name.tmp" .)
    mv "$out/$name.tmp" "$out/$name"
    log "$name built in $((SECONDS - t0)) s"
    # The CRDs this controller serves, for the tests and for `kubectl apply`.
    mkdir -p "$out/crds" && cp "$src"/config/crd/bases/*.yaml "$out/crds/"
}

# shellcheck disable=SC2086  (the replace lists are word lists)
build source-controller github.com/fluxcd/source-controller "$SOURCE_CONTROLLER_VERSION" $SOURCE_CONTROLLER_REPLACE
# shellcheck disable=SC2086
build kustomize-controller github.com/fluxcd/kustomize-controller "$KUSTOMIZE_CONTROLLER_VERSION" $KUSTOMIZE_CONTROLLER_REPLACE
chmod -R u+w "$out/crds"
rm -rf "$out/src"
cp "$here/versions.env" "$out/versions.env"
touch "$out/.complete"
log "done: $out"
echo "$out"
