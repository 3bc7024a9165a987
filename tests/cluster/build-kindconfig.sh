#!/usr/bin/env bash
# Build (or reuse) the kind config checker of build/kindconfig/ (kind's own v1alpha4 types; no Docker).
#
# The binary goes to ${KFLOW_CACHE:-$HOME/.cache/kflow}/kindconfig/<key>/kindconfig, <key> = hash of the
# module's go.mod, go.sum and main.go and the Go toolchain, as build.sh keys its binaries: rebuilt only
# when one of them changes (a cold build is a few seconds; cached, nothing runs but the hash).
# go.sum is committed and used read-only: the build never rewrites the module in git.
#
# stdout: the binary's path (last line). Everything else goes to stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src="$here/build/kindconfig"
command -v go >/dev/null || { echo "build-kindconfig.sh: Go is required (not found on PATH)" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-p=1 -buildvcs=false -mod=readonly"
cache=${KFLOW_CACHE:-$HOME/.cache/kflow}
key=$( { cat "$src/go.mod" "$src/go.sum" "$src/main.go"; go env GOVERSION GOOS GOARCH; } | sha256sum | cut -c1-16)
out="$cache/kindconfig/$key"

if [ -f "$out/.complete" ]; then
    echo "build-kindconfig.sh: reusing $out" >&2
    echo "$out/kindconfig"
    exit 0
fi
mkdir -p "$out"
echo "build-kindconfig.sh: building $out/kindconfig" >&2
(cd "$src" && nice -n 19 go build -trimpath -ldflags "-s -w" -o "$out/kindconfig.tmp" .)
mv "$out/kindconfig.tmp" "$out/kindconfig"
touch "$out/.complete"
echo "$out/kindconfig"
